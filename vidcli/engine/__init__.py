"""The cached-stage engine: stage contract, artifact keys and store, plans, Luigi tasks and runner."""
