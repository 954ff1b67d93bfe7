"""Execute plans through Luigi (local scheduler or a central `luigid`), and report per node.

Exit codes come from what happened to each node, never from Luigi's own process exit code:
0 all done, 1 a stage failed, 2 a configuration error surfaced inside a stage, 3 an input was
missing or invalid (and nothing worse happened), 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidcli import console
from vidcli.console import log
from vidcli.devices import visible_gpu_count
from vidcli.engine.pipeline import Pipeline
from vidcli.engine.plan import UP_TO_DATE, InputPlan, build_plan, node_status, resolve_forced
from vidcli.engine.store import (
    Workspace, export_artifact, export_path, is_complete, is_done, read_manifest,
)
from vidcli.errors import (
    EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_STAGE_FAILED, EXIT_TERMINATED, EXIT_USAGE, ConfigError,
    Terminated,
)

RAN, FAILED, SKIPPED, INVALID_INPUT, INTERRUPTED = "ran", "failed", "skipped", "invalid input", "interrupted"
_EXIT_BY_KIND = {"stage": EXIT_STAGE_FAILED, "config": EXIT_USAGE, "input": EXIT_BAD_INPUT}
REDELIVERY_DELAY_S = 0.05  # a SIGTERM that Python dropped is sent again after this


@dataclass
class Outcome:
    input: str
    stage: str | None
    status: str
    detail: str = ""
    artifact: str | None = None
    seconds: float | None = None
    error_kind: str | None = None  # "input", "config" or "stage" for failures
    traceback: str | None = None  # of a failure, for -v


@dataclass
class Report:
    run_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    exit_code: int = EXIT_OK
    interrupted: bool = False
    workspace: Path | None = None
    outputs: Path | None = None
    # per input whose final stages all finished: {stage: its artifact, or its copy under `outputs`}
    finished: dict[str, dict[str, Path]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "exit_code": self.exit_code, "interrupted": self.interrupted,
                "workspace": str(self.workspace) if self.workspace else None,
                "outputs": str(self.outputs) if self.outputs else None,
                "results": [asdict(o) for o in self.outcomes],
                "finished": {label: {stage: str(path) for stage, path in finals.items()}
                             for label, finals in self.finished.items()}}


@dataclass
class RunOptions:
    """How to run a plan; the fields are those of every pipeline command's options."""

    dry_run: bool = False
    force: tuple[str, ...] = ()
    force_downstream: bool = False
    workers: int = 1
    scheduler_host: str | None = None
    scheduler_port: int = 8082
    outputs: Path | None = None  # copy each input's final artifacts to OUTPUTS/<input>/<stage>/


def run(pipeline: Pipeline, inputs: list[dict[str, Path]], workspace: Workspace,
        options: RunOptions = RunOptions()) -> Report:
    """Plan a pipeline over inputs, then run it (or only say what would run), copy the final artifacts
    to the outputs folder, and report per input and stage. What commands and benchmarks call."""
    if options.outputs and workspace.contains(options.outputs):
        raise ConfigError(f"-o {options.outputs} lies inside the workspace {workspace.root}; copying results "
                          "there would replace cached artifacts: choose a folder outside it")
    workspace.ensure_writable()
    plans = build_plan(pipeline, inputs, workspace,
                       resolve_forced(pipeline, list(options.force), options.force_downstream))
    report = dry_run(plans, workspace) if options.dry_run else run_plans(plans, workspace, options)
    report.workspace, report.outputs = workspace.root, options.outputs
    if options.dry_run:
        return report
    for plan in plans:
        finals = {node.stage: workspace.artifact(node) for node in plan.finals}
        if finals and all(is_complete(path) for path in finals.values()):
            if options.outputs:
                for node in plan.finals:
                    finals[node.stage] = export_path(options.outputs, node)
                    export_artifact(workspace.artifact(node), finals[node.stage])
            report.finished[plan.label] = finals
    return report


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def dry_run(plans: list[InputPlan], workspace: Workspace) -> Report:
    """What a run would do, per input and stage, with reasons (nothing is executed)."""
    report = Report(run_id="dry-run")
    for plan in plans:
        if plan.error:
            report.outcomes.append(Outcome(plan.label, None, INVALID_INPUT, str(plan.error)))
            continue
        for node in plan.nodes.values():
            state, reason = node_status(node, workspace)
            artifact = str(workspace.artifact(node))
            report.outcomes.append(Outcome(plan.label, node.stage, state, reason, artifact))
    report.exit_code = EXIT_BAD_INPUT if any(p.error for p in plans) else EXIT_OK
    return report


