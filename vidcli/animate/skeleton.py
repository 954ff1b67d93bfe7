"""OpenPose-18 keypoints (the COCO-18 order that ControlNet-OpenPose and DWPose use) and their drawing.

Keypoints are arrays (..., 18, 3): x, y in pixels and a confidence in [0, 1]; a keypoint with
confidence below `VISIBLE` is missing. `draw` renders the ControlNet-OpenPose conditioning image:
limbs as filled ellipses at 60 % of their colour on black, then joints as full-colour discs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

NAMES = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
         "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
         "right_eye", "left_eye", "right_ear", "left_ear")
COUNT = len(NAMES)
VISIBLE = 0.5

# (parent, child) in OpenPose's limb order, the order that decides each limb's colour.
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))

COLOURS = np.array([
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)], np.uint8)  # RGB, per joint and per limb

# OpenPose-18 index -> BlazePose-33 index; the neck (1) is the midpoint of the shoulders (11, 12).
_FROM_BLAZEPOSE = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 8: 24, 9: 26, 10: 28, 11: 23, 12: 25,
                   13: 27, 14: 5, 15: 2, 16: 8, 17: 7}
NECK = 1
_SHOULDERS_BLAZEPOSE = (11, 12)


def from_blazepose(points: np.ndarray) -> np.ndarray:
    """OpenPose-18 keypoints (..., 18, 3) from BlazePose-33 ones (..., 33, 3) (x, y, visibility)."""
    points = np.asarray(points, float)
    out = np.zeros(points.shape[:-2] + (COUNT, 3))
    for openpose, blazepose in _FROM_BLAZEPOSE.items():
        out[..., openpose, :] = points[..., blazepose, :]
    left, right = (points[..., i, :] for i in _SHOULDERS_BLAZEPOSE)
    out[..., NECK, :2] = (left[..., :2] + right[..., :2]) / 2
    out[..., NECK, 2] = np.minimum(left[..., 2], right[..., 2])
    return out


def depth_from_blazepose(world: np.ndarray) -> np.ndarray:
    """Per OpenPose-18 keypoint depth (..., 18) from BlazePose world landmarks (..., 33, 3): their z,
    metres away from the camera relative to the hips (larger is farther)."""
    world = np.asarray(world, float)
    depth = np.zeros(world.shape[:-2] + (COUNT,))
    for openpose, blazepose in _FROM_BLAZEPOSE.items():
        depth[..., openpose] = world[..., blazepose, 2]
    depth[..., NECK] = world[..., list(_SHOULDERS_BLAZEPOSE), 2].mean(axis=-1)
    return depth


def visible(points: np.ndarray) -> np.ndarray:
    """Boolean mask (..., 18) of the keypoints that are present."""
    return np.asarray(points)[..., 2] >= VISIBLE


def line_width(size: tuple[int, int]) -> int:
    """Limb half-width and joint radius in pixels: OpenPose's 4 at 512 pixels, scaled with the image."""
    return max(2, round(4 * min(size) / 512))


def draw(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The ControlNet-OpenPose image (H, W, 3 uint8 RGB) of a skeleton (18, 3) on a (width, height) canvas."""
    width, height = size
    canvas = np.zeros((height, width, 3), np.uint8)
    present = visible(points)
    radius = line_width(size)
    for index, (a, b) in enumerate(LIMBS):
        if not (present[a] and present[b]):
            continue
        (xa, ya), (xb, yb) = points[a, :2], points[b, :2]
        length = math.hypot(xb - xa, yb - ya)
        angle = math.degrees(math.atan2(yb - ya, xb - xa))
        polygon = cv2.ellipse2Poly((round((xa + xb) / 2), round((ya + yb) / 2)), (round(length / 2), radius),
                                   round(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, [int(c * 0.6) for c in COLOURS[index]])
    for index in np.flatnonzero(present):
        x, y = points[index, :2]
        cv2.circle(canvas, (round(x), round(y)), radius, [int(c) for c in COLOURS[index]], -1)
    return canvas
