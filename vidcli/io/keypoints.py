"""BlazePose-33 keypoints per person and frame (docs/formats.md): `keypoints.npz`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.io.arrays import load_npz

KEYPOINTS_NPZ = "keypoints.npz"


@dataclass
class Keypoints:
    """One row per person and frame: `frame` (N,), `track_id` (N,), `keypoints2d` (N, 33, 3): x, y in
    pixels and visibility, `world3d` (N, 33, 3): metres, origin between the hips, camera-aligned axes."""

    frame: np.ndarray
    track_id: np.ndarray
    keypoints2d: np.ndarray
    world3d: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


def write_keypoints(path: Path, keypoints: Keypoints) -> None:
    """Write `keypoints` as an npz file at `path`."""
    np.savez(path, frame=np.asarray(keypoints.frame, np.int64),
             track_id=np.asarray(keypoints.track_id, np.int64),
             keypoints2d=np.asarray(keypoints.keypoints2d, np.float64).reshape(-1, 33, 3),
             world3d=np.asarray(keypoints.world3d, np.float64).reshape(-1, 33, 3))


def read_keypoints(path: Path) -> Keypoints:
    data = load_npz(Path(path), ("frame", "track_id", "keypoints2d", "world3d"))
    return Keypoints(data["frame"].astype(int), data["track_id"].astype(int), data["keypoints2d"],
                     data["world3d"])
