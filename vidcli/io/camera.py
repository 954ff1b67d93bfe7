"""Camera trajectories (docs/formats.md): `camera.npz` and TUM text `camera.tum`, world <- camera."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from vidcli.io.arrays import load_npz

CAMERA_NPZ = "camera.npz"
CAMERA_TUM = "camera.tum"
DEPTH_NPZ = "depth.npz"


@dataclass
class CameraTrack:
    """Intrinsics and per-frame poses: X_world = R_wc @ X_cam + t_wc (t_wc is the camera centre)."""

    K: np.ndarray  # (3, 3), pixels of the stored frames
    R_wc: np.ndarray  # (F, 3, 3)
    t_wc: np.ndarray  # (F, 3)
    timestamps: np.ndarray  # (F,) seconds
    width: int
    height: int
    fps: float
    static: bool = False
    keyframes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def write_camera(directory: Path, camera: CameraTrack) -> None:
    """Write `camera.npz` and `camera.tum` into `directory`."""
    directory = Path(directory)
    np.savez(directory / CAMERA_NPZ, K=camera.K, R_wc=camera.R_wc, t_wc=camera.t_wc, timestamps=camera.timestamps,
             width=camera.width, height=camera.height, fps=camera.fps, static=camera.static,
             keyframes=np.asarray(camera.keyframes, np.int64))
    write_tum(directory / CAMERA_TUM, camera.timestamps, camera.R_wc, camera.t_wc)


def read_camera(path: Path) -> CameraTrack:
    """A camera artifact's `camera.npz` (or a ground truth's, which lacks `static` and `keyframes`)."""
    data = load_npz(Path(path), ("K", "R_wc", "t_wc", "timestamps", "width", "height", "fps"))
    with np.load(path, allow_pickle=False) as extra:
        static = bool(extra["static"]) if "static" in extra.files else False
        keyframes = extra["keyframes"] if "keyframes" in extra.files else np.zeros(0, np.int64)
    return CameraTrack(data["K"], data["R_wc"], data["t_wc"], data["timestamps"], int(data["width"]),
                       int(data["height"]), float(data["fps"]), static, keyframes)


def write_tum(path: Path, timestamps: np.ndarray, R_wc: np.ndarray, t_wc: np.ndarray) -> None:
    """TUM text, one line per frame: `timestamp tx ty tz qx qy qz qw` (what evo reads)."""
    quaternions = Rotation.from_matrix(R_wc).as_quat()  # x, y, z, w
    Path(path).write_text("".join(
        f"{t:.6f} {' '.join(f'{v:.9f}' for v in (*position, *q))}\n"
        for t, position, q in zip(timestamps, t_wc, quaternions)))