def run_plans(plans: list[InputPlan], workspace: Workspace, options: RunOptions) -> Report:
    """Build every valid input's nodes in one Luigi build; inputs that fail do not stop the others."""
    from vidcli.engine.tasks import StageTask, task_scope

    run_id = new_run_id()
    report = Report(run_id=run_id)
    roots = []
    for plan in plans:
        for node in plan.nodes.values():
            if node.force or node.stage in plan.final_stages:
                roots.append(StageTask(artifact=node.rel, scope=task_scope(workspace.id, node.force, run_id),
                                       workspace=str(workspace.root), node=node.to_dict(), run_id=run_id))
    _configure_luigi()
    luigi_ok, stopped_by = True, None
    try:
        with sigterm_as_interrupt():
            if roots:
                luigi_ok = _build_until_settled(roots, options)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as Terminated
        report.interrupted = True
        stopped_by = EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    report.outcomes = _collect(plans, workspace, run_id, report.interrupted)
    report.exit_code = stopped_by or _exit_code(report.outcomes)
    if report.exit_code == EXIT_OK and not luigi_ok:
        report.exit_code = EXIT_STAGE_FAILED  # Luigi saw a failure that no stage recorded
    if report.exit_code == EXIT_OK:
        shutil.rmtree(workspace.run_dir(run_id), ignore_errors=True)
    return report


