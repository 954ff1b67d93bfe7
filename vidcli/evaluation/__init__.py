"""Metrics and reports that score runs against ground truth."""
