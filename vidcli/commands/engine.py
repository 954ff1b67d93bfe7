"""`vidcli run`, `vidcli plan` and `vidcli clean`: workflows and the workspace."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, run_options, run_pipeline, set_option, stdout
from vidcli.console import console


def _workflow_arg(func):
    return click.argument("workflow", type=click.Path(exists=True, dir_okay=False, path_type=Path))(func)


@click.command(context_settings=CONTEXT, epilog="Example: vidcli run examples/batch.yaml --workers 2")
@_workflow_arg
@run_options
@click.pass_obj
def run(g: Globals, workflow, assignments, workers, **run):
    """Run a workflow file: one pipeline over folders or lists of videos, as one Luigi build.

    A bad input fails alone; the others complete, and the summary and exit code say which.
    """
    from vidcli.workflow import load_workflow

    wf = load_workflow(workflow, assignments)
    run_pipeline(g, wf.pipeline, wf.inputs, workers=workers or wf.workers, workspace=wf.workspace,
                 outputs=wf.outputs, **run)


@click.command(context_settings=CONTEXT, epilog="Example: vidcli plan examples/batch.yaml --force flow")
@_workflow_arg
@click.option("--force", "force", multiple=True, metavar="STAGE", help="Plan STAGE as forced.")
@click.option("--force-downstream", is_flag=True, help="With --force: also every stage after it.")
@set_option
@click.pass_obj
def plan(g: Globals, workflow, force, force_downstream, assignments):
    """Show, per input and stage, "up to date" or "would run" with the reason; run nothing."""
    from vidcli.workflow import load_workflow

    wf = load_workflow(workflow, assignments)
    run_pipeline(g, wf.pipeline, wf.inputs, dry_run=True, force=force, force_downstream=force_downstream,
                 workers=None, scheduler_host=None, scheduler_port=8082, workspace=wf.workspace)


@click.command(context_settings=CONTEXT, epilog="Example: vidcli clean --superseded --dry-run")
@click.option("--superseded", is_flag=True, help="Also delete all but the newest artifact of each stage and input.")
@click.option("--all", "everything", is_flag=True, help="Delete the whole workspace (asks unless --yes).")
@click.option("--yes", is_flag=True, help="Do not ask before --all.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.pass_obj
def clean(g: Globals, superseded, everything, yes, dry_run):
    """Delete leftovers of interrupted runs: temporary and trash directories of dead processes, and
    failure records of runs older than an hour."""
    from vidcli.engine.store import Workspace, complete_artifacts, stale_leftovers

    ws = Workspace(g.workspace)
    if not ws.root.is_dir():
        console.print(f"nothing to clean: {ws.root} does not exist", markup=False)
        return
    if everything:
        if not dry_run and not yes:
            click.confirm(f"delete the whole workspace {ws.root}?", abort=True)
        victims = [ws.root]
    else:
        victims = []
        for input_dir in ws.input_dirs():
            for stage_dir in sorted(p for p in input_dir.iterdir() if p.is_dir()):
                victims += stale_leftovers(stage_dir)
                if superseded:
                    victims += complete_artifacts(stage_dir)[:-1]
        hour_ago = time.time() - 3600
        victims += [d for d in sorted(ws.runs_dir.glob("*")) if d.stat().st_mtime < hour_ago]
    freed = sum(_size(v) for v in victims)
    for victim in victims:
        stdout.print(("would delete " if dry_run else "deleted ") + str(victim), markup=False)
        if not dry_run:
            shutil.rmtree(victim, ignore_errors=True)
    stdout.print(f"{len(victims)} entries, {freed / 1e6:.1f} MB" + (" (dry run)" if dry_run else " freed"))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0
