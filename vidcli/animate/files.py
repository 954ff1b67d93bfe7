"""The files of the animation stages' artifacts (docs/formats.md): `pose`, `retarget` and `generate`.

Keypoints are OpenPose-18 arrays (F, 18, 3): x, y in pixels and confidence (0 = missing). Depths
(F, 18) are metres relative to the hips along the camera axis, larger is farther, NaN when unknown.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcli.animate import skeleton
from vidcli.console import progress
from vidcli.errors import StageError
from vidcli.io.arrays import load_npz

POSE_NPZ = "pose.npz"
REFERENCE_MASK = "reference_mask.png"
REFERENCE_SKELETON = "reference_skeleton.png"
RETARGET_NPZ = "retarget.npz"
RETARGET_JSON = "retarget.json"
SKELETON_DIR = "skeleton"
ANIMATION_MP4 = "animation.mp4"
GENERATE_JSON = "generate.json"


@dataclass
class Poses:
    """The `pose` artifact: the driving person's skeleton in each driving frame, and the reference's."""

    present: np.ndarray  # (F,) frames showing the driving person
    keypoints: np.ndarray  # (F, 18, 3) driving-video pixels
    depth: np.ndarray  # (F, 18)
    track_id: int
    fps: float
    size: tuple[int, int]  # driving video (width, height)
    ref_keypoints: np.ndarray  # (18, 3) reference-image pixels
    ref_depth: np.ndarray  # (18,)
    ref_size: tuple[int, int]


@dataclass
class Retargeting:
    """The `retarget` artifact: the skeleton the reference performs, in reference-image pixels."""

    keypoints: np.ndarray  # (F, 18, 3)
    depth: np.ndarray  # (F, 18)
    held: np.ndarray  # (F,) frames without the driving person, whose pose is held or interpolated
    anchor: int  # the frame that set the scale and placement
    scale: float  # reference pixels per driving-video pixel
    limb_ratios: np.ndarray  # (17,) reference limb length / driving limb length
    fps: float
    ref_keypoints: np.ndarray  # (18, 3)
    ref_size: tuple[int, int]


def write_poses(directory: Path, poses: Poses) -> None:
    np.savez(Path(directory) / POSE_NPZ, **{k: np.asarray(v) for k, v in asdict(poses).items()})


def read_poses(directory: Path) -> Poses:
    data = load_npz(Path(directory) / POSE_NPZ, tuple(Poses.__dataclass_fields__))
    return Poses(data["present"].astype(bool), data["keypoints"], data["depth"], int(data["track_id"]),
                 float(data["fps"]), tuple(int(v) for v in data["size"]), data["ref_keypoints"],
                 data["ref_depth"], tuple(int(v) for v in data["ref_size"]))


def write_retargeting(directory: Path, retargeting: Retargeting) -> None:
    """`retarget.npz`, and `retarget.json` with the frame count, held frames, anchor, scale and fps."""
    directory = Path(directory)
    np.savez(directory / RETARGET_NPZ, **{k: np.asarray(v) for k, v in asdict(retargeting).items()})
    summary = {"frames": len(retargeting.held), "held_frames": np.flatnonzero(retargeting.held).tolist(),
               "anchor": retargeting.anchor, "scale": retargeting.scale, "fps": retargeting.fps,
               "ref_size": list(retargeting.ref_size)}
    (directory / RETARGET_JSON).write_text(json.dumps(summary, indent=1))


def read_retargeting(directory: Path) -> Retargeting:
    data = load_npz(Path(directory) / RETARGET_NPZ, tuple(Retargeting.__dataclass_fields__))
    return Retargeting(data["keypoints"], data["depth"], data["held"].astype(bool), int(data["anchor"]),
                       float(data["scale"]), data["limb_ratios"], float(data["fps"]), data["ref_keypoints"],
                       tuple(int(v) for v in data["ref_size"]))


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB image (PNG or JPEG by the file name)."""
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise StageError(f"could not write {path}")


def write_skeletons(directory: Path, keypoints: np.ndarray, size: tuple[int, int]) -> None:
    """Draw each frame's skeleton (F, 18, 3) as `directory/000000.png`... (ControlNet-OpenPose images)."""
    directory = Path(directory)
    directory.mkdir()
    with progress("skeleton images", len(keypoints)) as bar:
        for index, points in enumerate(keypoints):
            write_rgb(directory / f"{index:06d}.png", skeleton.draw(points, size))
            bar.advance()
