"""`vidcli eval RUN GT`: score a run's artifacts against synthetic ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vidcli.console import console, verbosity
from vidcli.errors import ConfigError


def default_json_path(run: Path) -> Path:
    """`<RUN>.eval.json` beside RUN, so that a workspace input directory or GT folder stays untouched."""
    run = run.absolute()
    return run.with_name(f"{run.name}.eval.json")


@click.command("eval", epilog="Example: vidcli eval vidcli-work/walk-1a2b3c4d walk.mp4.gt")
@click.argument("run", type=click.Path(path_type=Path))
@click.argument("gt", type=click.Path(path_type=Path))
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write every metric as JSON  [default: RUN.eval.json beside RUN].")
@click.option("--window", type=click.IntRange(min=2), default=100, show_default=True,
              help="Frames per window of WA-MPJPE and W-MPJPE (the EMDB protocol uses 100).")
@click.pass_context
def eval_command(ctx: click.Context, run: Path, gt: Path, json_out: Path | None, window: int) -> None:
    """Score RUN against the ground-truth folder GT; print a table and write the metrics as JSON.

    RUN is a workspace input directory (<workspace>/<stem>-<hash8>/: the newest complete artifact
    of the track, camera, world and keypoints stages is scored) or a folder laid out like GT.
    GT is the OUT.mp4.gt/ folder that `vidcli synth OUT.mp4` writes. Stages that RUN lacks are
    reported as missing. docs/metrics.md defines every metric.
    """
    from vidcli.evaluation.report import evaluate, people_table, summary_table

    report = evaluate(run, gt, window=window)
    target = json_out or default_json_path(run)
    text = json.dumps(report, indent=2) + "\n"
    try:
        target.write_text(text)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
    if getattr(ctx.obj, "as_json", False):
        click.echo(text, nl=False)
    elif verbosity() >= 0:
        console.print(summary_table(report))
        people = people_table(report)
        if people is not None:
            console.print(people)
        console.print(f"metrics written to {target}", markup=False)
