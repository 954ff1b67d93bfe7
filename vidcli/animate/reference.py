"""The reference image: reading it (RGB, RGBA or greyscale) and finding its person's pose and silhouette.

BlazePose (mediapipe's pose solution, model_complexity 1, static image mode) gives the landmarks
and, from the same run, the segmentation of that person; an RGBA image's alpha replaces the
segmentation. Transparent pixels are composited over grey before the model sees them.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcli.animate import skeleton
from vidcli.errors import InputError

REFERENCE_MODEL = "mediapipe-0.10.14/pose_landmark_full"
LEGS_BLAZEPOSE = (23, 24, 25, 26, 27, 28)  # hips, knees, ankles
LEG_VISIBILITY = 0.3  # below it, BlazePose guesses: cropped legs come out at 0.1-0.2
RELIABLE_VISIBILITY = 0.5
_MATTE_GREY = 128
_OPAQUE = 0.999


@dataclass
class ReferenceImage:
    rgb: np.ndarray  # (H, W, 3) uint8
    alpha: np.ndarray | None  # (H, W) float32 in [0, 1], for images with transparency

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[1], self.rgb.shape[0]


@dataclass
class ReferencePose:
    keypoints: np.ndarray  # (18, 3) OpenPose-18 pixels and confidence
    blazepose: np.ndarray  # (33, 3) BlazePose pixels and visibility
    depth: np.ndarray  # (18,) metres relative to the hips, larger is farther
    mask: np.ndarray  # (H, W) float32 person probability (the alpha channel for RGBA images)


def read_reference(path: Path) -> ReferenceImage:
    """Read an image file as 8-bit RGB plus alpha when it has a non-opaque alpha channel."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such image file")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: not an image OpenCV can read")
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"{path}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return ReferenceImage(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), None)
    if image.shape[2] == 3:
        return ReferenceImage(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), None)
    alpha = image[:, :, 3].astype(np.float32) / 255
    rgb = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)
    return ReferenceImage(rgb, None if alpha.min() >= _OPAQUE else alpha)


def matted(reference: ReferenceImage) -> np.ndarray:
    """The RGB image with transparent parts composited over grey."""
    if reference.alpha is None:
        return reference.rgb
    a = reference.alpha[:, :, None]
    return (reference.rgb * a + _MATTE_GREY * (1 - a)).round().astype(np.uint8)


def find_pose(reference: ReferenceImage, name: str) -> ReferencePose:
    """The person's pose and silhouette, or an InputError when the image shows no person."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    import mediapipe as mp

    rgb = np.ascontiguousarray(matted(reference))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                    enable_segmentation=True) as pose:
            result = pose.process(rgb)
    if result.pose_landmarks is None:
        raise InputError(f"{name}: no person found in the reference image")
    height, width = rgb.shape[:2]
    blazepose = np.array([(p.x * width, p.y * height, p.visibility) for p in result.pose_landmarks.landmark])
    keypoints = skeleton.from_blazepose(blazepose)
    if not skeleton.visible(keypoints)[[2, 5]].all():
        raise InputError(f"{name}: no person found in the reference image (no shoulders visible)")
    _check_whole_body(blazepose, width, height, name)
    world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
    if reference.alpha is not None:
        mask = reference.alpha
    else:
        mask = np.asarray(result.segmentation_mask, np.float32)
    return ReferencePose(keypoints, blazepose, skeleton.depth_from_blazepose(world), mask)


def _check_whole_body(blazepose: np.ndarray, width: int, height: int, name: str) -> None:
    """Refuse a reference whose legs are cut off or hidden (the puppet would tear where BlazePose
    guesses them), and warn about the other keypoints it is unsure of."""
    from vidcli.console import log

    legs = blazepose[list(LEGS_BLAZEPOSE)]
    inside = (legs[:, 0] >= 0) & (legs[:, 0] < width) & (legs[:, 1] >= 0) & (legs[:, 1] < height)
    if not (inside & (legs[:, 2] >= LEG_VISIBILITY)).all():
        raise InputError(f"{name}: the reference shows only part of the person (hips, knees and ankles "
                         "must be inside the image and visible); use a full-body picture")
    unsure = [label for label, point in zip(skeleton.NAMES, skeleton.from_blazepose(blazepose))
              if point[2] < RELIABLE_VISIBILITY]
    if unsure:
        log.warning("%s: the reference's %s are unreliable (visibility below %.1f): the animation may tear "
                    "there", name, ", ".join(unsure), RELIABLE_VISIBILITY)
