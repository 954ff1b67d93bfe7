"""`vidcli tracks`: the people found in videos, with their ids and frame spans, and a contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, run_options, run_pipeline, setting_option


@click.command(context_settings=CONTEXT,
               epilog="Example: vidcli tracks dance.mp4   (then: vidcli mocap dance.mp4 --track 2)")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@setting_option("--people", "track.max_people")
@run_options
@click.pass_obj
def tracks(g: Globals, videos, **run):
    """The people in VIDEOS: each track's id, frames and size, and a contact sheet (people.png) to pick ids
    for `vidcli mocap --track` from. The tracking is the one `vidcli mocap` uses, cached once for both."""
    from vidcli.stages.track_sheet import PEOPLE_JSON, PEOPLE_PNG

    def describe(finals: dict[str, Path]) -> str:
        folder = finals["track_sheet"]
        people = json.loads((folder / PEOPLE_JSON).read_text())["people"]
        if not people:
            return f"{folder.parent.parent.name}: nobody found"
        lines = [f"track {p['track_id']}: frames {p['first_frame']}-{p['last_frame']} "
                 f"({p['first_s']:.2f}-{p['last_s']:.2f} s, {p['frames']} detections), "
                 f"about {p['median_height_px']:.0f} px tall" for p in people]
        return "\n".join(lines + [f"contact sheet: {folder / PEOPLE_PNG}"])

    run_pipeline(g, "tracks", [{"video": v} for v in videos], deliver=describe, **run)
