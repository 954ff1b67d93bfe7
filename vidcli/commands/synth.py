"""`vidcli synth`: render Anny bodies in a textured scene with exact ground truth beside the video."""

from __future__ import annotations

import re
from pathlib import Path

import click

from vidcli.commands.common import CONTEXT
from vidcli.errors import ConfigError, InputError
from vidcli.synth.camera_paths import CAMERA_PATHS
from vidcli.synth.scene import SCENES

_EPILOG = ("Example: vidcli synth walk.mp4 --people 2 --camera handheld --bvh 02_01.bvh --seed 7 "
           "(a studio: --scene plain --noise 2 --shadow; a minute: --duration 60 --loop 6)")


def parse_size(text: str, minimum: int = 16) -> tuple[int, int]:
    """(width, height) of a --size WIDTHxHEIGHT option, each at least `minimum`."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or min(int(match.group(1)), int(match.group(2))) < minimum:
        raise ConfigError(f"--size {text!r}: expected WIDTHxHEIGHT, each at least {minimum}, e.g. 640x360")
    return int(match.group(1)), int(match.group(2))


@click.command("synth", context_settings=CONTEXT, epilog=_EPILOG)
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bvh", "clips", multiple=True, type=click.Path(path_type=Path),
              help="CMU BVH clip(s), given to people in turn [default: a built-in procedural walk].")
@click.option("--people", type=click.IntRange(1, 3), default=2, show_default=True, help="Number of people.")
@click.option("--camera", type=click.Choice(CAMERA_PATHS), default="orbit", show_default=True, help="Camera path.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Length in seconds.")
@click.option("--size", default="640x360", show_default=True, help="Frame size WIDTHxHEIGHT.")
@click.option("--fps", type=click.FloatRange(min=1), default=30.0, show_default=True, help="Frame rate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for scene, people and camera shake.")
@click.option("--scene", type=click.Choice(SCENES), default="textured", show_default=True,
              help="textured: paving, bricks, crates; plain: a one-colour studio backdrop (chroma key); "
                   "room: pale walls and floor with a few edges.")
@click.option("--noise", type=click.FloatRange(0, 50), default=0.0, show_default=True,
              help="Sensor noise: standard deviation in 0-255 levels, new in every frame.")
@click.option("--shadow", is_flag=True, help="Soft shadows on the ground under the people.")
@click.option("--loop", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds after which motion and camera path play backwards, then forwards again "
                   "(a long clip at the memory of one loop); 0: no loop.")
@click.option("--crf", type=click.IntRange(0, 51), default=18, show_default=True,
              help="H.264 quality: 18 near lossless, 28 as a phone camera compresses.")
@click.option("--height", type=click.FloatRange(0, 1), default=None, help="Anny height (0-1) for everyone.")
@click.option("--weight", type=click.FloatRange(0, 1), default=None, help="Anny weight (0-1) for everyone.")
@click.option("--age", type=click.FloatRange(0, 1), default=None, help="Anny age (0 baby, 1/3 ~25 years, 1 old).")
@click.option("--gender", type=click.FloatRange(0, 1), default=None, help="Anny gender (0 female, 1 male).")
@click.option("--flow", is_flag=True, help="Also write the exact forward optical flow of every frame pair to "
                                           "OUTPUT.gt/flow/ (NaN where hidden; docs/training.md).")
def synth(output, clips, people, camera, duration, size, fps, seed, scene, noise, shadow, loop, crf, height,
          weight, age, gender, flow):
    """Render OUTPUT (H.264 mp4) of 1-3 Anny people walking through a textured scene under a moving
    camera, and write the exact ground truth to OUTPUT.gt/ (camera, tracks, keypoints, masks,
    motion, people; see docs/formats.md)."""
    from vidcli.console import log, progress
    from vidcli.synth.generate import SynthOptions, synthesize

    if output.suffix.lower() != ".mp4":
        raise ConfigError(f"{output}: the output must be an .mp4 file")
    if not output.parent.is_dir():
        raise ConfigError(f"{output.parent}: no such directory for the output")
    for clip in clips:
        if not clip.is_file():
            raise InputError(f"{clip}: no such BVH file")
    width, height_px = parse_size(size)
    overrides = {k: v for k, v in (("height", height), ("weight", weight), ("age", age), ("gender", gender))
                 if v is not None}
    options = SynthOptions(duration=duration, width=width, height=height_px, fps=fps, seed=seed, people=people,
                           camera=camera, bvh=list(clips), phenotype=overrides, scene=scene, noise=noise,
                           shadow=shadow, loop=loop, crf=crf, flow=flow)
    with progress("rendering", total=options.frames) as bar:
        gt_dir = synthesize(output, options, progress=bar)
    log.info("wrote %s (%d frames) and %s", output, options.frames, gt_dir)
