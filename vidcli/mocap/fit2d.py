"""Fit a body model to one track's 2D keypoints alone (no metric 3D landmarks), SMPLify-style.

Pixels fix each limb's direction across the image but not towards the camera, and the body's depth
only through its size. So the fit adds what people are like: a pose prior fitted on motion capture
with joint limits (`vidcli.mocap.pose_prior`), the shape kept near the average adult (whose metric size
then sets the depth), and smooth motion over the track.

1. **Facing.** A body seen in 2D can face the camera or turn away, and a local search from the wrong
   side stays wrong. Every frame is fitted from `HEADINGS` upright starting orientations (average
   shape, no temporal terms, all frames and headings in one batch); a Viterbi pass then picks one
   solution per frame, trading each one's energy against the turn from the previous frame's.
2. **Track.** From those poses, pose, pelvis and shape are refined together with the temporal term
   (the joints' acceleration).
"""

from __future__ import annotations

import numpy as np
import torch

from vidcli.body.models import BodyModel
from vidcli.body.skeletons import SMPL_24
from vidcli.mocap.fitting import TrackFit, initial_root, posed_track
from vidcli.mocap.objectives import (Observations, PoseParameters, acceleration_term, minimise,
                                     reprojection_term)
from vidcli.mocap.options import FitOptions
from vidcli.mocap.pose_prior import PosePrior, load_pose_prior

HEADINGS = 8  # upright starting orientations per frame, evenly spaced around the vertical
# The whole track's solve (times `iterations`): it couples every frame and converges slower.
TRACK_SOLVE_ITERATIONS = 3
FACING_CHUNK = 240  # frames fitted together from every heading
TURN_SIGMA = np.radians(30.0)  # change of the pelvis orientation between frames costing one unit
# The body's rest pose (y up, facing +z) seen upright by a camera (y down, z forward), facing it.
_FACING_CAMERA = np.diag([1.0, -1.0, -1.0])


def fit_track_2d(model: BodyModel, frames: np.ndarray, keypoints2d: np.ndarray, K: np.ndarray,
                 options: FitOptions, prior: PosePrior | None = None) -> TrackFit:
    """Fit `model` to one track's BlazePose-33 pixels `keypoints2d` (F, 33, 3) (NaN or visibility 0
    where the layout has no such point), `frames` (F,) sorted; the `TrackFit` has no 3D error (NaN)."""
    prior = prior or load_pose_prior()
    frames = np.asarray(frames)
    no_3d = np.full(keypoints2d.shape, np.nan)
    obs = Observations.from_arrays(keypoints2d, no_3d, model.landmark_valid, 0.0, False)
    K_t = torch.from_numpy(np.asarray(K, float))
    free = np.zeros(len(model.shape_labels))
    orientation, rotvecs, root = _best_facing(model, obs, K, K_t, free, options, prior)
    params = _parameters(orientation, rotvecs, root, free)
    consecutive = torch.from_numpy(np.diff(frames) == 1)
    free_scale = torch.from_numpy(model.free_scale)

    def energy():
        local_now = params.local()
        _, joints, landmarks = params.pose(model, local_now)
        data = reprojection_term(landmarks, obs, K_t, options.sigma_px_2d).sum()
        pose = options.pose_prior_2d * prior.energy(_rotvecs(params)).sum()
        shape = options.shape_prior * ((params.free / free_scale) ** 2).sum()
        smooth = acceleration_term(joints, consecutive, options.accel_sigma_2d)
        return data + pose + shape + smooth

    minimise([params.delta, params.root, params.free], energy, TRACK_SOLVE_ITERATIONS * options.iterations)
    with torch.no_grad():
        local_fit, free_fit = params.local().numpy(), params.free.numpy().copy()
        root_fit = params.root.numpy().copy()
    return posed_track(model, frames, free_fit, local_fit, root_fit, keypoints2d, no_3d, K, options)


def _parameters(orientation: np.ndarray, rotvecs: np.ndarray, root: np.ndarray,
                free: np.ndarray) -> PoseParameters:
    """Pose parameters whose joints 1-23 have the rest pose as base, so that their deltas are the local
    rotation vectors the prior reads (`_rotvecs`): pelvis `orientation` (F, 3, 3), `rotvecs` (F, 23, 3)."""
    base = np.tile(np.eye(3), (len(orientation), len(SMPL_24), 1, 1))
    base[:, 0] = orientation
    params = PoseParameters(base, root, free)
    with torch.no_grad():
        params.delta[:, 1:] = torch.from_numpy(np.asarray(rotvecs, float))
    return params


