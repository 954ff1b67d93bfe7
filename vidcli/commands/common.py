"""What the commands share: click settings, global options, and running a pipeline with a report."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vidcli import console
from vidcli.errors import EXIT_TERMINATED, ConfigError, with_prefix

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Results on stdout: folded to a terminal's width, but piped as wide as the rows are, so that hashes,
# paths and URLs reach scripts whole (rich would fold them to 80 columns).
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 10_000)


@dataclass
class Globals:
    workspace: Path
    workspace_given: bool
    verbosity: int
    as_json: bool


OVERRIDES = "vidcli.overrides"  # click context meta key: {stage: {field: value}} from dedicated options


set_option = click.option(
    "--set", "assignments", multiple=True, metavar="STAGE.FIELD=VALUE",
    help="Change any stage setting (repeatable); `vidcli settings PIPELINE` lists them.")


def run_options(func):
    """Options shared by every command that runs a pipeline."""
    options = [
        set_option,
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


def setting_option(flag: str, *targets: str, **extra):
    """A dedicated command-line option for stage settings ("stage.field"): its type, range, help and
    default come from the setting's declaration. Several targets take one value each; a `multiple`
    option fills a comma-separated text setting; `extra` may narrow the click type."""
    from vidcli.engine.stage import load_stage
    from vidcli.settings import settings_of

    infos = []
    for target in targets:
        stage, field = target.split(".")
        infos.append((stage, settings_of(load_stage(stage).Config)[field]))
    types = [_click_type(info) for _, info in infos]
    docs = "; ".join(info.doc for _, info in infos)
    defaults = " ".join(str(info.default) for _, info in infos)

    def store(ctx, _param, value):
        if value is None or value == ():
            return
        if extra.get("multiple"):  # a repeated option fills one comma-separated text setting
            value = ",".join(str(item) for item in value)
        values = value if len(infos) > 1 else (value,)
        for (stage, info), item in zip(infos, values):
            ctx.meta.setdefault(OVERRIDES, {}).setdefault(stage, {})[info.name] = item

    kind = {"type": tuple(types)} if len(types) > 1 else {"type": types[0]}
    if len(infos) == 1 and infos[0][1].type is bool:
        kind = {"is_flag": True, "flag_value": not infos[0][1].default}
    repeat = " Repeatable." if extra.get("multiple") else ""
    help_text = f"{docs[:1].upper()}{docs[1:]} [default: {defaults}].{repeat}"
    return click.option(flag, default=None, expose_value=False, callback=store, help=help_text,
                        **{**kind, **extra})


def _click_type(info):
    if info.choices:
        return click.Choice(list(info.choices))
    if info.bounds and info.type in (int, float):
        bounds = info.bounds
        low = None if bounds.low == float("-inf") else info.type(bounds.low)
        high = None if bounds.high == float("inf") else info.type(bounds.high)
        if info.type is int:
            return click.IntRange(low, high, min_open=bounds.low_open, max_open=bounds.high_open)
        return click.FloatRange(low, high, min_open=bounds.low_open, max_open=bounds.high_open)
    return info.type


def command_pipeline(name: str, assignments=()):
    """A built-in pipeline with the command's dedicated options, then `--set` assignments, applied."""
    from vidcli.engine.pipeline import load_pipeline

    return load_pipeline(name, click.get_current_context().meta.get(OVERRIDES, {}), list(assignments))


