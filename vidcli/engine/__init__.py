"""The cached-stage engine: stage contract, artifact keys and store, plans, Luigi tasks and runner.

`run(pipeline, inputs, workspace, options) -> Report` is the one entry point: commands print its
report, benchmarks and tests read it.
"""

from vidcli.engine.runner import Report, RunOptions, run

__all__ = ["Report", "RunOptions", "run"]
