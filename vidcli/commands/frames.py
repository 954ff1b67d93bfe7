"""`vidcli frames`: decode videos into cached JPEG frames with timestamps."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, run_options, run_pipeline, setting_option


@click.command(context_settings=CONTEXT, epilog="Example: vidcli frames clip.mp4 --max-size 640 --fps 30 -o frames/")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@setting_option("--fps", "frames.fps")
@setting_option("--max-size", "frames.max_size")
@setting_option("--qscale", "frames.qscale")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the frames to OUTPUT/<input>/frames/.")
@run_options
@click.pass_obj
def frames(g: Globals, videos, output, **run):
    """Decode VIDEOS into JPEG frames at a constant frame rate (rotation applied, timestamps kept)."""
    run_pipeline(g, "frames", [{"video": v} for v in videos], outputs=output, **run)
