"""`vidcli inpaint` (fill given masks) and `vidcli remove --people` (fill the people perception finds)."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.commands.common import (
    CONTEXT, OVERRIDES, Globals, copy_video_to, run_options, run_pipeline, setting_option,
)

_output = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also copy the result (H.264 mp4 of the input's size, frame rate and audio) to OUTPUT.",
)


def _deliver_to(output: Path | None):
    from vidcli.inpaint.video import INPAINTED_MP4

    return copy_video_to(output, "inpaint_video", INPAINTED_MP4)


@click.command(
    context_settings=CONTEXT, epilog="Example: vidcli inpaint clip.mp4 --masks masks/ -o clean.mp4"
)
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--masks",
    required=True,
    type=click.Path(path_type=Path),
    help="Holes to fill: a folder of per-frame images (any non-zero pixel; palette PNGs by "
    "index), a mask video, or one image for every frame.",
)
@_output
@setting_option("--backend", "inpaint.backend")
@setting_option("--dilate", "holes.dilate")
@run_options
@click.pass_obj
def inpaint(g: Globals, video, masks, output, **run):
    """Fill the MASKS holes of VIDEO from what other frames show, and spatially where none does."""
    run_pipeline(g, "inpaint", [{"video": video, "masks": masks}], deliver=_deliver_to(output), **run)


def _tracks(ctx, _param, value):
    if value:
        ctx.meta.setdefault(OVERRIDES, {}).setdefault("holes", {})["tracks"] = ",".join(map(str, value))


@click.command(
    context_settings=CONTEXT, epilog="Example: vidcli remove clip.mp4 --people --track 2 -o empty.mp4"
)
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--people", is_flag=True, help="Remove the people that tracking finds (what to remove).")
@click.option(
    "--track",
    "tracks",
    type=int,
    multiple=True,
    expose_value=False,
    callback=_tracks,
    metavar="ID",
    help="Remove only this track id (repeatable; the ids of the track stage's tracks.txt) "
    "[default: everyone].",
)
@_output
@setting_option("--backend", "inpaint.backend")
@setting_option("--dilate", "holes.dilate")
@setting_option("--shadows", "holes.shadows", metavar="FRACTION")
@run_options
@click.pass_obj
def remove(g: Globals, video, people, output, **run):
    """Remove from VIDEO what is asked (--people): segment it, then fill it like `vidcli inpaint`."""
    if not people:
        raise click.UsageError("say what to remove: --people")
    run_pipeline(g, "remove", [{"video": video}], deliver=_deliver_to(output), **run)
