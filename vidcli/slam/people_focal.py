"""A static camera's focal length from the people in view, by fitted single-view metrology.

A still camera gives the flow-based sweep nothing to measure, but people do: they stand upright on one
ground plane, so in every frame a person's soles lie on that plane and their hips and shoulders lie
above the soles along gravity, at heights that stay the person's own. Seen at several depths, those
image points fix the horizon (where the planes of soles, hips and shoulders meet) and the vertical
vanishing point (where the people's axes meet), and the two fix the focal length (f^2 = the product of
their distances from the principal point). Rather than intersecting noisy lines, one robust least
squares fits everything at once: f, the camera's pitch and roll, each person's hip and shoulder heights
(in units of the camera's height above the ground, which sets the scale) and each row's ground position.
The covariance of log f at the solution says whether the people moved enough in depth to pin it down:
someone walking across the view at one depth leaves f undetermined, and then no focal is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from vidcli.body.skeletons import BLAZEPOSE_33

_SOLES = [BLAZEPOSE_33.index(f"{side}_{part}") for side in ("left", "right")
          for part in ("heel", "foot_index")]
_HIPS = [BLAZEPOSE_33.index(f"{side}_hip") for side in ("left", "right")]
_SHOULDERS = [BLAZEPOSE_33.index(f"{side}_shoulder") for side in ("left", "right")]
NOISE_PX = 3.0  # keypoint noise the residuals are scaled by; larger ones count robustly (soft L1)
MAX_ROWS = 400  # rows (person and frame) fitted at most, spread evenly over the video
MIN_ROWS = 20


@dataclass
class PeopleFocal:
    """`focal` in pixels, `relative_std` its standard deviation / focal (from the fit's covariance),
    the camera's `pitch_deg` (positive: looking down), and the `rows` used."""

    focal: float
    relative_std: float
    pitch_deg: float
    rows: int


def upright_points(keypoints2d: np.ndarray, min_visibility: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per row (N, 33, 3) keypoints: the image points (N, 3, 2) of the soles' mean, the hips' midpoint
    and the shoulders' midpoint, and which rows (N,) show all of them with `min_visibility`."""
    visible = np.nan_to_num(keypoints2d[..., 2]) >= min_visibility
    groups = (_SOLES, _HIPS, _SHOULDERS)
    points = np.stack([keypoints2d[:, group, :2].mean(axis=1) for group in groups], axis=1)
    usable = np.all([visible[:, group].all(axis=1) for group in groups], axis=0)
    return points, usable & np.isfinite(points).all(axis=(1, 2))


def _rotation(pitch: float, roll: float) -> np.ndarray:
    """Camera-from-level rotation: a level camera (y down along gravity) pitched down, then rolled."""
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rz = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return rz @ rx


def fit_people_focal(points: np.ndarray, person: np.ndarray, width: int, height: int,
                     principal: tuple[float, float] | None = None) -> PeopleFocal | None:
    """Fit the focal length to upright people: `points` (N, 1 + U, 2) each row's ground point (the
    soles) then U points straight above it at heights of the person's own (hips, shoulders: U = 2, as
    `upright_points` gives), `person` (N,) whose they are. None when the rows are too few or the fit is
    degenerate (people seen at one depth only leave the focal free; see `PeopleFocal.relative_std`)."""
    if len(points) > MAX_ROWS:
        keep = np.unique(np.linspace(0, len(points) - 1, MAX_ROWS).round().astype(int))
        points, person = points[keep], person[keep]
    if len(points) < MIN_ROWS:
        return None
    cx, cy = principal or (width / 2, height / 2)
    people, index = np.unique(person, return_inverse=True)
    count, uppers = len(people), points.shape[1] - 1
    f0 = float(max(width, height))
    rays = np.concatenate([points - [cx, cy], np.ones(points.shape[:2] + (1,))], axis=-1)  # (N, 3, 3)

    def residuals(x: np.ndarray) -> np.ndarray:
        focal = np.exp(x[0])
        R = _rotation(x[1], x[2])
        lift = x[3:].reshape(count, uppers)[index]  # (N, uppers) heights above the ground
        # The sole's ray, in the level frame, meets the ground (y = 1) at the row's ground point.
        sole = (rays[:, 0] * [1 / focal, 1 / focal, 1]) @ R
        along = 1.0 / np.maximum(sole[:, 1], 1e-3)
        ground = sole * along[:, None]
        above = np.repeat(ground[:, None], uppers, axis=1)
        above[..., 1] = 1.0 - lift
        cam = above @ R.T
        z = np.maximum(cam[..., 2], 1e-3)
        projected = focal * cam[..., :2] / z[..., None]
        below_horizon = np.where(sole[:, 1] > 1e-3, 0.0, 10.0)[:, None, None]
        return ((projected - rays[:, 1:, :2]) / NOISE_PX + below_horizon).ravel()

    x0 = np.concatenate([[np.log(f0), 0.1, 0.0], np.tile(np.linspace(0.6, 0.9, uppers), count)])
    lower = np.concatenate([[np.log(f0 / 5), -1.2, -0.6], np.full(uppers * count, 0.05)])
    upper = np.concatenate([[np.log(f0 * 5), 1.2, 0.6], np.full(uppers * count, 3.0)])
    fit = least_squares(residuals, x0, loss="soft_l1", f_scale=1.0, bounds=(lower, upper), x_scale="jac")
    return PeopleFocal(float(np.exp(fit.x[0])), log_std(fit, 0), float(np.degrees(fit.x[1])), len(points))


def log_std(fit, index: int) -> float:
    """The standard deviation of parameter `index` (a log focal: the focal's relative one) of a
    `least_squares` result, from its covariance with the residuals' own variance; inf where some
    direction is not constrained at all."""
    information = fit.jac.T @ fit.jac
    if np.linalg.cond(information) > 1e12:
        return np.inf
    dof = max(len(fit.fun) - len(fit.x), 1)
    return float(np.sqrt(max(np.linalg.inv(information)[index, index] * 2 * fit.cost / dof, 0.0)))
