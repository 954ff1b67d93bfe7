"""A still camera's focal length from the straight edges of a man-made scene (three orthogonal directions).

Tiled floors, walls and boxes have edges along three orthogonal directions (a Manhattan world). Under a
rotation R and a focal f (principal point at the image centre, no skew), those directions project to
three vanishing points, and every edge points at one of them; the focal is where the three agree (each
pair satisfies (v_i - c) . (v_j - c) = -f^2). The fit: line segments (OpenCV's LSD) of the median of a
few frames (people walking through fade out), a coarse sweep of focals with the rotation free under a
robust nearest-vanishing-point cost to find the rotation and each segment's direction, then one least
squares over the rotation and the continuous log focal with the segments' assignments held, reassigned
and refitted until they settle. Each residual is the sine of the angle between a segment and the line
from its midpoint to its vanishing point, weighted by the square root of its length (a longer segment's
direction is measured better). The covariance of log f at the solution is the cue's own uncertainty:
a scene without edges along at least two of the directions, or whose vanishing points lie far outside
the image, leaves it wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from vidcli.slam.people_focal import log_std

BACKGROUND_FRAMES = 15  # frames whose median is the background the segments are found on
MIN_SEGMENT = 0.03  # shortest segment, in image's longest sides
MIN_SEGMENTS = 10
SWEEP = np.exp(np.linspace(np.log(0.4), np.log(2.5), 21))  # coarse focals, times max(width, height)
INLIER_DEG = 1.0  # a segment within this of its nearest vanishing point's direction is assigned to it
ROUNDS = 4  # reassignments at most


@dataclass
class LinesFocal:
    """`focal` in pixels, `relative_std` its standard deviation / focal (from the fit's covariance), the
    segments assigned to each of the three vanishing points (`inliers`) and all `segments` found; the
    camera-from-scene `rotation` and each segment's `axis` (0-2, -1: none) for cues built on them."""

    focal: float
    relative_std: float
    inliers: tuple[int, int, int]
    segments: int
    rotation: np.ndarray
    axis: np.ndarray


def median_background(frames) -> np.ndarray:
    """The grey median of BACKGROUND_FRAMES frames spread over a `FrameSequence` (moving people fade)."""
    picks = np.unique(np.linspace(0, len(frames) - 1, BACKGROUND_FRAMES).round().astype(int))
    gray = [cv2.cvtColor(frames.read(int(i)), cv2.COLOR_RGB2GRAY) for i in picks]
    return np.median(np.array(gray), axis=0).astype(np.uint8)


def line_segments(gray: np.ndarray) -> np.ndarray:
    """(N, 4) segments x1, y1, x2, y2 of at least MIN_SEGMENT of the image's longest side."""
    found = cv2.createLineSegmentDetector().detect(gray)[0]
    segments = np.zeros((0, 4)) if found is None else found.reshape(-1, 4).astype(float)
    length = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    return segments[length >= MIN_SEGMENT * max(gray.shape)]


def vanishing_sines(rotvec: np.ndarray, focal: float, segments: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(N, 3): per segment, the sine of its angle to the line from its midpoint to each vanishing point
    of the three axes of camera-from-scene rotation `rotvec` through `focal`."""
    vanishing = np.diag([focal, focal, 1.0]) @ Rotation.from_rotvec(rotvec).as_matrix()  # homogeneous columns
    middle = (segments[:, :2] + segments[:, 2:]) / 2 - centre
    along = segments[:, 2:] - segments[:, :2]
    along = along / np.linalg.norm(along, axis=1, keepdims=True)
    towards = vanishing[None, :2, :] - middle[:, :, None] * vanishing[None, 2:3, :]
    towards = towards / np.maximum(np.linalg.norm(towards, axis=1, keepdims=True), 1e-12)
    return along[:, 0, None] * towards[:, 1] - along[:, 1, None] * towards[:, 0]


def _assigned_sines(p: np.ndarray, segments: np.ndarray, axis: np.ndarray, weight: np.ndarray,
                    centre: np.ndarray) -> np.ndarray:
    """Each segment's weighted sine to its own vanishing point under rotation p[:3] and log focal p[3]."""
    sines = vanishing_sines(p[:3], np.exp(p[3]), segments, centre)
    return sines[np.arange(len(segments)), axis] * weight


def fit_lines_focal(segments: np.ndarray, width: int, height: int,
                    principal: tuple[float, float] | None = None) -> LinesFocal | None:
    """The focal under which `segments` (N, 4) point at three orthogonal vanishing points (`principal`:
    the principal point, default the image centre), or None with fewer than MIN_SEGMENTS of them or with
    fewer than two directions holding inliers."""
    if len(segments) < MIN_SEGMENTS:
        return None
    centre = np.array(principal or (width / 2, height / 2))
    length = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    weight = np.sqrt(length / length.mean())
    default = float(max(width, height))

    def nearest(rotvec: np.ndarray, focal: float) -> np.ndarray:
        return np.abs(vanishing_sines(rotvec, focal, segments, centre)).min(axis=1) * weight

    coarse = []
    for focal in SWEEP * default:  # each focal's rotation starts from the last one's (a continuation)
        start = coarse[-1][2] if coarse else np.zeros(3)
        fit = least_squares(nearest, start, args=(focal,), loss="soft_l1", f_scale=0.01)
        coarse.append((fit.cost, focal, fit.x))
    _, focal, rotvec = min(coarse, key=lambda c: c[0])
    x = np.concatenate([rotvec, [np.log(focal)]])
    assigned = None
    for _ in range(ROUNDS):
        sines = np.abs(vanishing_sines(x[:3], np.exp(x[3]), segments, centre))
        axis = sines.argmin(axis=1)
        inlier = sines.min(axis=1) < np.sin(np.radians(INLIER_DEG))
        if assigned is not None and np.array_equal(assigned, np.where(inlier, axis, -1)):
            break
        assigned = np.where(inlier, axis, -1)
        if (np.bincount(axis[inlier], minlength=3) > 0).sum() < 2:
            return None
        fit = least_squares(_assigned_sines, x, args=(segments[inlier], axis[inlier], weight[inlier], centre),
                            loss="soft_l1", f_scale=np.sin(np.radians(INLIER_DEG / 2)), x_scale="jac")
        x = fit.x
    relative_std = log_std(fit, 3)
    inliers = tuple(int(n) for n in np.bincount(assigned[assigned >= 0], minlength=3))
    return LinesFocal(float(np.exp(x[3])), relative_std, inliers, len(segments),
                      Rotation.from_rotvec(x[:3]).as_matrix(), assigned)


# The floor's square grid. Whatever the focal, the floor's two grid directions can be made orthogonal
# by a rotation; what pins the focal is the grid's spacing: under a focal f the grid lines across the
# view back-project onto the ground f-proportionally far apart, the ones receding from the camera
# (almost) independently of f, and square tiles need both spacings equal.
GRID_PERIODS = np.exp(np.linspace(np.log(0.05), np.log(2.0), 1500))  # tile sides, in camera heights
GRID_FOCALS = np.exp(np.linspace(np.log(0.7), np.log(1.4), 71))  # times the lines fit's focal (1% steps)
MIN_GRID_POWER = 0.5  # both line families must show their period this clearly (1: exactly periodic)
BELOW_HORIZON = 0.02  # a segment's ends must lie this far below the horizon (rays' downward slope)
GRID_NOISE_PX = 0.5  # residuals (an end's distance to its grid line) count robustly beyond this


@dataclass
class FloorGrid:
    """`focal` in pixels and `relative_std` its standard deviation / focal from a square floor grid of
    side `tile` (in camera heights above the floor); `power` (0-1): how periodic the segments across
    and along the view are at that side; `segments` across and along the view the fit used."""

    focal: float
    relative_std: float
    tile: float
    power: tuple[float, float]
    segments: tuple[int, int]


def _periodicity(values: np.ndarray, weight: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Per period, |weighted mean of exp(2 pi i value / period)|: 1 where every value sits on its grid."""
    phases = np.exp(2j * np.pi * values[None, :] / periods[:, None])
    return np.abs(phases @ weight) / weight.sum()


def _grid_axes(rotation: np.ndarray) -> tuple[int, int, int]:
    """The scene axes (columns of a camera-from-scene rotation) that are vertical (nearest the image's
    y), along the view (nearest its z) and across it."""
    vertical = int(np.argmax(np.abs(rotation[1])))
    level = [i for i in range(3) if i != vertical]
    along = max(level, key=lambda i: abs(rotation[2, i]))
    return vertical, along, next(i for i in level if i != along)


def _ground_frame(rotation: np.ndarray) -> np.ndarray:
    """Columns: the ground's across and along directions and the downward vertical, in the camera frame."""
    vertical, along, across = _grid_axes(rotation)
    down = rotation[:, vertical] * np.sign(rotation[1, vertical])
    return np.stack([rotation[:, across], rotation[:, along], down], axis=1)


def _ground_homography(focal: float, rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Image-from-ground homography: ground point (across, along, 1), in camera heights, to pixels."""
    K = np.array([[focal, 0.0, centre[0]], [0.0, focal, centre[1]], [0.0, 0.0, 1.0]])
    return K @ _ground_frame(rotation)


def fit_floor_grid(segments: np.ndarray, lines: LinesFocal, width: int, height: int,
                   principal: tuple[float, float] | None = None) -> FloorGrid | None:
    """The focal under which the floor's segments (assigned by `lines` to the two level directions)
    form a square grid, or None where either family shows no period (no tiled floor in view)."""
    centre = np.array(principal or (width / 2, height / 2))
    length = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    _, along, across = _grid_axes(lines.rotation)
    ends = np.stack([segments[:, :2], segments[:, 2:]])  # (2, N, 2)
    assigned = np.flatnonzero(lines.axis >= 0)

    def rotation_at(focal: float, start: np.ndarray) -> np.ndarray:
        def residuals(rotvec: np.ndarray) -> np.ndarray:
            return _assigned_sines(np.append(rotvec, np.log(focal)), segments[assigned], lines.axis[assigned],
                                   np.sqrt(length[assigned]), centre)
        return least_squares(residuals, start, loss="soft_l1", f_scale=0.005).x

    def ground(focal: float, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each segment's mean ground position (across, along) and whether both its ends look down at
        least BELOW_HORIZON (the sine of the angle below the horizon)."""
        rays = np.concatenate([(ends - centre) / focal, np.ones(ends.shape[:2] + (1,))], axis=-1)
        weights = rays @ _ground_frame(rotation)  # along the ground's across, along and down directions
        below = (weights[..., 2] / np.linalg.norm(rays, axis=-1) > BELOW_HORIZON).all(axis=0)
        return (weights[..., :2] / np.where(below, weights[..., 2], 1.0)[..., None]).mean(axis=0), below

    rotvec = Rotation.from_matrix(lines.rotation).as_rotvec()
    best = None
    for focal in GRID_FOCALS * lines.focal:
        rotvec = rotation_at(focal, rotvec)
        position, below = ground(focal, Rotation.from_rotvec(rotvec).as_matrix())
        receding, crossing = (lines.axis == along) & below, (lines.axis == across) & below
        if receding.sum() < MIN_SEGMENTS or crossing.sum() < MIN_SEGMENTS:
            continue
        power = _periodicity(position[receding, 0], length[receding], GRID_PERIODS)
        # the largest clear period (a grid's fractions 1/2, 1/3... are as periodic as it)
        tile = GRID_PERIODS[np.flatnonzero(power >= 0.6 * power.max())[-1]]
        near = tile * np.exp(np.linspace(-0.06, 0.06, 61))
        joint = (_periodicity(position[receding, 0], length[receding], near)
                 * _periodicity(position[crossing, 1], length[crossing], near))
        if best is None or joint.max() > best[0]:
            best = (joint.max(), focal, rotvec.copy(), near[np.argmax(joint)], receding, crossing, position)
    if best is None:
        return None
    _, focal, rotvec, tile, receding, crossing, position = best
    powers = (float(_periodicity(position[receding, 0], length[receding], np.array([tile]))[0]),
              float(_periodicity(position[crossing, 1], length[crossing], np.array([tile]))[0]))
    if min(powers) < MIN_GRID_POWER:
        return None
    # Every segment on its grid line: ends' pixel distances to the line, all parameters refined together.
    rows = np.flatnonzero(receding | crossing)
    family = receding[rows].astype(int)  # 1: a line of constant `across`, 0: of constant `along`
    offsets = np.array([np.angle(np.exp(2j * np.pi * position[receding, 0] / tile) @ length[receding]),
                        np.angle(np.exp(2j * np.pi * position[crossing, 1] / tile) @ length[crossing])])
    offsets = offsets * tile / (2 * np.pi)
    coordinate = np.where(family == 1, position[rows, 0], position[rows, 1])
    index = np.round((coordinate - offsets[1 - family]) / tile)
    image = np.concatenate([ends[:, rows], np.ones((2, len(rows), 1))], axis=-1)

    def residuals(p: np.ndarray) -> np.ndarray:
        focal_, tile_ = np.exp(p[3]), np.exp(p[4])
        homography = _ground_homography(focal_, Rotation.from_rotvec(p[:3]).as_matrix(), centre)
        value = p[5:7][1 - family] + index * tile_
        ground_lines = np.where(family[:, None] == 1, np.stack([np.ones_like(value), 0 * value, -value], 1),
                                np.stack([0 * value, np.ones_like(value), -value], 1))
        image_lines = np.linalg.solve(homography.T, ground_lines.T).T
        distance = (image * image_lines[None]).sum(-1) / np.linalg.norm(image_lines[:, :2], axis=1)[None]
        return (distance * np.sqrt(length[rows] / length[rows].mean())[None]).ravel()

    start = np.concatenate([rotvec, [np.log(focal), np.log(tile)], offsets])
    fit = least_squares(residuals, start, loss="soft_l1", f_scale=GRID_NOISE_PX, x_scale="jac")
    return FloorGrid(float(np.exp(fit.x[3])), log_std(fit, 3), float(np.exp(fit.x[4])), powers,
                     (int(receding.sum()), int(crossing.sum())))


def floor_grid_focal(frames, principal: tuple[float, float] | None = None) -> FloorGrid | None:
    """The floor grid's focal on a `FrameSequence`'s median background; None where its segments show no
    three orthogonal directions or no square grid."""
    width, height = frames.size
    segments = line_segments(median_background(frames))
    lines = fit_lines_focal(segments, width, height, principal)
    return None if lines is None else fit_floor_grid(segments, lines, width, height, principal)
