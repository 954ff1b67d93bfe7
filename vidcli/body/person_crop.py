"""The person crops HMR2.0 and VIMO were trained on, made as the official 4D-Humans inference code makes
them (`ViTDetDataset`): each box grown to a 192:256 aspect ratio, the square of its longer side resampled
to 256x256 (the image blurred first when it shrinks by more than 2.2x), and normalised by ImageNet's mean
and deviation. `tests/test_hmr2.py` checks the crops against the official code's on a real image."""

from __future__ import annotations

import numpy as np

CROP_SIZE = 256
BOX_ASPECT = (192, 256)  # width, height the box is grown to before the square crop
MEAN = 255.0 * np.array([0.485, 0.456, 0.406])
STD = 255.0 * np.array([0.229, 0.224, 0.225])


def box_square(box: np.ndarray) -> tuple[np.ndarray, float]:
    """The centre (x, y) and side (pixels) of the square crop of an (x0, y0, x1, y1) box."""
    box = np.asarray(box, dtype=np.float32)
    center = (box[2:4] + box[0:2]) / 2.0
    width, height = (box[2:4] - box[0:2]) / np.float32(200.0) * 200  # float32 rounding as the official code
    aspect_w, aspect_h = BOX_ASPECT
    if height / width < aspect_h / aspect_w:
        height = max(width * aspect_h / aspect_w, height)
    else:
        width = max(height * aspect_w / aspect_h, width)
    return center, float(max(width, height))


def crop_person(rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(3, 256, 256) float32 normalised crop of an RGB uint8 image, with the crop's centre and side."""
    import cv2
    from scipy.ndimage import gaussian_filter

    center, side = box_square(box)
    image = rgb
    shrink = side / CROP_SIZE / 2.0
    if shrink > 1.1:  # anti-aliasing blur (skimage.filters.gaussian's defaults: nearest edges, 4 sigma)
        sigma = (shrink - 1) / 2
        image = gaussian_filter(rgb.astype(np.float64), sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)
    half = side * 0.5
    source = np.float32([center, center + [0, half], center + [half, 0]])
    middle = CROP_SIZE / 2
    target = np.float32([[middle, middle], [middle, CROP_SIZE], [CROP_SIZE, middle]])
    patch = cv2.warpAffine(image, cv2.getAffineTransform(source, target), (CROP_SIZE, CROP_SIZE),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    normalised = (patch.astype(np.float32) - MEAN) / STD
    return normalised.transpose(2, 0, 1).astype(np.float32), center, side


def crop_to_camera(cam: np.ndarray, center: np.ndarray, side: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) camera-frame translations of the bodies from HMR2's weak-perspective crop cameras (N, 3)
    (scale, tx, ty), through the real intrinsics K as TRAM does: the crop's focal 5000 px per 256 px
    becomes depth `2 f / (side * scale)`, and the box's offset from the principal point shifts x and y."""
    focal = (K[0, 0] + K[1, 1]) / 2
    scaled = side * cam[:, 0] + 1e-9
    depth = 2 * focal / scaled
    tx = 2 * (center[:, 0] - K[0, 2]) / scaled + cam[:, 1]
    ty = 2 * (center[:, 1] - K[1, 2]) / scaled + cam[:, 2]
    return np.stack([tx, ty, depth], axis=-1)
