"""What the commands share: click settings, global options, and running a pipeline with a report."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
from rich.console import Console
from rich.table import Table

from vidcli import console

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
stdout = Console(highlight=False, soft_wrap=True)


@dataclass
class Globals:
    workspace: Path
    workspace_given: bool
    verbosity: int
    as_json: bool


def run_options(func):
    """Options shared by every command that runs a pipeline."""
    options = [
        click.option("--dry-run", is_flag=True, help="Show what would run and why; run nothing."),
        click.option("--force", "force", multiple=True, metavar="STAGE", help="Rerun STAGE even if cached."),
        click.option("--force-downstream", is_flag=True, help="With --force: also rerun every stage after it."),
        click.option("--workers", type=click.IntRange(1), default=None, help="Parallel Luigi workers [default: 1]."),
        click.option("--scheduler-host", default=None, help="Use the luigid central scheduler on this host."),
        click.option("--scheduler-port", type=click.IntRange(1, 65535), default=8082, show_default=True,
                     help="Port of the luigid central scheduler."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def given(**settings) -> dict:
    """The settings a user gave on the command line (click leaves the others None)."""
    return {name: value for name, value in settings.items() if value is not None}


def run_pipeline(g: Globals, pipeline, inputs, *, dry_run, force, force_downstream, workers, scheduler_host,
                 scheduler_port, workspace: Path | None = None, outputs: Path | None = None,
                 deliver: Callable[[dict[str, Path]], None] | None = None) -> None:
    """Plan a pipeline over inputs, then show the plan or run it; exits with the report's code.

    After a run, `deliver` receives the final artifacts ({stage: directory}) of each input whose final
    stages all completed, for a command to copy its result where the user asked.
    """
    from vidcli.engine.plan import build_plan, resolve_forced
    from vidcli.engine.runner import RunOptions, dry_run as plan_only, run_plans
    from vidcli.engine.store import Workspace, export_artifact, is_complete

    root = g.workspace if (g.workspace_given or workspace is None) else workspace
    ws = Workspace(root)
    ws.ensure_writable()
    plans = build_plan(pipeline, inputs, ws, resolve_forced(pipeline, list(force), force_downstream))
    if dry_run:
        report = plan_only(plans, ws)
    else:
        options = RunOptions(workers or 1, scheduler_host, scheduler_port)
        report = run_plans(plans, ws, options)
        if outputs:
            for plan in plans:
                if plan.error:
                    continue
                for stage in pipeline.final_stages:
                    artifact = ws.root / plan.nodes[stage].rel
                    if artifact.is_dir():
                        export_artifact(artifact, outputs / plan.nodes[stage].input_dir / stage)
        if deliver:
            for plan in plans:
                finals = {} if plan.error else {s: ws.root / plan.nodes[s].rel for s in pipeline.final_stages}
                if finals and all(is_complete(path) for path in finals.values()):
                    deliver(finals)
    _print_report(g, report, ws, outputs)
    sys.exit(report.exit_code)


def _print_report(g: Globals, report, ws, outputs) -> None:
    for o in report.outcomes:
        if o.status in ("failed", "invalid input"):
            where = f"{Path(o.input).name}: {o.stage}" if o.stage else o.input
            console.console.print(f"[bold red]error:[/] {where}: {o.detail}")
    if g.as_json:
        payload = report.to_json() | {"workspace": str(ws.root), "outputs": str(outputs) if outputs else None}
        click.echo(json.dumps(payload, indent=2))
        return
    if g.verbosity < 0 and report.exit_code == 0:
        return
    colours = {"ran": "green", "up to date": "dim", "would run": "yellow", "failed": "red",
               "skipped": "red", "invalid input": "red"}
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("input", "stage", "status", "detail", "artifact"):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        colour = colours.get(o.status, "")
        status = f"[{colour}]{o.status}[/]" if colour else o.status
        detail = o.detail if o.seconds is None else (o.detail or f"{o.seconds:.1f} s")
        artifact = str(Path(o.artifact).relative_to(ws.root)) if o.artifact else ""
        table.add_row(Path(o.input).name, o.stage or "-", status, detail, artifact)
    stdout.print(table)
    stdout.print(f"workspace: {ws.root}" + (f"   outputs: {outputs}" if outputs else ""))
    if report.interrupted:
        stdout.print("[red]interrupted[/]: finished artifacts are kept; rerun to continue")
