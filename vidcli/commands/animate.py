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
    _check_inputs(ref, pose)

    def deliver(artifacts: dict[str, Path]) -> str:
        animation = artifacts["generate"] / ANIMATION_MP4
        if output is None:
            return f"animation: {animation}"
        partial = output.with_name(f".{output.name}.partial")
        shutil.copyfile(animation, partial)
        os.replace(partial, output)
        return f"animation: {output}"

    run_pipeline(g, "animate", [{"driving": pose, "ref": ref}], deliver=deliver, **run)


def _check_inputs(ref: Path, pose: Path) -> None:
    """REF must be an image and POSE a video, checked before any stage runs (swapped, they would fail
    three stages in)."""
    from vidcli.animate.reference import read_reference
    from vidcli.errors import InputError
    from vidcli.io.video import probe

    try:
        read_reference(ref)
    except InputError as exc:
        try:
            probe(ref)
        except InputError:
            raise InputError(f"REF (the reference image) {exc}") from None
        raise InputError(f"REF {ref} is a video, and REF must be an image: did you swap REF and POSE? "
                         "Usage: vidcli animate REF.png POSE.mp4") from None
    try:
        probe(pose)
    except InputError as exc:
        raise InputError(f"POSE (the driving video) {exc}") from None
