"""`vidcli flow`: optical flow of videos, stored as .flo files and rendered as a video."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, given, run_options, run_pipeline


@click.command(context_settings=CONTEXT, epilog="Example: vidcli flow clip.mp4 --backend dis -o results/")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--backend", type=click.Choice(["auto", "dis", "raft"]), default=None,
              help="auto: RAFT when its checkpoint is installed, else OpenCV DIS [default: auto].")
@click.option("--max-size", type=click.IntRange(min=0), default=None,
              help="Longest side flow is computed at, 0 = frame size [default: 512].")
@click.option("--step", type=click.IntRange(min=1), default=None, help="Flow from frame i to i + STEP [default: 1].")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the flow video to OUTPUT/<input>/flow_video/.")
@run_options
@click.pass_obj
def flow(g: Globals, videos, backend, max_size, step, output, **run):
    """Optical flow between frames of VIDEOS (Middlebury .flo files) and a video of it beside the frames."""
    from vidcli.engine.pipeline import load_pipeline

    pipeline = load_pipeline("flow", {"flow": given(backend=backend, max_size=max_size, step=step)})
    run_pipeline(g, pipeline, [{"video": v} for v in videos], outputs=output, **run)
