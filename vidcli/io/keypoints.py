"""Keypoints per person and frame, in a recorded layout (docs/formats.md): `keypoints.npz`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli.errors import InputError
from vidcli.io.arrays import load_npz

KEYPOINTS_NPZ = "keypoints.npz"


@dataclass
class Keypoints:
    """One row per person and frame: `frame` (N,), `track_id` (N,), `keypoints2d` (N, K, 3): x, y in
    pixels and visibility, `world3d` (N, K, 3): metres, origin between the hips, camera-aligned axes
    (NaN where the estimator gives no 3D); K points of `layout` (`vidcli.body.skeletons.LAYOUTS`)."""

    frame: np.ndarray
    track_id: np.ndarray
    keypoints2d: np.ndarray
    world3d: np.ndarray
    layout: str = "blazepose33"

    def __len__(self) -> int:
        return len(self.frame)

    def as_blazepose33(self) -> Keypoints:
        """The same rows in BlazePose-33, the body models' landmarks: NaN (visibility 0) where the layout
        has no such point."""
        from vidcli.body.skeletons import as_blazepose33

        if self.layout == "blazepose33":
            return self
        points = as_blazepose33(self.keypoints2d, self.layout)
        points[..., 2] = np.nan_to_num(points[..., 2])
        return replace(self, keypoints2d=points, world3d=as_blazepose33(self.world3d, self.layout),
                       layout="blazepose33")


def write_keypoints(path: Path, keypoints: Keypoints) -> None:
    """Write `keypoints` as an npz file at `path`."""
    from vidcli.body.skeletons import layout_names

    count = len(layout_names(keypoints.layout))
    np.savez(path, frame=np.asarray(keypoints.frame, np.int64),
             track_id=np.asarray(keypoints.track_id, np.int64),
             keypoints2d=np.asarray(keypoints.keypoints2d, np.float64).reshape(-1, count, 3),
             world3d=np.asarray(keypoints.world3d, np.float64).reshape(-1, count, 3),
             layout=np.array(keypoints.layout))


def read_keypoints(path: Path) -> Keypoints:
    from vidcli.body.skeletons import layout_names

    data = load_npz(Path(path), ("frame", "track_id", "keypoints2d", "world3d", "layout"))
    layout = str(data["layout"])
    try:
        count = len(layout_names(layout))
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    if data["keypoints2d"].shape[1:] != (count, 3) or data["world3d"].shape[1:] != (count, 3):
        raise InputError(f"{path}: keypoints of shape {data['keypoints2d'].shape} are not {layout}")
    return Keypoints(data["frame"].astype(int), data["track_id"].astype(int), data["keypoints2d"],
                     data["world3d"], layout)
