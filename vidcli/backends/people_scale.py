"""The embedded scale estimator: people's metric keypoints standing on the reconstructed ground.

For each person detection, the metric, root-relative 3D keypoints (`world3d`, camera axes) are placed
in front of the camera by solving for the translation that projects them onto the 2D keypoints (a
linear least-squares PnP with the rotation known). The ground is the dominant plane of each
keyframe's confident inverse depths in the lower half of the image (people themselves carry no
depth), fitted with RANSAC in inverse depth (planes have affine inverse depth), up to scale; the
keyframe nearest in time lends its ground to a detection through the relative pose. The scale is
the one that puts the person's lowest foot keypoint `sole_height` above that plane. It reads any
keypoint layout; the feet are the ankles, heels and toes that the layout has. A 2D-only layout
(ViTPose's) has no metric points: its detections are placed as an average adult standing upright and
facing the camera (`standing_template`: head, shoulders, hips, legs and feet of the average Anny body),
whose height, not its turn, sets the depth; a crouching or lying person is then placed too near.
"""

from __future__ import annotations

import numpy as np

from vidcli.body.skeletons import indices
from vidcli.geometry import MAD_TO_SIGMA

FOOT_PARTS = ("ankle", "heel", "foot_index", "big_toe", "small_toe")


class PeopleScale:
    model = None
    checksum = None
    reads_images = False

    def __init__(self, config):
        self.config = config

    def samples(self, camera, depth: dict, keypoints, read=None) -> list[float]:
        return scale_samples(self.config, camera, depth, keypoints)


def scale_samples(config, camera, depth: dict, keypoints) -> list[float]:
    """One scale (metric / reconstruction units) for every usable person detection."""
    template = None if np.isfinite(keypoints.world3d).any() else standing_template(keypoints.layout)
    keyframes = depth["keyframes"]
    grounds = [ground_plane(depth["inv_depth"][slot], depth["confidence"][slot], depth["K"],
                            config.depth_confidence,
                            config.ground_tolerance) for slot in range(len(keyframes))]
    inverse_K = np.linalg.inv(camera.K)
    foot_keypoints = indices(keypoints.layout,
                             [f"{side}_{part}" for side in ("left", "right") for part in FOOT_PARTS])
    samples = []
    for row in range(len(keypoints)):
        frame = int(keypoints.frame[row])
        points2d = keypoints.keypoints2d[row]
        points3d = keypoints.world3d[row] if template is None else template
        visible = (np.nan_to_num(points2d[:, 2]) > config.visibility) & np.isfinite(points3d).all(-1)
        feet = [k for k in foot_keypoints if visible[k]]
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
        # the camera below the ground, or a foot above the horizon
        if distance <= 0 or np.any(rays @ normal <= 0):
            continue
        scale = (np.max((points3d[feet] + translation) @ normal) + config.sole_height) / distance
        if scale > 0:
            samples.append(float(scale))
    return samples


# The points of a standing person that hardly move as the arms and legs swing: their height sets the depth.
STANDING_POINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                   "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                   "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index")


def standing_template(layout: str) -> np.ndarray:
    """(K, 3) metric points of `layout` on the average Anny body standing and facing the camera, camera
    axes (y down), origin between the hips; NaN where the layout's point is not in STANDING_POINTS."""
    from vidcli.body.models import BodySpec, load_body_model, pose_numpy
    from vidcli.body.skeletons import BLAZEPOSE_33, SMPL_24, blazepose_sources, layout_names

    model = load_body_model(BodySpec())
    local = np.tile(np.eye(3), (1, len(SMPL_24), 1, 1))
    local[0, 0] = np.diag([1.0, -1.0, -1.0])  # the body's y up and +z forward turned to face the camera
    average = model.shape(np.zeros(len(model.shape_labels)))
    landmarks = pose_numpy(model, average, local, np.zeros((1, 3)))[2][0]
    hips = [BLAZEPOSE_33.index("left_hip"), BLAZEPOSE_33.index("right_hip")]
    landmarks = landmarks - landmarks[hips].mean(0)
    template = np.full((len(layout_names(layout)), 3), np.nan)
    sources = blazepose_sources(layout)
    for blazepose, target in enumerate(sources):
        if target >= 0 and BLAZEPOSE_33[blazepose] in STANDING_POINTS:
            template[target] = landmarks[blazepose]
    return template


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
    # (T, 3): n / d
    candidates = np.linalg.solve(systems[solvable], rho[triples[solvable]][..., None])[..., 0]
    if not len(candidates):
        return None
    agree = np.abs(candidates @ rays.T - rho) <= tolerance * rho
    inliers = agree[np.argmax(agree.astype(float) @ weight)]
    for _ in range(2):
        if inliers.sum() < 12:
            return None
        plane = np.linalg.lstsq(rays[inliers] * weight[inliers, None], rho[inliers] * weight[inliers],
                                rcond=None)[0]
        inliers = np.abs(rays @ plane - rho) <= tolerance * rho
    norm = np.linalg.norm(plane)
    return plane / norm, 1.0 / norm
