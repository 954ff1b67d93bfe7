"""The metric scale of an up-to-scale reconstruction from a metric depth map, as TRAM fits it
(`est_scale_hybrid`): on the pixels that are usable (no people, confident reconstruction) and near (both
depths under `far` metres once scaled), the median ratio of metric to reconstructed depth, re-taken ten
times as the near set changes with it, then refined by a robust least-squares fit under the Geman-McClure
penalty. `tests/test_depth_scale.py` checks it against TRAM's code on synthetic depth pairs."""

from __future__ import annotations

import numpy as np

FAR_M = 10.0  # metres: farther depths are too uncertain for the metric networks
SIGMA_M = 0.5  # the Geman-McClure penalty's scale (metres)
MEDIAN_ROUNDS = 10


def geman_mcclure(residual: np.ndarray, sigma: float) -> np.ndarray:
    squared = residual**2
    return sigma**2 * squared / (sigma**2 + squared)


def fit_depth_scale(slam_depth: np.ndarray, metric_depth: np.ndarray, usable: np.ndarray,
                    far: float = FAR_M, sigma: float = SIGMA_M) -> float | None:
    """Metres per reconstruction unit of one keyframe: `slam_depth` and `metric_depth` (H, W) on the same
    grid, `usable` (H, W) bool; None where no pixel is near and usable."""
    from scipy.optimize import minimize

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = metric_depth / slam_depth
    metric_near = usable & (metric_depth > 0) & (metric_depth < far)
    if not metric_near.any():
        return None
    scale = float(np.median(ratio[metric_near]))
    for _ in range(MEDIAN_ROUNDS):
        scaled = slam_depth * scale
        near = metric_near & (scaled > 0) & (scaled < far)
        if not near.any():
            return None
        scale = float(np.median(ratio[near]))
    reconstructed, metric = slam_depth[near].astype(np.float64), metric_depth[near].astype(np.float64)

    def energy(x):
        residual = reconstructed * x[0] - metric
        value = geman_mcclure(residual, sigma).mean()
        slope = 2 * sigma**4 * residual / (sigma**2 + residual**2) ** 2
        return value, np.array([(slope * reconstructed).mean()])

    return float(minimize(energy, [scale], jac=True, method="BFGS").x[0])
