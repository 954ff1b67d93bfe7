"""Exact forward optical flow of a render: where each pixel's surface point is in the next frame.

A pixel of the static scene sees a fixed world point (the sky a fixed direction); a pixel of a body sees
a point of one triangle, which keeps its barycentric coordinates as the body moves. That point is
projected with the next camera; the flow is unknown (NaN) where the point goes behind the camera,
leaves the image or is hidden in the next frame (something nearer is drawn there).
"""

from __future__ import annotations

import numpy as np

from vidcli.render.camera import Camera
from vidcli.render.scene import Frame

HIDDEN_TOLERANCE = 0.01  # relative depth margin for a point to count as seen in the next frame


def _barycentric(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (N, 3) of points (N, 3) on the planes of triangles (N, 3, 3)."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    e0, e1, d = b - a, c - a, points - a
    d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
    d20, d21 = (d * e0).sum(1), (d * e1).sum(1)
    denominator = np.where(np.abs(d00 * d11 - d01 ** 2) > 1e-20, d00 * d11 - d01 ** 2, 1e-20)
    v = (d11 * d20 - d01 * d21) / denominator
    w = (d00 * d21 - d01 * d20) / denominator
    return np.stack([1.0 - v - w, v, w], axis=1)


def exact_flow(first: Frame, second: Frame, cameras: tuple[Camera, Camera],
               vertices: tuple[np.ndarray, np.ndarray], faces: np.ndarray) -> np.ndarray:
    """HxWx2 float32 flow from `first` to `second`, NaN where unknown; `vertices` are the bodies'
    concatenated vertices in each frame, `faces` their concatenated faces (as `Frame.face` indexes)."""
    camera, following = cameras
    rays = camera.pixel_rays()
    height, width = first.depth.shape
    sky = ~np.isfinite(first.depth)
    points = camera.t_wc + rays * np.where(sky, 1.0, first.depth)[..., None]
    on_body = first.face >= 0
    if on_body.any():
        triangles = faces[first.face[on_body]]
        weights = _barycentric(points[on_body], vertices[0][triangles])
        points[on_body] = np.einsum("nk,nkd->nd", weights, vertices[1][triangles])
    seen = following.to_camera(points)
    seen[sky] = rays[sky] @ following.R_wc  # directions: the camera's rotation only
    ahead = seen[..., 2] > 1e-6
    pixels = following.project(np.where(ahead[..., None], seen, 1.0))
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    flow = np.stack([pixels[..., 0] - u, pixels[..., 1] - v], axis=-1)
    column, row = np.floor(pixels[..., 0]).astype(np.int64), np.floor(pixels[..., 1]).astype(np.int64)
    inside = ahead & (column >= 0) & (column < width) & (row >= 0) & (row < height)
    # The farthest of the four pixel centres around the point: surfaces seen at a grazing angle change
    # depth a lot from one pixel to the next, occluders cover all four.
    left = np.clip(np.floor(pixels[..., 0] - 0.5).astype(np.int64), 0, width - 2)
    top = np.clip(np.floor(pixels[..., 1] - 0.5).astype(np.int64), 0, height - 2)
    target = np.full((height, width), np.nan)
    l, t = left[inside], top[inside]
    target[inside] = np.maximum.reduce([second.depth[t, l], second.depth[t, l + 1], second.depth[t + 1, l],
                                        second.depth[t + 1, l + 1]])
    with np.errstate(invalid="ignore"):
        sky_there = np.zeros((height, width), bool)
        sky_there[inside] = ~np.isfinite(second.depth[row[inside], column[inside]])
        visible = np.where(sky, sky_there, seen[..., 2] <= target * (1 + HIDDEN_TOLERANCE))
    flow[~(inside & visible)] = np.nan
    return flow.astype(np.float32)
