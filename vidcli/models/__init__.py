"""Checkpoint registry: known model files, where they come from and where they live."""
