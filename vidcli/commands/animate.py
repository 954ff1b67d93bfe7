"""`vidcli animate`: the person of a reference image performs the motion of the person of a video."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, given, run_options, run_pipeline
from vidcli.errors import ConfigError


@click.command(context_settings=CONTEXT, epilog="Example: vidcli animate me.png dance.mp4 -o me_dancing.mp4")
@click.argument("ref", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("pose", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also copy the animation (H.264 mp4) to OUTPUT.")
@click.option("--backend", type=click.Choice(["auto", "embedded", "diffusion"]), default=None,
              help="auto: diffusion when its checkpoints are installed and a GPU is visible, else the "
                   "embedded mesh puppet [default: auto].")
@click.option("--person", type=click.IntRange(min=0), default=None,
              help="Track id of the driving person [default: the main person, seen longest and largest].")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Frame rate of the animation [default: the driving video's].")
@click.option("--size", type=click.IntRange(min=8), default=None,
              help="Longest side of the animation in pixels, a multiple of 8 [default: 768].")
@run_options
@click.pass_obj
def animate(g: Globals, ref, pose, output, backend, person, fps, size, **run):
    """The person in REF (an image) performs the motion of the person in POSE (a video), in REF's scene."""
    from vidcli.animate.files import ANIMATION_MP4
    from vidcli.engine.pipeline import load_pipeline

    if output is not None and output.suffix.lower() != ".mp4":
        raise ConfigError(f"{output}: the output must be an .mp4 file")
    if output is not None and not output.resolve().parent.is_dir():
        raise ConfigError(f"{output.parent}: no such directory for the output")
    pipeline = load_pipeline("animate", {"frames": given(fps=fps), "pose": given(person=person),
                                         "generate": given(backend=backend, max_size=size)})

    def deliver(artifacts: dict[str, Path]) -> None:
        partial = output.with_name(f".{output.name}.partial")
        shutil.copyfile(artifacts["generate"] / ANIMATION_MP4, partial)
        os.replace(partial, output)

    run_pipeline(g, pipeline, [{"driving": pose, "ref": ref}], deliver=deliver if output else None, **run)
