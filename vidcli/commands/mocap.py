"""`vidcli mocap`: 3D motion of the people in videos, in one world frame, as npz, BVH, glTF and video."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.commands.common import CONTEXT, Globals, given, run_options, run_pipeline, stdout


@click.command(context_settings=CONTEXT,
               epilog="Example: vidcli mocap dance.mp4 --people 2 -o results/   "
                      "(SMPL: --body smpl --body-model-dir ~/models/smpl)")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--people", type=click.IntRange(min=1), default=None,
              help="Most people tracked per frame [default: 8].")
@click.option("--body", type=click.Choice(["anny", "smpl", "smplx"]), default=None,
              help="Body model; smpl and smplx need your model files in --body-model-dir [default: anny].")
@click.option("--body-model-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with SMPL_<GENDER>.pkl/.npz or SMPLX_<GENDER>.npz/.pkl.")
@click.option("--gender", type=click.Choice(["neutral", "female", "male"]), default=None,
              help="Gender of the SMPL / SMPL-X model file [default: neutral].")
@click.option("--exports", default=None, metavar="LIST",
              help="Comma-separated outputs among npz, bvh, glb, video, plot [default: all].")
@click.option("--focal", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Focal length in pixels of the frames [default: calibrated from the video].")
@click.option("--principal-point", type=(float, float), default=None, metavar="CX CY",
              help="Principal point in pixels [default: the image centre].")
@click.option("--static-camera", is_flag=True, default=None,
              help="The camera does not move (a tripod): skip camera tracking [default: detected].")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the results to OUTPUT/<input>/export/.")
@run_options
@click.pass_obj
def mocap(g: Globals, videos, people, body, body_model_dir, gender, exports, focal, principal_point, static_camera,
          output, **run):
    """Motion capture of the people in VIDEOS: bodies fitted to tracked keypoints, placed with the camera's
    motion in one gravity-aligned world, exported per person (npz, BVH, glTF) with an overlay video."""
    from vidcli.engine.pipeline import load_pipeline

    cx, cy = principal_point if principal_point else (None, None)
    overrides = {
        "track": given(max_people=people),
        "camera": given(focal=focal, cx=cx, cy=cy, static=static_camera),
        "body": given(body=body, gender=gender,
                      body_model_dir=None if body_model_dir is None else str(body_model_dir)),
        "export": given(formats=exports),
    }
    pipeline = load_pipeline("mocap", {stage: values for stage, values in overrides.items() if values})

    def deliver(artifacts: dict[str, Path]) -> None:
        export = artifacts["export"]
        folder = output / export.parent.parent.name / "export" if output else export
        stdout.print(f"results: {folder}")

    run_pipeline(g, pipeline, [{"video": v} for v in videos], outputs=output, deliver=deliver, **run)