def _rotvecs(params: PoseParameters) -> torch.Tensor:
    return params.delta[:, 1:]


def _best_facing(model: BodyModel, obs: Observations, K: np.ndarray, K_t: torch.Tensor, free: np.ndarray,
                 options: FitOptions, prior: PosePrior) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, the pelvis orientation (F, 3, 3), local rotation vectors of joints 1-23 (F, 23, 3) and
    pelvis position (F, 3) of the fits from each starting heading, one chosen per frame (Viterbi). The
    frames are independent here, so they are fitted FACING_CHUNK at a time (bounded memory)."""
    frames = len(obs.uv)
    parts = [_facing_candidates(model, Observations(*(field[start:start + FACING_CHUNK] for field in (
        obs.uv, obs.weight_2d, obs.world3d, obs.weight_3d))), K, K_t, free, options, prior)
        for start in range(0, frames, FACING_CHUNK)]
    cost, orientation, rotvecs, root = (np.concatenate(arrays, axis=1) for arrays in zip(*parts))
    chosen = _viterbi(cost, orientation)
    index = np.arange(frames)
    return orientation[chosen, index], rotvecs[chosen, index], root[chosen, index]


def _facing_candidates(model: BodyModel, obs: Observations, K: np.ndarray, K_t: torch.Tensor,
                       free: np.ndarray, options: FitOptions, prior: PosePrior):
    """Each frame fitted from each starting heading, without temporal terms: per heading and frame, the
    energy (H, F), pelvis orientation (H, F, 3, 3), rotation vectors (H, F, 23, 3) and pelvis (H, F, 3)."""
    frames = len(obs.uv)
    headings = np.arange(HEADINGS) * 2 * np.pi / HEADINGS
    turns = np.stack([_FACING_CAMERA @ _yaw(h) for h in headings])  # (H, 3, 3)
    orientation = np.repeat(turns, frames, axis=0)
    rest = np.zeros((HEADINGS * frames, len(SMPL_24) - 1, 3))
    local = _parameters(orientation, rest, np.zeros((len(orientation), 3)), free).local().detach().numpy()
    batch = Observations(obs.uv.repeat(HEADINGS, 1, 1), obs.weight_2d.repeat(HEADINGS, 1),
                         obs.world3d.repeat(HEADINGS, 1, 1), obs.weight_3d.repeat(HEADINGS, 1))
    params = _parameters(orientation, rest, initial_root(model, free, local, batch, K), free)

    def per_frame():
        local_now = params.local()
        landmarks = params.pose(model, local_now)[2]
        return (reprojection_term(landmarks, batch, K_t, options.sigma_px_2d)
                + options.pose_prior_2d * prior.energy(_rotvecs(params)))

    minimise([params.delta, params.root], lambda: per_frame().sum(), options.iterations)
    with torch.no_grad():
        return (per_frame().numpy().reshape(HEADINGS, frames),
                params.local()[:, 0].numpy().reshape(HEADINGS, frames, 3, 3),
                _rotvecs(params).numpy().reshape(HEADINGS, frames, len(SMPL_24) - 1, 3),
                params.root.numpy().reshape(HEADINGS, frames, 3))


def _viterbi(cost: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """The candidate per frame (F,) minimising the summed `cost` (H, F) plus the squared turn of the
    pelvis `orientation` (H, F, 3, 3) between consecutive frames in units of TURN_SIGMA."""
    heads, frames = cost.shape
    total = cost[:, 0].copy()
    back = np.zeros((heads, frames), int)
    for f in range(1, frames):
        relative = np.einsum("paj,cak->pcjk", orientation[:, f - 1], orientation[:, f])  # (prev, cur, 3, 3)
        cos = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
        step = total[:, None] + (np.arccos(cos) / TURN_SIGMA) ** 2
        back[:, f] = np.argmin(step, axis=0)
        total = step[back[:, f], np.arange(heads)] + cost[:, f]
    chosen = np.empty(frames, int)
    chosen[-1] = int(np.argmin(total))
    for f in range(frames - 1, 0, -1):
        chosen[f - 1] = back[chosen[f], f]
    return chosen


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