@contextlib.contextmanager
def sigterm_as_interrupt():
    """While a plan runs, SIGTERM raises `Terminated` (a KeyboardInterrupt) in this process, so it gets
    Ctrl-C's cleanup and summary. Luigi's task processes, forked from it, inherit the handler: there
    it raises SystemExit, which unwinds the stage (its temporary folder and lock are removed) and
    ends the process without a traceback. Task processes also get SIGTERM when this process dies,
    even by SIGKILL (see `StageTask.run`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    parent = os.getpid()

    def terminate(_signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not cut the cleanup short
        if os.getpid() != parent:
            raise SystemExit(EXIT_TERMINATED)
        raise Terminated()

    def deliver_again(unraisable) -> None:
        """Python drops an exception raised where it cannot propagate (a signal handled during the
        callbacks that run after a fork, for instance): a termination dropped there comes again a moment
        later, from outside the callback."""
        dropped = unraisable.exc_value
        in_task = os.getpid() != parent
        if isinstance(dropped, Terminated) or (
                in_task and isinstance(dropped, SystemExit) and dropped.code == EXIT_TERMINATED):
            signal.signal(signal.SIGTERM, terminate)
            redelivery.append(threading.Timer(REDELIVERY_DELAY_S, os.kill, (os.getpid(), signal.SIGTERM)))
            redelivery[-1].start()
        else:
            previous_hook(unraisable)

    redelivery: list[threading.Timer] = []
    previous, previous_hook = signal.signal(signal.SIGTERM, terminate), sys.unraisablehook
    sys.unraisablehook = deliver_again
    try:
        yield
    finally:
        for timer in redelivery:
            timer.cancel()
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook


def _build_until_settled(roots: list, options: RunOptions) -> bool:
    """Run Luigi builds until nothing this run needs is left to another worker.

    With a central scheduler, Luigi's worker exits when the only tasks left are running in other
    workers, or waiting for a worker that is between two tasks. This waits for running ones, and
    builds again as long as a build (or the wait) leaves fewer tasks incomplete, so every process
    reports a finished plan. Returns False if Luigi reported a failure or a scheduling error.
    """
    import luigi
    from luigi.execution_summary import LuigiStatusCode
    from luigi.rpc import RemoteScheduler

    failed = (LuigiStatusCode.FAILED, LuigiStatusCode.FAILED_AND_SCHEDULING_FAILED,
              LuigiStatusCode.SCHEDULING_FAILED)
    tasks = _all_tasks(roots)

    def incomplete() -> set[str]:
        return {t.task_id for t in tasks if not t.complete()}

    left = incomplete() if options.scheduler_host else set()  # only the central scheduler's rounds use it
    while True:
        result = luigi.build(roots, workers=options.workers, local_scheduler=options.scheduler_host is None,
                             scheduler_host=options.scheduler_host or "localhost",
                             scheduler_port=options.scheduler_port, detailed_summary=True)
        if options.scheduler_host is None or result.status in failed:
            return result.status not in failed
        scheduler = RemoteScheduler(f"http://{options.scheduler_host}:{options.scheduler_port}/")
        before, left = left, incomplete()
        while running := left & set(scheduler.task_list("RUNNING", "")):
            log.info("waiting for %d task(s) running in other workers", len(running))
            time.sleep(1.0)
            left = incomplete()
        if not left or len(left) >= len(before):
            return True


def _all_tasks(roots: list) -> list:
    """Roots and everything they require, each once."""
    seen, stack = {}, list(roots)
    while stack:
        task = stack.pop()
        if task.task_id not in seen:
            seen[task.task_id] = task
            stack.extend(task.requires().values())
    return list(seen.values())


def _configure_luigi() -> None:
    import luigi.configuration

    config = luigi.configuration.get_config()
    config.set("core", "no_configure_logging", "true")  # vidcli's handlers below are the only ones
    config.set("resources", "gpu", str(max(1, visible_gpu_count())))
    level = logging.INFO if console.verbosity() >= 2 else logging.CRITICAL + 1
    for name in ("luigi", "luigi-interface", "luigi.scheduler"):
        logger = logging.getLogger(name)
        logger.handlers[:] = console.log.handlers
        logger.setLevel(level)
        logger.propagate = False


def _collect(plans: list[InputPlan], workspace: Workspace, run_id: str, interrupted: bool) -> list[Outcome]:
    from vidcli.engine.tasks import read_failure

    outcomes = []
    for plan in plans:
        if plan.error:
            outcomes.append(Outcome(plan.label, None, INVALID_INPUT, str(plan.error)))
            continue
        for node in plan.nodes.values():
            path = workspace.artifact(node)
            failure = read_failure(workspace, run_id, node.rel)
            if failure:
                outcomes.append(Outcome(plan.label, node.stage, FAILED, failure["message"], str(path),
                                        error_kind=failure["kind"], traceback=failure.get("traceback")))
                continue
            manifest = read_manifest(path) if is_complete(path) else {}
            if manifest.get("run_id") == run_id:
                outcomes.append(Outcome(plan.label, node.stage, RAN, "", str(path), manifest["seconds"]))
            elif manifest and not node.force:
                outcomes.append(Outcome(plan.label, node.stage, UP_TO_DATE, "", str(path)))
            elif interrupted:
                outcomes.append(Outcome(plan.label, node.stage, INTERRUPTED, "stopped before it finished"))
            else:
                why = _why_not_run(node, workspace, run_id)
                outcomes.append(Outcome(plan.label, node.stage, SKIPPED, why))
    return outcomes


def _why_not_run(node, workspace: Workspace, run_id: str) -> str:
    """Why a node neither ran nor failed: an upstream stage did not finish, or the scheduler never handed
    it to a worker of this run (a central scheduler that lost or refused it)."""
    upstream_done = all(is_done(workspace.artifact(up), up.force, run_id) for up in node.upstream.values())
    if not upstream_done:
        return "did not run: an upstream stage did not finish"
    return "did not run: the scheduler never gave it to a worker of this run (see luigid's log)"


def _exit_code(outcomes: list[Outcome]) -> int:
    """The most serious failure decides; nodes skipped behind a failure add nothing of their own."""
    codes = set()
    for label in dict.fromkeys(o.input for o in outcomes):
        mine = [o for o in outcomes if o.input == label]
        failed = [o for o in mine if o.status == FAILED]
        if any(o.status == INVALID_INPUT for o in mine):
            codes.add(EXIT_BAD_INPUT)
        elif failed:
            codes.update(_EXIT_BY_KIND[o.error_kind] for o in failed)
        elif any(o.status == SKIPPED for o in mine):
            codes.add(EXIT_STAGE_FAILED)
    for code in (EXIT_STAGE_FAILED, EXIT_USAGE, EXIT_BAD_INPUT):
        if code in codes:
            return code
    return EXIT_OK
