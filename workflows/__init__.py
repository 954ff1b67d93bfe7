"""Built-in pipeline definitions (YAML files shipped as package data)."""
