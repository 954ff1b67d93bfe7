"""Training of learned components: optical-flow datasets, generated flow pairs and RAFT's recipe."""
