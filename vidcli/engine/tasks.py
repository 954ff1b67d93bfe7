"""The one generic Luigi task around every stage.

Its identity is the artifact path relative to the workspace, which already encodes stage, version,
significant config and upstream keys, and its scope: the workspace's random id, and for a forced node
also the run's id. So workers on several machines that build the same plan agree on task ids without
sharing anything but the workspace, while a central scheduler never confuses two workspaces, a
workspace deleted and made again, or two forced runs (luigid ignores a task added again as pending
within 10 s of finishing, `stable_done_cooldown_secs`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path

import luigi

from vidcli.engine.executor import execute
from vidcli.engine.plan import Node
from vidcli.engine.store import Workspace, is_done
from vidcli.errors import EXIT_TERMINATED, VidcliError


class StageTask(luigi.Task):
    artifact = luigi.Parameter(description="artifact directory relative to the workspace")
    scope = luigi.Parameter(description="the workspace id, and for a forced node '/' and the run id")
    workspace = luigi.Parameter(significant=False, description="workspace root")
    node = luigi.DictParameter(significant=False, description="the plan node (see vidcli.engine.plan.Node)")
    run_id = luigi.Parameter(significant=False, description="id of the vidcli run that scheduled it")

    @property
    def resources(self):
        return dict(self.node["resources"])

    def requires(self):
        return {
            port: StageTask(artifact=f"{up['input_dir']}/{up['stage']}/{up['key']}",
                            scope=task_scope(self.scope.split("/")[0], up["force"], self.run_id),
                            workspace=self.workspace, node=up, run_id=self.run_id)
            for port, up in self.node["upstream"].items()
        }

    def complete(self):
        return is_done(Path(self.workspace) / self.artifact, self.node["force"], self.run_id)

    def run(self):
        end_with_parent()
        workspace = Workspace(Path(self.workspace))
        try:
            execute(Node.from_dict(self.node), workspace, self.run_id)
        except Exception as exc:
            record_failure(workspace, self.run_id, self.artifact, exc)
            raise


_SCHEDULING_PID = os.getpid()  # the vidcli process; Luigi forks task processes from it (--workers > 1)


def end_with_parent() -> None:
    """In a task process forked by Luigi, ask Linux for SIGTERM when the parent dies (even by SIGKILL),
    so that no stage runs on unattended; SIGTERM there unwinds the stage (see `sigterm_as_interrupt`)."""
    if os.getpid() == _SCHEDULING_PID or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != _SCHEDULING_PID:  # the parent died before the request was made
        raise SystemExit(EXIT_TERMINATED)


def task_scope(workspace_id: str, force: bool, run_id: str) -> str:
    return f"{workspace_id}/{run_id}" if force else workspace_id


def failure_path(workspace: Workspace, run_id: str, artifact: str) -> Path:
    return workspace.run_dir(run_id) / "failures" / (re.sub(r"[^A-Za-z0-9_.-]", "_", artifact) + ".json")


def record_failure(workspace: Workspace, run_id: str, artifact: str, exc: Exception) -> None:
    """Leave the failure's kind and one-line message where the scheduling process finds it."""
    kind = exc.kind if isinstance(exc, VidcliError) else "stage"
    message = str(exc) if isinstance(exc, VidcliError) else f"{type(exc).__name__}: {exc}"
    path = failure_path(workspace, run_id, artifact)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"artifact": artifact, "kind": kind, "message": message.splitlines()[0] if message else kind,
              "traceback": traceback.format_exc()}
    path.write_text(json.dumps(record, indent=2))


def read_failure(workspace: Workspace, run_id: str, artifact: str) -> dict | None:
    path = failure_path(workspace, run_id, artifact)
    return json.loads(path.read_text()) if path.is_file() else None
