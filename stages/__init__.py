"""Pipeline stages: one module per stage, each following vidcli.engine.stage's contract."""
