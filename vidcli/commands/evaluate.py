"""`vidcli eval RUN GT`: score a run's artifacts against synthetic ground truth; `vidcli eval flow PRED GT`:
flow files against ground-truth flow."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from vidcli.commands.common import stdout
from vidcli.console import verbosity
from vidcli.errors import ConfigError


def default_json_path(run: Path) -> Path:
    """`<RUN>.eval.json` beside RUN, so that a workspace input directory or GT folder stays untouched."""
    run = run.absolute()
    return run.with_name(f"{run.name}.eval.json")


@click.command("eval", epilog="Example: vidcli eval vidcli-work/walk-1a2b3c4d walk.mp4.gt\n\n"
                             "Example: vidcli eval flow my_flow/ chairs/")
@click.argument("paths", nargs=-1, required=True, metavar="[flow] RUN GT")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write every metric as JSON  [default: RUN.eval.json beside RUN].")
@click.option("--window", type=click.IntRange(min=2), default=100, show_default=True,
              help="Frames per window of WA-MPJPE and W-MPJPE (the EMDB protocol uses 100).")
@click.pass_context
def eval_command(ctx: click.Context, paths: tuple[str, ...], json_out: Path | None, window: int) -> None:
    """Score RUN against the ground-truth folder GT; print a table and write the metrics as JSON.

    RUN is a workspace input directory (<workspace>/<stem>-<hash8>/: the newest complete artifact
    of the track, camera, world and keypoints stages is scored) or a folder laid out like GT.
    GT is the OUT.mp4.gt/ folder that `vidcli synth OUT.mp4` writes. Stages that RUN lacks are
    reported as missing. docs/metrics.md defines every metric.

    `vidcli eval flow PRED GT` scores the flow files (.flo or KITTI PNG) of PRED, a folder or a flow
    artifact, against those of GT with the same names: EPE, 1/3/5 px accuracy and KITTI Fl-all.
    """
    if len(paths) == 3 and paths[0] == "flow":
        run, gt, kind = Path(paths[1]), Path(paths[2]), "flow"
    elif len(paths) == 2:
        run, gt, kind = Path(paths[0]), Path(paths[1]), "run"
    else:
        raise click.UsageError("expected RUN GT, or flow PRED GT")
    if kind == "flow":
        from vidcli.evaluation.flow import evaluate_flow

        report = evaluate_flow(run, gt)
    else:
        from vidcli.evaluation.report import evaluate

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
        stdout.print(flow_table(report) if kind == "flow" else _run_tables(report))
        stdout.print(f"metrics written to {target}", markup=False)


def flow_table(report: dict) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("pairs", "EPE (px)", "< 1 px", "< 3 px", "< 5 px", "Fl-all"):
        table.add_column(column, justify="right")
    table.add_row(str(report["pairs"]), f"{report['epe']:.3f}",
                  *(f"{report[k]:.1%}" for k in ("1px", "3px", "5px", "fl_all")))
    return table


def _run_tables(report: dict):
    from rich.console import Group

    from vidcli.evaluation.report import people_table, summary_table

    people = people_table(report)
    return Group(summary_table(report), *([people] if people is not None else []))