def is_torchrun_follower() -> bool:
    """A torchrun process other than 0: it trains its share of each batch; process 0 writes the artifact."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) > 0


def follow_training(g: Globals, stage: str, inputs: dict, assignments, train_share) -> None:
    """A torchrun process other than 0: plan `stage` as process 0 does, then train its share without writing,
    `train_share(config, resume_dir)`, unless the artifact is complete already."""
    from vidcli.engine.plan import build_plan
    from vidcli.engine.stage import load_stage
    from vidcli.engine.store import Workspace, is_complete, resume_dir

    workspace = Workspace(g.workspace)
    plan = build_plan(command_pipeline(stage, assignments), [inputs], workspace)[0]
    if plan.error:
        raise plan.error
    node = plan.nodes[stage]
    final = workspace.root / node.rel
    if not is_complete(final):
        train_share(load_stage(stage).Config(**node.config), resume_dir(final.parent, node.key))


def run_pipeline(g: Globals, pipeline, inputs, *, dry_run, force, force_downstream, workers, scheduler_host,
                 scheduler_port, assignments=(), workspace: Path | None = None, outputs: Path | None = None,
                 deliver: Callable[[dict[str, Path]], str | None] | None = None) -> None:
    """Run a pipeline (a name: the built-in one with the command's options; or a loaded Pipeline) over
    inputs, print the report and exit with its code.

    `deliver` receives the final artifacts ({stage: directory}) of each input whose final stages all
    completed, to put the result where the user asked; it may return a line for the user.
    """
    from vidcli.engine import RunOptions, run
    from vidcli.engine.store import Workspace

    if isinstance(pipeline, str):
        pipeline = command_pipeline(pipeline, assignments)
    root = g.workspace if (g.workspace_given or workspace is None) else workspace
    options = RunOptions(dry_run, tuple(force), force_downstream, workers or 1, scheduler_host,
                         scheduler_port, outputs)
    report = run(pipeline, inputs, Workspace(root), options)
    lines = [deliver(finals) for finals in report.finished.values()] if deliver else []
    _print_report(g, report)
    for line in lines:
        if line and not g.as_json:
            stdout.print(line, markup=False)
    sys.exit(report.exit_code)


def _print_report(g: Globals, report) -> None:
    for o in report.outcomes:
        if o.status in ("failed", "invalid input"):
            detail = with_prefix(o.stage, o.detail) if o.stage else o.detail
            if o.traceback and g.verbosity >= 1:
                console.console.print(o.traceback, markup=False)
            console.error(with_prefix(Path(o.input).name if o.stage else o.input, detail))
    if g.as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    if g.verbosity < 0 and report.exit_code == 0:
        return
    colours = {"ran": "green", "up to date": "dim", "would run": "yellow", "failed": "red",
               "skipped": "red", "invalid input": "red", "interrupted": "red"}
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("input", "stage", "status", "detail", "artifact"):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        colour = colours.get(o.status, "")
        status = f"[{colour}]{o.status}[/]" if colour else o.status
        detail = o.detail if o.seconds is None else (o.detail or f"{o.seconds:.1f} s")
        artifact = str(Path(o.artifact).relative_to(report.workspace)) if o.artifact else ""
        table.add_row(Text(Path(o.input).name), o.stage or "-", status, Text(detail), Text(artifact))
    stdout.print(table)
    outputs = f"   outputs: {report.outputs}" if report.outputs else ""
    stdout.print(f"workspace: {report.workspace}{outputs}", markup=False)
    if report.interrupted:
        how = "terminated" if report.exit_code == EXIT_TERMINATED else "interrupted"
        stdout.print(f"[red]{how}[/]: finished artifacts are kept; rerun to continue")


def check_mp4_output(output: Path) -> None:
    """Refuse, before any stage runs, an output video that is not an .mp4 in an existing folder."""
    if output.suffix.lower() != ".mp4":
        raise ConfigError(f"{output}: the output must be an .mp4 file")
    if not output.resolve().parent.is_dir():
        raise ConfigError(f"{output.parent}: no such directory for the output")


def copy_video_to(output: Path | None, stage: str, filename: str) -> Callable[[dict], str] | None:
    """A `deliver` that copies a stage's finished video to `output` (checked now) through a partial file,
    so that an interrupted copy never looks complete; None without an output."""
    if output is None:
        return None
    check_mp4_output(output)

    def deliver(artifacts: dict[str, Path]) -> str:
        partial = output.with_name(f".{output.name}.partial")
        shutil.copyfile(artifacts[stage] / filename, partial)
        os.replace(partial, output)
        return f"wrote {output}"

    return deliver
