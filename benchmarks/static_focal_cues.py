"""What can tell a still camera's focal length on the benchmark's static clips, and why it stays at the default.

Usage: python benchmarks/static_focal_cues.py [--config SPLIT.yaml ...] [--workdir DIR] [--only NAME ...]
Clips are rendered and run as `benchmarks/synthetic.py` does (sharing its WORKDIR and cache); clips whose
camera moves are left out. Per static clip:

- how far the people move in depth and across (metres, their pelvis in the true camera frame): people
  seen at one depth leave the focal unobservable from them (weak perspective);
- the people-based fit (`vidcli.slam.people_focal`) on the keypoints stage's 2D keypoints, and on the
  exact projections of the true BlazePose joints (which isolates the fit's model from keypoint noise):
  focal error % and the fit's own relative standard deviation %;
- scene lines: line segments (OpenCV's LSD) of the median of 15 frames (people moving through it fade),
  fitted by a rotation and a focal under which every segment points at one of three orthogonal
  vanishing points (a Manhattan world: tiled floors, walls, boxes), each segment's residual the sine of
  the angle between it and the line from its midpoint to its nearest vanishing point (soft L1), the
  focal chosen over a sweep of LINE_SWEEP focals. Printed: its focal error % and how much more the fit
  costs at 0.9 and 1.0 times the true focal than at its best (a flat cost cannot pin the focal down).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import benchmark_arguments, mocap_runs, print_table  # noqa: E402

from vidcli.io.camera import CAMERA_NPZ, read_camera  # noqa: E402
from vidcli.io.frames import FrameSequence  # noqa: E402
from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints  # noqa: E402
from vidcli.slam.people_focal import fit_people_focal, upright_points  # noqa: E402

BACKGROUND_FRAMES = 15
MIN_SEGMENT = 0.03  # of the image's longest side
LINE_SWEEP = np.exp(np.linspace(np.log(0.4), np.log(2.5), 41))  # times max(width, height)


def median_background(frames: FrameSequence) -> np.ndarray:
    picks = np.linspace(0, len(frames) - 1, BACKGROUND_FRAMES).round().astype(int)
    gray = [cv2.cvtColor(frames.read(int(i)), cv2.COLOR_RGB2GRAY) for i in picks]
    return np.median(np.array(gray), axis=0).astype(np.uint8)


def line_segments(gray: np.ndarray) -> np.ndarray:
    """(N, 4) segments x1, y1, x2, y2 of at least MIN_SEGMENT of the longest side."""
    found = cv2.createLineSegmentDetector().detect(gray)[0]
    segments = np.zeros((0, 4)) if found is None else found.reshape(-1, 4)
    length = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    return segments[length >= MIN_SEGMENT * max(gray.shape)]


def manhattan_residuals(rotvec: np.ndarray, focal: float, segments: np.ndarray, centre: np.ndarray,
                        weight: np.ndarray) -> np.ndarray:
    """Per segment, the sine of its angle to the line from its midpoint to the nearest of the three
    vanishing points of camera rotation `rotvec` and `focal`."""
    rotation = Rotation.from_rotvec(rotvec).as_matrix()
    vanishing = np.diag([focal, focal, 1.0]) @ rotation  # columns, homogeneous, relative to the centre
    middle = (segments[:, :2] + segments[:, 2:]) / 2 - centre
    along = segments[:, 2:] - segments[:, :2]
    along /= np.linalg.norm(along, axis=1, keepdims=True)
    towards = vanishing[None, :2, :] - middle[:, :, None] * vanishing[None, 2:3, :]
    towards /= np.maximum(np.linalg.norm(towards, axis=1, keepdims=True), 1e-12)
    sine = np.abs(along[:, 0, None] * towards[:, 1] - along[:, 1, None] * towards[:, 0])
    return sine.min(axis=1) * weight


def lines_focal(segments: np.ndarray, width: int, height: int):
    """(best focal, [(focal, cost), ...] over the sweep)."""
    centre = np.array([width / 2, height / 2])
    length = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    weight = np.sqrt(length / length.mean())
    costs = []
    for focal in LINE_SWEEP * max(width, height):
        fit = least_squares(manhattan_residuals, np.zeros(3), loss="soft_l1", f_scale=0.01,
                            args=(focal, segments, centre, weight))
        costs.append((focal, fit.cost))
    return min(costs, key=lambda c: c[1])[0], costs


def people_cells(keypoints2d: np.ndarray, track: np.ndarray, width: int, height: int, true_focal: float):
    points, usable = upright_points(keypoints2d)
    fit = fit_people_focal(points[usable], track[usable], width, height)
    if fit is None:
        return ["-", "-"]
    return [f"{100 * (fit.focal / true_focal - 1):+.1f}", f"{100 * fit.relative_std:.0f}"]


def main() -> None:
    args, splits = benchmark_arguments(__doc__.splitlines()[0])
    rows = []
    for split, _, name, _, artifacts, truth in mocap_runs(args, splits):
        camera = read_camera(truth / CAMERA_NPZ)
        if np.ptp(camera.t_wc, axis=0).max() > 0 or not np.allclose(camera.R_wc, camera.R_wc[0]):
            continue
        true_focal, width, height = float(camera.K[0, 0]), camera.width, camera.height
        motion = np.load(truth / "motion.npz")
        pelvis, track = motion["joints_cam"][:, 0], motion["track_id"]
        depth = max(np.ptp(pelvis[track == t, 2]) for t in np.unique(track))
        across = max(np.ptp(pelvis[track == t, 0]) for t in np.unique(track))
        run = read_keypoints(Path(artifacts["keypoints"]) / KEYPOINTS_NPZ).as_blazepose33()
        joints = motion["blazepose_cam"]
        projected = joints[..., :2] / joints[..., 2:3] * true_focal + camera.K[:2, 2]
        exact = np.concatenate([projected, np.ones(projected.shape[:2] + (1,))], axis=-1)
        segments = line_segments(median_background(FrameSequence(artifacts["frames"])))
        if len(segments) >= 10:
            focal, costs = lines_focal(segments, width, height)
            focals, values = np.array(costs).T
            above = [values[np.argmin(np.abs(np.log(focals / (true_focal * r))))] / values.min() - 1
                     for r in (0.9, 1.0)]
            lines = [f"{100 * (focal / true_focal - 1):+.1f}"] + [f"{100 * a:.1f}" for a in above]
        else:
            lines = ["-", "-", "-"]
        rows.append([split, name, f"{depth:.1f}", f"{across:.1f}"]
                    + people_cells(run.keypoints2d, run.track_id, width, height, true_focal)
                    + people_cells(exact, track, width, height, true_focal) + [str(len(segments))] + lines)
        print(" ".join(rows[-1]), file=sys.stderr, flush=True)
    print("Static clips: focal error % of each cue (default max(width, height): +15.5 on all of them)")
    print_table(["split", "clip", "depth m", "across m", "people kp err %", "std %", "people exact err %",
                 "std %", "segments", "lines err %", "cost +% at 0.9 f", "at 1.0 f"], rows)


if __name__ == "__main__":
    main()
