"""Energy terms shared by the body fit and the world optimisation (torch, float64), and the solver.

Every data term is a robust (Geman-McClure) penalty of residuals measured in units of their scale
sigma, so terms in pixels and in metres add up with plain weights: rho(r) = (r/s)^2 / (1 + (r/s)^2)
behaves like (r/s)^2 for small residuals and saturates at 1 for outliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vidcli.body.kinematics import axis_angle_to_matrix, forward_kinematics, skin_points
from vidcli.body.skeletons import BLAZEPOSE_33

HIP_LANDMARKS = (BLAZEPOSE_33.index("left_hip"), BLAZEPOSE_33.index("right_hip"))
# Per foot (left, right): the sole landmarks (heel, toe).
SOLES = [[BLAZEPOSE_33.index(f"{side}_heel"), BLAZEPOSE_33.index(f"{side}_foot_index")]
         for side in ("left", "right")]


def geman_mcclure(squared: torch.Tensor, sigma: float) -> torch.Tensor:
    """Robust penalty of squared residuals, in units of sigma^2 (about r^2/sigma^2 when small, at most 1)."""
    scaled = squared / sigma**2
    return scaled / (1.0 + scaled)


@dataclass
class Observations:
    """One track's keypoints over F frames as tensors, with per-landmark weights (0 where unusable).

    `uv` (F, 33, 2) pixels, `weight_2d` (F, 33): the landmark's visibility; `world3d` (F, 33, 3) metres,
    root-relative, camera axes, `weight_3d` (F, 33): `occluded_3d` at visibility 0 rising to 1; 0 for the
    heels and toes (`SOLES`) unless `feet_3d`.
    """

    uv: torch.Tensor
    weight_2d: torch.Tensor
    world3d: torch.Tensor
    weight_3d: torch.Tensor

    @classmethod
    def from_arrays(cls, keypoints2d: np.ndarray, world3d: np.ndarray, valid: np.ndarray,
                    occluded_3d: float, feet_3d: bool) -> "Observations":
        visibility = np.clip(np.nan_to_num(keypoints2d[..., 2]), 0.0, 1.0)
        finite_2d = np.isfinite(keypoints2d[..., :2]).all(-1) & valid
        finite_3d = np.isfinite(world3d).all(-1) & valid
        weight_3d = (occluded_3d + (1.0 - occluded_3d) * visibility) * finite_3d
        if not feet_3d:
            weight_3d[..., np.ravel(SOLES)] = 0.0
        return cls(torch.from_numpy(np.nan_to_num(keypoints2d[..., :2]).astype(float)),
                   torch.from_numpy(visibility * finite_2d),
                   torch.from_numpy(np.nan_to_num(world3d).astype(float)),
                   torch.from_numpy(weight_3d))


def project(points_cam: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pixels (..., 2) of camera-frame points (..., 3); depths are kept above 1 cm."""
    z = points_cam[..., 2:3].clamp(min=0.01)
    return points_cam[..., :2] / z * torch.stack([K[0, 0], K[1, 1]]) + K[:2, 2]


def reprojection_term(landmarks_cam: torch.Tensor, obs: Observations, K: torch.Tensor,
                      sigma_px: float) -> torch.Tensor:
    """Per-frame robust 2D error (F,) of camera-frame landmarks (F, 33, 3) against the keypoints."""
    squared = ((project(landmarks_cam, K) - obs.uv) ** 2).sum(-1)
    return (obs.weight_2d * geman_mcclure(squared, sigma_px)).sum(-1)


def landmark3d_term(landmarks_cam: torch.Tensor, obs: Observations, sigma_m: float) -> torch.Tensor:
    """Per-frame robust 3D error (F,) of landmarks in camera axes, both sides relative to their mid-hip."""
    relative = landmarks_cam - landmarks_cam[..., HIP_LANDMARKS, :].mean(-2, keepdim=True)
    squared = ((relative - obs.world3d) ** 2).sum(-1)
    return (obs.weight_3d * geman_mcclure(squared, sigma_m)).sum(-1)


def acceleration_term(points: torch.Tensor, consecutive: torch.Tensor, sigma_m: float) -> torch.Tensor:
    """Summed squared second differences of points (F, ..., 3), in units of sigma^2, over frames i whose
    neighbours i - 1 and i + 1 are consecutive (`consecutive` (F - 1,): frame i + 1 follows frame i)."""
    if len(points) < 3:
        return points.new_zeros(())
    accel = points[2:] - 2 * points[1:-1] + points[:-2]
    inside = (consecutive[1:] & consecutive[:-1]).to(points.dtype)
    squared = (accel**2).sum(-1).reshape(len(accel), -1).sum(-1)
    return (inside * squared).sum() / sigma_m**2


def rotation_prior(local: torch.Tensor, joint_weights: torch.Tensor) -> torch.Tensor:
    """Summed squared Frobenius distance of local rotations (F, 24, 3, 3) from the rest pose, weighted
    per joint."""
    eye = torch.eye(3, dtype=local.dtype)
    return (joint_weights * ((local - eye) ** 2).sum((-1, -2))).sum()


class PoseParameters:
    """Local rotations as a fixed base times exp(delta) (delta starts at zero), a root and free shape."""

    def __init__(self, base_local: np.ndarray, root: np.ndarray, free: np.ndarray):
        self.base = torch.from_numpy(np.asarray(base_local, float))
        self.delta = torch.zeros(self.base.shape[:-2] + (3,), dtype=torch.float64, requires_grad=True)
        self.root = torch.tensor(np.asarray(root, float), requires_grad=True)
        self.free = torch.tensor(np.asarray(free, float), requires_grad=True)

    def local(self) -> torch.Tensor:
        return self.base @ axis_angle_to_matrix(self.delta)

    def pose(self, model, local: torch.Tensor | None = None):
        """Rest joints, global rotations, joints (F, 24, 3) and landmarks (F, 33, 3) of the current values."""
        local = self.local() if local is None else local
        rest_joints, offsets = model.rest(self.free)
        rotations, joints = forward_kinematics(local, rest_joints, self.root)
        landmarks = skin_points(rotations, joints, offsets, torch.from_numpy(model.landmark_weights))
        return rotations, joints, landmarks


def minimise(parameters: list[torch.Tensor], energy, iterations: int) -> float:
    """Minimise `energy()` over `parameters` with L-BFGS (strong Wolfe line search); the final energy.

    Runs on one torch thread: the tensors are small, and more threads only add synchronisation.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _lbfgs(parameters, energy, iterations)
    finally:
        torch.set_num_threads(threads)


def _lbfgs(parameters: list[torch.Tensor], energy, iterations: int) -> float:
    optimiser = torch.optim.LBFGS(parameters, lr=1.0, max_iter=iterations, history_size=20,
                                  tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        value = energy()
        value.backward()
        return value

    optimiser.step(closure)
    with torch.no_grad():
        return float(energy())
