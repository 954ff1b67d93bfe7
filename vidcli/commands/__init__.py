"""Click commands other than the engine's own, registered in vidcli.cli."""
