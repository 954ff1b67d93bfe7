"""Two-view geometry on rays (z = 1): relative rotation, essential-matrix and homography poses,
triangulation."""

from __future__ import annotations

import cv2
import numpy as np


def rotation_between(rays_a: np.ndarray, rays_b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The rotation R minimising sum w |dir_b - R dir_a|^2 over ray directions (Wahba's problem):
    the relative rotation of a camera that only turned, R = R_ba."""
    a = rays_a / np.linalg.norm(rays_a, axis=-1, keepdims=True)
    b = rays_b / np.linalg.norm(rays_b, axis=-1, keepdims=True)
    u, _, vt = np.linalg.svd((b * weight[:, None]).T @ a)
    return u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt


def essential_pose(rays_a: np.ndarray, rays_b: np.ndarray,
                   threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(R_ba, unit t_ba, inlier count) from the essential matrix fitted with RANSAC to corresponding
    rays; `threshold` is the inlier distance in ray units (pixels / focal)."""
    a = np.ascontiguousarray(rays_a[:, :2], np.float64)
    b = np.ascontiguousarray(rays_b[:, :2], np.float64)
    E, inliers = cv2.findEssentialMat(a, b, np.eye(3), method=cv2.RANSAC, prob=0.999, threshold=threshold)
    if E is None or E.shape != (3, 3):
        return np.eye(3), np.zeros(3), 0
    count, R, t, _ = cv2.recoverPose(E, a, b, np.eye(3), mask=inliers)
    return R, t[:, 0], int(count)


def homography_poses(rays_a: np.ndarray, rays_b: np.ndarray,
                     threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The poses (R_ba, unit t_ba) that the dominant plane's homography allows, fitted with RANSAC to
    corresponding rays (`threshold` as in `essential_pose`), with the plane in front of both cameras.

    A view dominated by one plane (a floor) fits the essential matrices of its true motion and of a
    twin motion, whose translation lies along the plane's normal, almost equally well, so RANSAC may
    return either; the homography's decompositions hold both.
    """
    a = np.ascontiguousarray(rays_a[:, :2], np.float64)
    b = np.ascontiguousarray(rays_b[:, :2], np.float64)
    H, inliers = cv2.findHomography(a, b, cv2.RANSAC, threshold)
    if H is None or inliers.sum() < 8:
        return []
    _, rotations, translations, normals = cv2.decomposeHomographyMat(H, np.eye(3))
    inside = inliers.ravel() > 0
    before, after = a[inside, None].astype(np.float32), b[inside, None].astype(np.float32)
    visible = cv2.filterHomographyDecompByVisibleRefpoints(rotations, normals, before, after)
    poses = []
    for index in [] if visible is None else visible.ravel():
        t = translations[index][:, 0]
        if np.linalg.norm(t) > 1e-9:
            poses.append((rotations[index], t / np.linalg.norm(t)))
    return poses


def triangulate(T_ba: np.ndarray, rays_a: np.ndarray, coords_b: np.ndarray, typical: float,
                min_parallax: float):
    """Inverse depths (P,) of rays of camera a that land on rays `coords_b` (P, 3, z = 1) of camera b,
    where T_ba = (R, t) moves points of a into b. NaN where the translation would move the image of a
    point at the `typical` inverse depth by less than `min_parallax` (ray units: pixels / focal), since
    noise then dominates, or where the point lies behind either camera.

    Solves, in least squares, (R ray + t rho) parallel to coords_b for rho.
    """
    R, t = T_ba[:3, :3], T_ba[:3, 3]
    rotated = rays_a @ R.T
    x, y = coords_b[:, 0], coords_b[:, 1]
    c = np.stack([t[0] - x * t[2], t[1] - y * t[2]], -1)
    d = np.stack([x * rotated[:, 2] - rotated[:, 0], y * rotated[:, 2] - rotated[:, 1]], -1)
    norm2 = (c**2).sum(-1)
    rho = (c * d).sum(-1) / np.maximum(norm2, 1e-12)
    depth_b = rotated[:, 2] + t[2] * rho
    valid = (np.sqrt(norm2) * typical > min_parallax) & (rho > 0) & (depth_b > 0)
    return np.where(valid, rho, np.nan)
