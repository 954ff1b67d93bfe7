"""`vidcli canonical` (fit CoDeF's canonical image and deformation to a video) and `vidcli propagate` (carry
an edit of the canonical image to every frame)."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.canonical import EDIT_NAMES
from vidcli.commands.common import (
    CONTEXT, Globals, check_mp4_output, run_options, run_pipeline, setting_option,
)

_fit_options = [
    click.option(
        "--masks",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="A masks.json (the masks stage's, or vidcli synth's ground truth): its people get a layer "
        "of their own (CoDeF's multi-layer variant; canonical_1.png is theirs).",
    ),
    click.option(
        "--people",
        is_flag=True,
        help="Find the people with vidcli's perception (the track and masks stages) and give them a layer "
        "of their own, as --masks does; recommended when a person moves.",
    ),
    setting_option("--iterations", "canonical.iterations"),
    setting_option("--max-size", "canonical.max_size"),
    setting_option("--seed", "canonical.seed"),
]


def _pipeline_and_sources(videos, masks: Path | None, people: bool) -> tuple[str, list[dict]]:
    if people and masks is not None:
        raise click.UsageError("give --masks or --people, not both")
    if masks is None:
        return "canonical_people" if people else "canonical", [{"video": v} for v in videos]
    return "canonical_masks", [{"video": v, "masks": masks} for v in videos]


def _with_fit_options(func):
    for option in reversed(_fit_options):
        func = option(func)
    return func


@click.command(
    context_settings=CONTEXT,
    epilog="Example: vidcli canonical clip.mp4, then edit the image it "
    "names and run vidcli propagate clip.mp4 --canonical-edit "
    "edited.png -o out.mp4",
)
@click.argument("videos", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_with_fit_options
@run_options
@click.pass_obj
def canonical(g: Globals, videos, masks, people, **run):
    """Fit a canonical image and a deformation field to each of VIDEOS and print where the image is."""
    from vidcli.canonical.propagate import CANONICAL_PNG, PSNR_CSV

    def deliver(artifacts: dict[str, Path]) -> str:
        folder = artifacts["canonical"]
        values = [float(line.split(",")[1]) for line in (folder / PSNR_CSV).read_text().splitlines()[1:]]
        return (
            f"canonical image: {folder / CANONICAL_PNG} (reconstruction PSNR {sum(values) / len(values):.2f} "
            f"dB); edit it, then: vidcli propagate VIDEO --canonical-edit EDITED.png -o OUT.mp4"
        )

    run_pipeline(g, *_pipeline_and_sources(videos, masks, people), deliver=deliver, **run)


@click.command(
    context_settings=CONTEXT, epilog="Example: vidcli propagate clip.mp4 --edit stylize -o styled.mp4"
)
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--canonical-edit",
    "edit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An edited copy of the canonical image (any size; its alpha channel, if any, pastes it over "
    "the frames).",
)
@click.option(
    "--edit",
    "edit_name",
    type=click.Choice(EDIT_NAMES),
    default=None,
    help="Instead of --canonical-edit: a built-in edit of the canonical image (OpenCV filters).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The edited video (.mp4, the frames' size and rate).",
)
@_with_fit_options
@run_options
@click.pass_obj
def propagate(g: Globals, video, edit_path, edit_name, output, masks, people, **run):
    """Carry an edit of VIDEO's canonical image (fitted as `vidcli canonical` does, cached) to every frame."""
    from vidcli.canonical.propagate import (
        Propagation, builtin_edit, propagate_video, read_edit, upstream_artifact,
    )
    from vidcli.errors import InputError
    from vidcli.io.frames import FrameSequence

    if (edit_path is None) == (edit_name is None):
        raise click.UsageError("give one of --canonical-edit IMAGE or --edit NAME")
    if edit_path is not None and not edit_path.is_file():
        raise InputError(f"{edit_path}: no such image")
    check_mp4_output(output)
    edit = read_edit(edit_path) if edit_path is not None else None

    def deliver(artifacts: dict[str, Path]) -> str:
        folder = artifacts["canonical"]
        frames = FrameSequence(upstream_artifact(folder, "frames"))
        if edit is not None:
            edits = {0: edit}  # the background layer's image is the one `vidcli canonical` names
        else:
            edits = {i: builtin_edit(folder, edit_name, i) for i in range(Propagation(folder).layers)}
        count = propagate_video(folder, frames, edits, output)
        return f"wrote {output} ({count} frames)"

    run_pipeline(g, *_pipeline_and_sources([video], masks, people), deliver=deliver, **run)
