"""Rigid transforms as 4x4 matrices (..., 4, 4) and their Lie algebra, batched over leading axes.

A tangent vector xi = (v, w) (..., 6) holds the translation part first, then the rotation vector.
Updates are left-multiplied: T <- exp(xi) @ T, so `adjoint(T)` satisfies
T @ exp(xi) = exp(adjoint(T) @ xi) @ T.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

_SMALL_ANGLE = 1e-4  # below this angle (rad) the series expansions replace the closed forms


def hat(w: np.ndarray) -> np.ndarray:
    """Skew-symmetric matrices (..., 3, 3) with hat(w) @ x = cross(w, x)."""
    w = np.asarray(w, float)
    zero = np.zeros(w.shape[:-1])
    x, y, z = w[..., 0], w[..., 1], w[..., 2]
    return np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)


def so3_exp(w: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3)."""
    w = np.asarray(w, float)
    return Rotation.from_rotvec(w.reshape(-1, 3)).as_matrix().reshape(*w.shape[:-1], 3, 3)


def so3_log(R: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) of rotation matrices (..., 3, 3)."""
    R = np.asarray(R, float)
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(*R.shape[:-2], 3)


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 transforms (..., 4, 4) from rotations (..., 3, 3) and translations (..., 3)."""
    R, t = np.asarray(R, float), np.asarray(t, float)
    T = np.zeros(np.broadcast_shapes(R.shape[:-2], t.shape[:-1]) + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def inverse(T: np.ndarray) -> np.ndarray:
    """Inverse rigid transforms."""
    R_t = np.swapaxes(T[..., :3, :3], -1, -2)
    return make_pose(R_t, -(R_t @ T[..., :3, 3:4])[..., 0])


def _coefficients(theta: np.ndarray):
    """sin(t)/t, (1 - cos t)/t^2 and (t - sin t)/t^3, with series near zero."""
    small = theta < _SMALL_ANGLE
    safe = np.where(small, 1.0, theta)
    t2 = theta**2
    a = np.where(small, 1.0 - t2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - t2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    c = np.where(small, 1.0 / 6.0 - t2 / 120.0, (safe - np.sin(safe)) / safe**3)
    return a, b, c


def se3_exp(xi: np.ndarray) -> np.ndarray:
    """Transforms (..., 4, 4) of tangent vectors (v, w) (..., 6)."""
    xi = np.asarray(xi, float)
    v, w = xi[..., :3], xi[..., 3:]
    theta = np.linalg.norm(w, axis=-1)
    _, b, c = _coefficients(theta)
    W = hat(w)
    V = np.eye(3) + b[..., None, None] * W + c[..., None, None] * (W @ W)
    return make_pose(so3_exp(w), (V @ v[..., None])[..., 0])


def se3_log(T: np.ndarray) -> np.ndarray:
    """Tangent vectors (v, w) (..., 6) of transforms (..., 4, 4); inverse of `se3_exp`."""
    w = so3_log(T[..., :3, :3])
    theta = np.linalg.norm(w, axis=-1)
    a, b, _ = _coefficients(theta)
    small = theta < _SMALL_ANGLE
    safe = np.where(small, 1.0, theta)
    d = np.where(small, 1.0 / 12.0 + theta**2 / 720.0, (1.0 - a / (2.0 * np.where(small, 1.0, b))) / safe**2)
    W = hat(w)
    V_inv = np.eye(3) - 0.5 * W + d[..., None, None] * (W @ W)
    return np.concatenate([(V_inv @ T[..., :3, 3:4])[..., 0], w], axis=-1)


def adjoint(T: np.ndarray) -> np.ndarray:
    """Adjoint matrices (..., 6, 6) of transforms, for tangent vectors ordered (v, w)."""
    R, t = T[..., :3, :3], T[..., :3, 3]
    out = np.zeros(T.shape[:-2] + (6, 6))
    out[..., :3, :3] = R
    out[..., :3, 3:] = hat(t) @ R
    out[..., 3:, 3:] = R
    return out


def interpolate(T0: np.ndarray, T1: np.ndarray, alpha) -> np.ndarray:
    """The transform a fraction `alpha` of the way from T0 to T1 along the geodesic exp(alpha log(T1 T0^-1)) T0."""
    alpha = np.asarray(alpha, float)
    step = se3_log(T1 @ inverse(T0))
    return se3_exp(alpha[..., None] * step) @ T0
