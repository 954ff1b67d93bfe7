"""Model code: the checkpoint registry and the optical-flow estimators."""
