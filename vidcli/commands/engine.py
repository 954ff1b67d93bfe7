"""`vidcli run`, `vidcli plan` and `vidcli clean`: workflows and the workspace."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, run_options, run_pipeline, set_option, stdout
from vidcli.console import console
from vidcli.errors import ConfigError


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
@click.option("--superseded", is_flag=True,
              help="Also delete all but the newest artifact of each stage and input, keeping what it reads.")
@click.option("--all", "everything", is_flag=True, help="Delete the whole workspace (asks unless --yes).")
@click.option("--yes", is_flag=True, help="Do not ask before --all.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.pass_obj
def clean(g: Globals, superseded, everything, yes, dry_run):
    """Delete leftovers of interrupted runs: temporary and trash directories of dead processes, lock files
    no process holds, and failure records of runs older than an hour.

    Only a folder that vidcli made a workspace (it holds .vidcli/workspace.json) is cleaned, and
    symbolic links are never followed.
    """
    from vidcli.engine.store import Workspace

    ws = Workspace(g.workspace)
    if not ws.root.is_dir():
        console.print(f"nothing to clean: {ws.root} does not exist", markup=False)
        return
    if not ws.is_marked:
        raise ConfigError(f"{ws.root} is not a vidcli workspace (it has no .vidcli/workspace.json); "
                          "nothing was deleted")
    if everything:
        if not dry_run and not yes:
            click.confirm(f"delete the whole workspace {ws.root}?", abort=True)
        victims = [ws.root]
    else:
        victims = _leftovers(ws, superseded)
    freed = sum(_size(v) for v in victims)
    for victim in victims:
        stdout.print(("would delete " if dry_run else "deleted ") + str(victim), markup=False)
        if not dry_run:
            _delete(victim)
    stdout.print(f"{len(victims)} entries, {freed / 1e6:.1f} MB" + (" (dry run)" if dry_run else " freed"))


def _leftovers(ws, superseded: bool) -> list[Path]:
    """What `clean` deletes inside a workspace; with `superseded`, older artifacts that no kept artifact
    reads (the newest of each stage is kept, and so is every artifact it reads, transitively)."""
    from vidcli.engine.store import complete_artifacts, read_manifest, real_dirs, stale_leftovers, stale_locks

    victims, older, keep = [], [], []
    for input_dir in ws.input_dirs():
        for stage_dir in sorted(real_dirs(input_dir)):
            victims += stale_leftovers(stage_dir) + stale_locks(stage_dir)
            found = complete_artifacts(stage_dir)
            keep += found[-1:]
            older += found[:-1]
    if superseded:
        kept, stack = set(), list(keep)
        while stack:
            artifact = stack.pop()
            if artifact not in kept:
                kept.add(artifact)
                reads = read_manifest(artifact).get("upstream", {}).values()
                stack += [ws.root / rel for rel in reads if not rel.startswith("source:")]
        victims += [artifact for artifact in older if artifact not in kept]
    hour_ago = time.time() - 3600
    victims += [d for d in sorted(real_dirs(ws.runs_dir)) if d.lstat().st_mtime < hour_ago]
    return victims


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _size(path: Path) -> int:
    """Bytes under `path`, not following symbolic links, skipping what cannot be read."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size if path.exists() else 0
    total = 0
    for folder, _dirs, files in os.walk(path, onerror=lambda _error: None):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total
