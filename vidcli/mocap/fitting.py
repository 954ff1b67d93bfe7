"""Fit a body model to one track's BlazePose keypoints (SMPLify-style, without learned priors).

Unknowns: the shape (free parameters, shared by the track), per-frame local joint rotations and the
pelvis position in the camera frame. Energy: robust agreement of the model's landmarks with the
metric root-relative 3D landmarks and with the 2D keypoints reprojected through K (both weighted by
visibility), a pull of each joint towards its rest
rotation (strongest where landmarks say little: spine, neck, collars, hands) and of the shape towards
the average. Initialisation: the torso orientation by a Kabsch fit, each limb segment swung onto its
observed direction, then the pelvis placed by linear least squares on the reprojection; L-BFGS refines
everything together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vidcli.body.models import BodyModel, pose_numpy
from vidcli.body.skeletons import BLAZEPOSE_33, SMPL_24, SMPL_24_PARENTS
from vidcli.mocap.options import FitOptions
from vidcli.mocap.objectives import (HIP_LANDMARKS, Observations, PoseParameters, landmark3d_term, minimise,
                                     project, reprojection_term, rotation_prior)

ANNEALING = (4.0, 1.0)  # the first solve's robust scales are multiplied by each in turn, one solve each
_TORSO = [BLAZEPOSE_33.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
# (joint, landmark at the joint, landmark its segment points to), parents before children.
_SEGMENTS = [
    (SMPL_24.index(f"{side}_{joint}"), BLAZEPOSE_33.index(f"{side}_{start}"),
     BLAZEPOSE_33.index(f"{side}_{end}"))
    for joint, start, end in (("hip", "hip", "knee"), ("knee", "knee", "ankle"),
                              ("ankle", "heel", "foot_index"), ("shoulder", "shoulder", "elbow"),
                              ("elbow", "elbow", "wrist"))
    for side in ("left", "right")
]
# Weight of the pull towards the rest rotation, per joint: joints no landmark pins down get more.
_WEAK = {"spine1": 4.0, "spine2": 4.0, "spine3": 4.0, "neck": 2.0, "left_collar": 4.0, "right_collar": 4.0,
         "left_hand": 1.0, "right_hand": 1.0, "left_foot": 1.0, "right_foot": 1.0}
JOINT_PRIOR = np.array([0.0 if name == "pelvis" else _WEAK.get(name, 0.1) for name in SMPL_24])


@dataclass
class TrackFit:
    """A fitted track: `frames` (F,), shape `free` (S,), `local` (F, 24, 3, 3), `root` (F, 3) pelvis in
    the camera frame, `joints` (F, 24, 3) and `landmarks` (F, 33, 3) camera frame, per-frame mean errors."""

    frames: np.ndarray
    free: np.ndarray
    local: np.ndarray
    root: np.ndarray
    joints: np.ndarray
    landmarks: np.ndarray
    error_px: np.ndarray
    error_3d_m: np.ndarray


def fit_track(model: BodyModel, frames: np.ndarray, keypoints2d: np.ndarray, world3d: np.ndarray,
              K: np.ndarray, options: FitOptions, start: tuple | None = None) -> TrackFit:
    """Fit `model` to one track: `frames` (F,) sorted, `keypoints2d` (F, 33, 3), `world3d` (F, 33, 3).

    Three solves: pose and shape on the 3D landmarks alone (with annealed robust scales), then the
    pelvis placed on the reprojection, then everything on all terms. `start` = (free (S,), local
    (F, 24, 3, 3), root (F, 3)), a regressor's bodies, replaces the first two: only the last solve runs.
    """
    obs = Observations.from_arrays(keypoints2d, world3d, model.landmark_valid, options.occluded_3d,
                                   options.feet_3d)
    K_t = torch.from_numpy(np.asarray(K, float))
    joint_prior = torch.from_numpy(JOINT_PRIOR)
    free_scale = torch.from_numpy(model.free_scale)

    def energy(params: PoseParameters, scale: float, with_2d: bool):
        local_now = params.local()
        landmarks = params.pose(model, local_now)[2]
        data = landmark3d_term(landmarks, obs, scale * options.sigma_m).sum()
        if with_2d:
            data = data + reprojection_term(landmarks, obs, K_t, scale * options.sigma_px).sum()
        prior = options.pose_prior * rotation_prior(local_now, joint_prior)
        shape = options.shape_prior * ((params.free / free_scale) ** 2).sum()
        return data * scale**2 + prior + shape

    if start is None:
        free = np.zeros(len(model.shape_labels))
        params = PoseParameters(initial_rotations(model, free, obs), np.zeros((len(frames), 3)), free)
        for scale in ANNEALING:
            minimise([params.delta, params.free], lambda: energy(params, scale, False), options.iterations)
        with torch.no_grad():
            local, free = params.local().numpy(), params.free.numpy().copy()
        start = free, local, initial_root(model, free, local, obs, K)
    free, local, root = start
    params = PoseParameters(local, root, free)
    minimise([params.delta, params.root, params.free], lambda: energy(params, 1.0, True), options.iterations)
    return _track_fit(model, frames, params, obs, K_t)


def posed_track(model: BodyModel, frames: np.ndarray, free: np.ndarray, local: np.ndarray, root: np.ndarray,
                keypoints2d: np.ndarray, world3d: np.ndarray, K: np.ndarray, options: FitOptions) -> TrackFit:
    """The `TrackFit` of given bodies (a regressor's, unrefined), with their errors against the keypoints."""
    obs = Observations.from_arrays(keypoints2d, world3d, model.landmark_valid, options.occluded_3d,
                                   options.feet_3d)
    K_t = torch.from_numpy(np.asarray(K, float))
    return _track_fit(model, frames, PoseParameters(local, root, free), obs, K_t)


def _track_fit(model: BodyModel, frames: np.ndarray, params: PoseParameters, obs: Observations,
               K_t: torch.Tensor) -> TrackFit:
    with torch.no_grad():
        local_fit = params.local()
        _, joints, landmarks = params.pose(model, local_fit)
        error_px = _weighted_mean(torch.linalg.norm(project(landmarks, K_t) - obs.uv, dim=-1), obs.weight_2d)
        relative = landmarks - landmarks[:, HIP_LANDMARKS].mean(1, keepdim=True)
        error_3d = _weighted_mean(torch.linalg.norm(relative - obs.world3d, dim=-1), obs.weight_3d)
    return TrackFit(np.asarray(frames), params.free.detach().numpy().copy(), local_fit.numpy(),
                    params.root.detach().numpy().copy(), joints.numpy(), landmarks.numpy(),
                    error_px.numpy(), error_3d.numpy())


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    total = weights.sum(-1)
    return torch.where(total > 0, (values * weights).sum(-1) / total.clamp(min=1e-12), torch.nan)


def initial_rotations(model: BodyModel, free: np.ndarray, obs: Observations) -> np.ndarray:
    """Local rotations (F, 24, 3, 3): the torso turned onto the observed one, then each limb segment
    swung (smallest rotation) onto its observed direction; the rest stays in the rest pose."""
    shape = model.shape(free)
    target = obs.world3d.numpy()
    weight = obs.weight_3d.numpy()
    frames = len(target)
    local = np.tile(np.eye(3), (frames, len(SMPL_24), 1, 1))
    rest_torso = pose_numpy(model, shape, local[:1], np.zeros((1, 3)))[2][0, _TORSO]
    local[:, 0] = _kabsch(rest_torso - rest_torso.mean(0), target[:, _TORSO], weight[:, _TORSO])
    for joint, start, end in _SEGMENTS:
        rotations, _, landmarks = pose_numpy(model, shape, local, np.zeros((frames, 3)))
        observed = target[:, end] - target[:, start]
        posed = landmarks[:, end] - landmarks[:, start]
        usable = (weight[:, start] > 0) & (weight[:, end] > 0)
        swing = np.where(usable[:, None, None], _smallest_rotation(posed, observed), np.eye(3))
        parent = rotations[:, SMPL_24_PARENTS[joint]]
        local[:, joint] = np.swapaxes(parent, -1, -2) @ swing @ parent @ local[:, joint]
    return local


def initial_root(model: BodyModel, free: np.ndarray, local: np.ndarray, obs: Observations,
                 K: np.ndarray) -> np.ndarray:
    """Pelvis positions (F, 3) placing the posed landmarks where they best reproject (linear least
    squares per frame; the frames that are not `placeable` are interpolated between those that are)."""
    points = pose_numpy(model, model.shape(free), local, np.zeros((len(local), 3)))[2]
    uv, weight = obs.uv.numpy(), obs.weight_2d.numpy()
    a = (uv[..., 0] - K[0, 2]) / K[0, 0]
    b = (uv[..., 1] - K[1, 2]) / K[1, 1]
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    one, zero = np.ones_like(a), np.zeros_like(a)
    # (X + tx) = a (Z + tz) and (Y + ty) = b (Z + tz), linear in t.
    rows = np.concatenate([np.stack([one, zero, -a], -1), np.stack([zero, one, -b], -1)], axis=1)
    rhs = np.concatenate([a * z - x, b * z - y], axis=1)
    w = np.sqrt(np.concatenate([weight, weight], axis=1))[..., None]
    root = np.full((len(points), 3), np.nan)
    solvable = placeable(obs.weight_2d.numpy())
    for f in np.flatnonzero(solvable):
        root[f] = np.linalg.lstsq(rows[f] * w[f], rhs[f] * w[f, :, 0], rcond=None)[0]
    index = np.arange(len(root))
    for axis in range(3):
        root[:, axis] = np.interp(index, index[solvable], root[solvable, axis])
    root[:, 2] = np.maximum(root[:, 2], 0.5)
    return root


def placeable(weight_2d: np.ndarray) -> np.ndarray:
    """Frames (F,) with at least 3 visible keypoints, which fix the pelvis position by themselves;
    a track needs one to be fitted."""
    return (weight_2d > 0).sum(-1) >= 3


def _kabsch(source: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-frame rotations (F, 3, 3) turning `source` (P, 3) (centred) onto `target` (F, P, 3), weighted."""
    total = weight.sum(1, keepdims=True)
    mean = (weight[..., None] * target).sum(1) / np.maximum(total, 1e-9)
    centred = target - mean[:, None]
    covariance = np.einsum("fp,fpa,pb->fab", weight, centred, source)
    u, _, vt = np.linalg.svd(covariance)
    flip = np.ones((len(target), 3))
    flip[:, 2] = np.sign(np.linalg.det(u @ vt))
    rotation = u @ (flip[..., None] * vt)
    return np.where((total[:, 0] > 0)[:, None, None], rotation, np.eye(3))


def _smallest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row smallest rotations (F, 3, 3) turning direction a (F, 3) onto direction b (F, 3)."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    axis = np.cross(a, b)
    cos = (a * b).sum(-1)
    skew = np.zeros(a.shape[:-1] + (3, 3))
    skew[..., 0, 1], skew[..., 0, 2], skew[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    skew -= np.swapaxes(skew, -1, -2)
    opposite = cos < -0.999  # no unique smallest rotation: left to the optimiser
    scale = 1.0 / np.where(opposite, 1.0, 1.0 + cos)
    rotation = np.eye(3) + skew + skew @ skew * scale[..., None, None]
    return np.where(opposite[..., None, None], np.eye(3), rotation)
