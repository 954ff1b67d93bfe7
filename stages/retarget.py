"""Retarget the driving skeleton onto the reference person (`vidcli.animate.retarget`).

Each limb keeps the driving limb's direction and the reference's proportions (a per-limb length
ratio measured on the reference); the global scale and placement come from the anchor frame, where
the figure stands where the reference person stands. Frames without the driving person hold the
last pose or interpolate; `retarget.json` lists them. The retargeted skeletons are also drawn on
the reference's canvas as ControlNet-OpenPose images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidcli.engine.stage import RunInfo
from vidcli.settings import setting

VERSION = 1
INPUTS = ("pose",)
MISSING = ("hold", "interpolate")


@dataclass
class Config:
    anchor_frame: int = setting(0, "frame whose driving pose sets the scale and placement (the first "
                                   "frame at or after it that shows the driving person)",
                            bounds="[0, 10000000]")
    missing: str = setting("hold", "frames without the driving person: hold (the last pose) or interpolate",
                           choices=MISSING)


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli.animate import files
    from vidcli.animate.retarget import retarget

    poses = files.read_poses(inputs["pose"].path)
    result = retarget(poses.keypoints, poses.present, poses.ref_keypoints, poses.depth, config.anchor_frame,
                      interpolate=config.missing == "interpolate")
    files.write_retargeting(out_dir, files.Retargeting(
        result.keypoints, result.depth, result.held, result.anchor, result.scale, result.limb_ratios,
        poses.fps, poses.ref_keypoints, poses.ref_size))
    files.write_skeletons(out_dir / files.SKELETON_DIR, result.keypoints, poses.ref_size)
    return RunInfo(backend="embedded",
                   counts={"frames": len(result.held), "held_frames": int(result.held.sum())})
