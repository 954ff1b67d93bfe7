"""`vidcli animate`: the person of a reference image performs the motion of the person of a video."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, run_options, run_pipeline, setting_option
from vidcli.errors import ConfigError


@click.command(context_settings=CONTEXT, epilog="Example: vidcli animate me.png dance.mp4 -o me_dancing.mp4")
@click.argument("ref", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("pose", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also copy the animation (H.264 mp4) to OUTPUT.")
@setting_option("--backend", "generate.backend")
@setting_option("--person", "pose.person")
@setting_option("--fps", "frames.fps")
@setting_option("--size", "generate.max_size")
@run_options
@click.pass_obj
def animate(g: Globals, ref, pose, output, **run):
    """The person in REF (an image) performs the motion of the person in POSE (a video), in REF's scene."""
    from vidcli.animate.files import ANIMATION_MP4

    if output is not None and output.suffix.lower() != ".mp4":
        raise ConfigError(f"{output}: the output must be an .mp4 file")
    if output is not None and not output.resolve().parent.is_dir():
        raise ConfigError(f"{output.parent}: no such directory for the output")

    def deliver(artifacts: dict[str, Path]) -> None:
        partial = output.with_name(f".{output.name}.partial")
        shutil.copyfile(artifacts["generate"] / ANIMATION_MP4, partial)
        os.replace(partial, output)

    run_pipeline(g, "animate", [{"driving": pose, "ref": ref}], deliver=deliver if output else None, **run)
