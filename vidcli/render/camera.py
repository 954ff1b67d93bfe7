"""Pinhole cameras in vidcli's conventions (OpenCV camera axes, world<-camera poses)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Intrinsics `K` (pixel centres at i + 0.5), pose `R_wc`, `t_wc` (camera centre), image size."""

    K: np.ndarray
    R_wc: np.ndarray
    t_wc: np.ndarray
    width: int
    height: int

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) in camera coordinates."""
        return (points - self.t_wc) @ self.R_wc

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of camera-frame points (..., 3) in front of the camera."""
        z = points_cam[..., 2:3]
        return points_cam[..., :2] / z * np.diag(self.K)[:2] + self.K[:2, 2]

    def pixel_rays(self) -> np.ndarray:
        """World directions (H, W, 3) through each pixel centre, scaled so their camera z is 1."""
        u = np.arange(self.width) + 0.5
        v = np.arange(self.height) + 0.5
        x = (u[None, :] - self.K[0, 2]) / self.K[0, 0]
        y = (v[:, None] - self.K[1, 2]) / self.K[1, 1]
        rays = np.stack(np.broadcast_arrays(x, y, np.ones_like(x)), axis=-1)
        return rays @ self.R_wc.T


def intrinsics(width: int, height: int, horizontal_fov_deg: float) -> np.ndarray:
    """K of a centred pinhole camera with square pixels and the given horizontal field of view."""
    f = width / 2 / np.tan(np.radians(horizontal_fov_deg) / 2)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """R_wc of a camera at `eye` looking at `target` with the image's up towards world `up`."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)
