"""Metric scale of the camera trajectory from the people in the video.

For each person detection, the metric, root-relative 3D keypoints (`world3d`, camera axes) are placed
in front of the camera by solving for the translation that projects them onto the 2D keypoints (a
linear least-squares PnP with the rotation known). The ground is the dominant plane of each
keyframe's confident inverse depths in the lower half of the image (people themselves carry no
depth), fitted with RANSAC in inverse depth (planes have affine inverse depth), up to scale; the
keyframe nearest in time lends its ground to a detection through the relative pose. The scale is
the one that puts the person's lowest foot landmark `sole_height` above that plane. Samples over
people and frames combine robustly (median, then a Huber mean of log scales); their spread and
number give a confidence. A static camera or no usable person gives scale 1 and confidence 0, as
does a camera that only turns (its translation is zero at any scale).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.console import log
from vidcli.engine.stage import RunInfo, setting
from vidcli.errors import ConfigError, InputError

VERSION = 1
INPUTS = ("camera", "keypoints")

FOOT_LANDMARKS = (27, 28, 29, 30, 31, 32)  # BlazePose ankles, heels, foot indices
MAD_TO_SIGMA = 1.4826
FULL_CONFIDENCE_SAMPLES = 10
ZERO_CONFIDENCE_SPREAD = 0.25  # spread (robust std of log ratios) at which confidence reaches 0


@dataclass
class Config:
    min_keypoints: int = setting(8, "visible keypoints a detection needs to be placed")
    visibility: float = setting(0.5, "visibility above which a keypoint counts as visible")
    depth_confidence: float = setting(0.5, "depth cells below this confidence are not used")
    ground_tolerance: float = setting(0.05, "relative inverse-depth error within which a depth cell lies on "
                                            "the ground plane")
    sole_height: float = setting(0.05, "height (m) above the ground of the lowest foot landmark of a standing foot")


def resolve_config(config: Config) -> Config:
    if config.min_keypoints < 4 or config.ground_tolerance <= 0 or config.sole_height < 0:
        raise ConfigError("scale: min_keypoints must be at least 4, ground_tolerance positive, "
                          "sole_height not negative")
    if not (0 <= config.visibility <= 1 and 0 <= config.depth_confidence <= 1):
        raise ConfigError("scale: visibility and depth_confidence must lie in [0, 1]")
    return config


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from dataclasses import replace

    from vidcli.io.arrays import load_npz
    from vidcli.io.camera import CAMERA_NPZ, DEPTH_NPZ, read_camera, write_camera
    from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints

    config = resolve_config(config)
    camera_dir, keypoints_dir = Path(inputs["camera"].path), Path(inputs["keypoints"].path)
    for path in (camera_dir / CAMERA_NPZ, camera_dir / DEPTH_NPZ, keypoints_dir / KEYPOINTS_NPZ):
        if not path.is_file():
            raise InputError(f"scale: {path} is missing")
    camera = read_camera(camera_dir / CAMERA_NPZ)
    depth = load_npz(camera_dir / DEPTH_NPZ, ("keyframes", "inv_depth", "confidence", "K"))
    keypoints = read_keypoints(keypoints_dir / KEYPOINTS_NPZ)

    moving = not camera.static and np.ptp(camera.t_wc, axis=0).max() > 0
    ratios = scale_samples(config, camera, depth, keypoints) if moving else []
    if not moving:
        result = {"scale": 1.0, "confidence": 0.0, "samples": 0, "spread": None,
                  "method": "none: the camera does not move" + (" (static)" if camera.static else " (it only turns)")}
        log.info("scale: the camera does not change position, so its trajectory needs no scale; scale 1")
    elif not ratios:
        result = {"scale": 1.0, "confidence": 0.0, "samples": 0, "spread": None,
                  "method": "none: no person with feet on reconstructed ground"}
        log.warning("scale: no person could be compared with the reconstruction; the trajectory keeps scale 1")
    else:
        scale, spread = robust_scale(np.log(ratios))
        confidence = min(1.0, len(ratios) / FULL_CONFIDENCE_SAMPLES) * max(0.0, 1.0 - spread / ZERO_CONFIDENCE_SPREAD)
        result = {"scale": scale, "confidence": round(confidence, 4), "samples": len(ratios),
                  "spread": round(spread, 4), "method": "people: feet on the reconstructed ground (keypoint PnP)"}
        log.info("scale: %.4g from %d samples (spread %.1f%%)", scale, len(ratios), 100 * spread)
    (out_dir / "scale.json").write_text(json.dumps(result, indent=1))
    write_camera(out_dir, replace(camera, t_wc=camera.t_wc * result["scale"]))
    return RunInfo(counts={"samples": result["samples"], "scale": round(result["scale"], 6),
                           "confidence": result["confidence"]})


def scale_samples(config: Config, camera, depth: dict, keypoints) -> list[float]:
    """One scale (metric / reconstruction units) for every usable person detection."""
    keyframes = depth["keyframes"]
    grounds = [ground_plane(depth["inv_depth"][slot], depth["confidence"][slot], depth["K"], config.depth_confidence,
                            config.ground_tolerance) for slot in range(len(keyframes))]
    inverse_K = np.linalg.inv(camera.K)
    samples = []
    for row in range(len(keypoints)):
        frame = int(keypoints.frame[row])
        points2d, points3d = keypoints.keypoints2d[row], keypoints.world3d[row]
        visible = points2d[:, 2] > config.visibility
        feet = [k for k in FOOT_LANDMARKS if visible[k]]
        if visible.sum() < config.min_keypoints or not feet or frame >= len(camera.t_wc):
            continue
        slot = int(np.argmin(np.abs(keyframes - frame)))
        translation = person_translation(points3d[visible], points2d[visible, :2], camera.K)
        if translation is None or grounds[slot] is None:
            continue
        key = int(keyframes[slot])
        # X_key = R X_frame + p: the plane n . X_key = d seen from the detection's camera.
        R = camera.R_wc[key].T @ camera.R_wc[frame]
        p = camera.R_wc[key].T @ (camera.t_wc[frame] - camera.t_wc[key])
        normal, distance = R.T @ grounds[slot][0], grounds[slot][1] - grounds[slot][0] @ p
        rays = (inverse_K @ np.concatenate([points2d[feet, :2], np.ones((len(feet), 1))], 1).T).T
        if distance <= 0 or np.any(rays @ normal <= 0):  # the camera below the ground, or a foot above the horizon
            continue
        scale = (np.max((points3d[feet] + translation) @ normal) + config.sole_height) / distance
        if scale > 0:
            samples.append(float(scale))
    return samples


def person_translation(points3d: np.ndarray, pixels: np.ndarray, K: np.ndarray) -> np.ndarray | None:
    """The translation T with project(points3d + T) = pixels in least squares (the points' axes are
    the camera's), by iteratively reweighted linear least squares; None when it lies behind the camera.

    With normalised pixel coordinates (x, y): X + Tx - x (Z + Tz) = 0 and Y + Ty - y (Z + Tz) = 0.
    """
    x = (pixels[:, 0] - K[0, 2]) / K[0, 0]
    y = (pixels[:, 1] - K[1, 2]) / K[1, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    A = np.concatenate([np.stack([ones, zeros, -x], 1), np.stack([zeros, ones, -y], 1)])
    b = np.concatenate([x * points3d[:, 2] - points3d[:, 0], y * points3d[:, 2] - points3d[:, 1]])
    weights = np.ones(len(b))
    for _ in range(3):
        translation = np.linalg.lstsq(A * weights[:, None], b * weights, rcond=None)[0]
        residual = np.abs(A @ translation - b)
        threshold = max(MAD_TO_SIGMA * np.median(residual), 1e-6)
        weights = np.sqrt(np.minimum(1.0, threshold / np.maximum(residual, 1e-12)))
    return translation if translation[2] > 0 else None


def ground_plane(inv_depth: np.ndarray, confidence: np.ndarray, K_grid: np.ndarray, min_confidence: float,
                 tolerance: float, trials: int = 200) -> tuple[np.ndarray, float] | None:
    """The dominant plane n . X = d (camera coordinates, reconstruction units; n unit, pointing away
    from the camera) of the confident cells in the lower half of a depth grid, or None.

    A plane seen along rays (x, y, 1) has inverse depth rho = n . (x, y, 1) / d, affine in the
    pixel; RANSAC on triples of cells finds the affine fit that the most confidence agrees with
    (within `tolerance` of rho), least squares on its inliers refines it.
    """
    rows = inv_depth.shape[0]
    ys, xs = np.nonzero(confidence >= min_confidence)
    lower = (ys >= rows // 2) & (inv_depth[ys, xs] > 0)
    ys, xs = ys[lower], xs[lower]
    if len(xs) < 12:
        return None
    rays = np.stack([(xs + 0.5 - K_grid[0, 2]) / K_grid[0, 0], (ys + 0.5 - K_grid[1, 2]) / K_grid[1, 1],
                     np.ones(len(xs))], 1)
    rho, weight = inv_depth[ys, xs].astype(float), confidence[ys, xs].astype(float)
    triples = np.random.default_rng(0).integers(0, len(xs), (trials, 3))
    systems = rays[triples]
    solvable = np.abs(np.linalg.det(systems)) > 1e-9
    candidates = np.linalg.solve(systems[solvable], rho[triples[solvable]][..., None])[..., 0]  # (T, 3): n / d
    if not len(candidates):
        return None
    agree = np.abs(candidates @ rays.T - rho) <= tolerance * rho
    inliers = agree[np.argmax(agree.astype(float) @ weight)]
    for _ in range(2):
        if inliers.sum() < 12:
            return None
        plane = np.linalg.lstsq(rays[inliers] * weight[inliers, None], rho[inliers] * weight[inliers], rcond=None)[0]
        inliers = np.abs(rays @ plane - rho) <= tolerance * rho
    norm = np.linalg.norm(plane)
    return plane / norm, 1.0 / norm


def robust_scale(log_ratios: np.ndarray) -> tuple[float, float]:
    """(scale, spread): exp of a Huber mean of log ratios started at their median, and their robust
    standard deviation (MAD based)."""
    centre = float(np.median(log_ratios))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(log_ratios - centre)))
    threshold = max(spread, 0.01)
    for _ in range(10):
        residual = log_ratios - centre
        weights = np.minimum(1.0, threshold / np.maximum(np.abs(residual), 1e-12))
        centre = float(np.sum(weights * log_ratios) / np.sum(weights))
    return float(np.exp(centre)), spread
