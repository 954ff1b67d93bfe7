"""Fitted bodies (`body.npz`, camera frame) and world motion (`motion.npz`), docs/formats.md.

Both are long tables (one row per person and frame). Rotations are the 24 SMPL-24 local rotations
away from the body model's rest pose; the root's is the body's orientation in the table's frame. The
body model that the shapes and rotations belong to is named in the JSON beside each table
(`body.json`, `world.json`: key "body_model", a `vidcli.body.models.BodySpec`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from vidcli.io.arrays import load_npz

BODY_NPZ = "body.npz"
BODY_JSON = "body.json"
MOTION_NPZ = "motion.npz"
WORLD_JSON = "world.json"


@dataclass
class BodyTable:
    """Per person and frame, camera frame: `frame`, `track_id` (N,), `rotations` (N, 24, 3, 3),
    `translation_cam` (N, 3) the pelvis, `joints_cam` (N, 24, 3), `landmarks_cam` (N, 33, 3) the model's
    BlazePose landmarks, `shape` (N, S) (the same on every row of a track), `error_px` (N,) mean
    reprojection error of the visible keypoints, `error_3d_m` (N,) mean root-relative 3D landmark error."""

    frame: np.ndarray
    track_id: np.ndarray
    rotations: np.ndarray
    translation_cam: np.ndarray
    joints_cam: np.ndarray
    landmarks_cam: np.ndarray
    shape: np.ndarray
    error_px: np.ndarray
    error_3d_m: np.ndarray


@dataclass
class MotionTable:
    """Per person and frame, world frame (y up, ground y = 0): the ground-truth keys of docs/formats.md
    (`frame`, `track_id`, `joints_world`, `joints_cam`, `blazepose_world`, `blazepose_cam`,
    `blazepose_valid` (33,), `contact` (N, 2) left/right foot, `shape`) plus `rotations` (N, 24, 3, 3)
    (root: orientation in the world), `root_world` (N, 3) the pelvis, `segment` (N,) index of the
    track's gap-free piece, `interpolated` (N,) rows filled in across a short gap in the keypoints."""

    frame: np.ndarray
    track_id: np.ndarray
    joints_world: np.ndarray
    joints_cam: np.ndarray
    blazepose_world: np.ndarray
    blazepose_cam: np.ndarray
    blazepose_valid: np.ndarray
    contact: np.ndarray
    shape: np.ndarray
    rotations: np.ndarray
    root_world: np.ndarray
    segment: np.ndarray
    interpolated: np.ndarray


def _write(path: Path, table) -> None:
    np.savez(path, **{f.name: np.asarray(getattr(table, f.name)) for f in fields(table)})


def _read(path: Path, cls):
    data = load_npz(Path(path), tuple(f.name for f in fields(cls)))
    return cls(**data)


def write_body(path: Path, table: BodyTable) -> None:
    _write(path, table)


def read_body(path: Path) -> BodyTable:
    return _read(path, BodyTable)


def write_motion(path: Path, table: MotionTable) -> None:
    _write(path, table)


def read_motion(path: Path) -> MotionTable:
    return _read(path, MotionTable)
