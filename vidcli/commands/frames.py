"""`vidcli frames`: decode videos into cached JPEG frames with timestamps."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, given, run_options, run_pipeline


@click.command(context_settings=CONTEXT, epilog="Example: vidcli frames clip.mp4 --max-size 640 --fps 30 -o frames/")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--fps", type=click.FloatRange(min=0), default=None, help="Constant output frame rate [default: the source's].")
@click.option("--max-size", type=click.IntRange(min=0), default=None, help="Longest side in pixels [default: keep].")
@click.option("--qscale", type=click.IntRange(1, 31), default=None,
              help="JPEG quantiser scale, as ffmpeg's -q:v: 1 (best) to 31 [default: 2].")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the frames to OUTPUT/<input>/frames/.")
@run_options
@click.pass_obj
def frames(g: Globals, videos, fps, max_size, qscale, output, **run):
    """Decode VIDEOS into JPEG frames at a constant frame rate (rotation applied, timestamps kept)."""
    from vidcli.engine.pipeline import load_pipeline

    pipeline = load_pipeline("frames", {"frames": given(fps=fps, max_size=max_size, qscale=qscale)})
    run_pipeline(g, pipeline, [{"video": v} for v in videos], outputs=output, **run)
