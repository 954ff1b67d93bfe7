"""`vidcli mocap`: 3D motion of the people in videos, in one world frame, as npz, BVH, glTF and video."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, run_options, run_pipeline, setting_option


@click.command(context_settings=CONTEXT,
               epilog="Example: vidcli mocap dance.mp4 --people 2 -o results/   "
                      "(one person: vidcli tracks dance.mp4, then --track ID; "
                      "SMPL: --body smpl --body-model-dir ~/models/smpl; for Mixamo characters: --rig mixamo)")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@setting_option("--people", "track.max_people")
@setting_option("--track", "body.tracks", multiple=True, type=click.IntRange(0), metavar="ID")
@setting_option("--body", "body.body")
@setting_option("--body-model-dir", "body.body_model_dir", metavar="DIR")
@setting_option("--gender", "body.gender")
@setting_option("--exports", "export.formats", metavar="LIST")
@setting_option("--rig", "export.rig")
@setting_option("--focal", "camera.focal")
@setting_option("--principal-point", "camera.cx", "camera.cy", metavar="CX CY")
@setting_option("--static-camera", "camera.static")
@setting_option("--trust-checkpoint", "track.trust_checkpoint")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the results to OUTPUT/<input>/export/.")
@run_options
@click.pass_obj
def mocap(g: Globals, videos, output, **run):
    """Motion capture of the people in VIDEOS: bodies fitted to tracked keypoints, placed with the camera's
    motion in one gravity-aligned world, exported per person (npz, BVH, glTF) with an overlay video."""
    run_pipeline(g, "mocap", [{"video": v} for v in videos], outputs=output,
                 deliver=lambda finals: f"results: {finals['export']}", **run)
