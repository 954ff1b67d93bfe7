"""`vidcli flow`: optical flow of videos, stored as flow files and rendered as a video."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, run_options, run_pipeline, setting_option


@click.command(context_settings=CONTEXT, epilog="Example: vidcli flow clip.mp4 --backend dis -o results/")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@setting_option("--backend", "flow.backend")
@setting_option("--max-size", "flow.max_size")
@setting_option("--step", "flow.step")
@setting_option("--format", "flow.format")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the flow video to OUTPUT/<input>/flow_video/.")
@run_options
@click.pass_obj
def flow(g: Globals, videos, output, **run):
    """Optical flow between frames of VIDEOS (KITTI PNG or Middlebury .flo files) and a video of it beside
    the frames."""
    run_pipeline(g, "flow", [{"video": v} for v in videos], outputs=output, **run)
