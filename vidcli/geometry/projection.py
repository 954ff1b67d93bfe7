"""Pinhole projection of points held as a pixel ray and an inverse depth, with Jacobians.

A point seen by camera i at pixel (u, v) with inverse depth rho is the homogeneous point
(x, y, 1, rho), where (x, y, 1) is the pixel's ray. Moved into camera j by T_ji = (R, t) it is
R @ (x, y, 1) + t * rho (up to the positive factor 1 / rho, which projection ignores), so points at
infinity (rho = 0) are handled like any other.
"""

from __future__ import annotations

import numpy as np

MIN_DEPTH = 1e-3  # points nearer than this (in units of the ray's z = 1) count as behind the camera


def pixel_rays(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Rays (..., 3) with z = 1 through pixel coordinates (..., 2)."""
    x = (pixels[..., 0] - K[0, 2]) / K[0, 0]
    y = (pixels[..., 1] - K[1, 2]) / K[1, 1]
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) of camera-frame points (..., 3) with positive z."""
    z = points[..., 2]
    return np.stack([K[0, 0] * points[..., 0] / z + K[0, 2], K[1, 1] * points[..., 1] / z + K[1, 2]], axis=-1)


def transform(T_ji: np.ndarray, rays: np.ndarray, inv_depth: np.ndarray) -> np.ndarray:
    """Points of camera i (rays (..., P, 3), inverse depths (..., P)) in camera j: R @ ray + t * rho."""
    return rays @ np.swapaxes(T_ji[..., :3, :3], -1, -2) + T_ji[..., None, :3, 3] * inv_depth[..., None]


def projection_jacobians(points: np.ndarray, inv_depth: np.ndarray, T_ji: np.ndarray, K: np.ndarray):
    """Jacobians of the projection of `points` = transform(T_ji, rays, inv_depth) (..., P, 3).

    Returns (J_pose (..., P, 2, 6), J_depth (..., P, 2)): derivatives of the pixel with respect to a
    left perturbation exp(xi) @ T_ji, xi = (v, w), and with respect to the inverse depth rho.
    With x = X/Z, y = Y/Z: the point moves by rho * v + w x (X, Y, Z) and the pixel by
    fx * [rho/Z, 0, -rho x/Z, -x y, 1 + x^2, -y] and fy * [0, rho/Z, -rho y/Z, -(1 + y^2), x y, x].
    """
    fx, fy = K[0, 0], K[1, 1]
    inv_z = 1.0 / points[..., 2]
    x, y = points[..., 0] * inv_z, points[..., 1] * inv_z
    rho_z = inv_depth * inv_z
    J_pose = np.zeros(points.shape[:-1] + (2, 6))
    J_pose[..., 0, 0] = fx * rho_z
    J_pose[..., 0, 2] = -fx * rho_z * x
    J_pose[..., 0, 3] = -fx * x * y
    J_pose[..., 0, 4] = fx * (1.0 + x * x)
    J_pose[..., 0, 5] = -fx * y
    J_pose[..., 1, 1] = fy * rho_z
    J_pose[..., 1, 2] = -fy * rho_z * y
    J_pose[..., 1, 3] = -fy * (1.0 + y * y)
    J_pose[..., 1, 4] = fy * x * y
    J_pose[..., 1, 5] = fy * x
    t = T_ji[..., None, :3, 3]
    J_depth = np.stack([fx * inv_z * (t[..., 0] - x * t[..., 2]), fy * inv_z * (t[..., 1] - y * t[..., 2])], -1)
    return J_pose, J_depth
