"""Embedded motion capture: body fitting, world-frame optimisation, exports."""
