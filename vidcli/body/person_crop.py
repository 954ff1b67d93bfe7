"""The person crops HMR2.0 and VIMO see, made as their official inference code makes them: 4D-Humans'
`ViTDetDataset` for HMR2.0 (`crop_person`) and TRAM's `TrackDataset` for VIMO (`crop_track_box`).
`tests/test_hmr2.py` and `tests/test_vimo.py` check them against the official code's on a real image."""

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
    """(3, 256, 256) float32 normalised crop of an RGB uint8 image as 4D-Humans makes it for HMR2.0, with
    the crop's centre and side: the box grown to a 192:256 aspect ratio, the square of its longer side
    resampled to 256x256 (the image blurred first when it shrinks by more than 2.2x), and normalised by
    ImageNet's mean and deviation."""
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


def crop_track_box(rgb: np.ndarray, box: np.ndarray, dilate: float = 1.2) -> tuple[np.ndarray, np.ndarray,
                                                                                  float]:
    """(256, 256, 3) uint8 crop of an RGB image as TRAM's `TrackDataset` makes it for VIMO, with the crop's
    centre and side: the square of the box's longer side grown by `dilate`, cut at whole pixels (zero
    outside the image), then resized as skimage's `resize` does (Gaussian anti-aliasing, linear
    interpolation, mirrored edges) and truncated to uint8."""
    from scipy import ndimage

    x0, y0, x1, y1 = np.asarray(box, float)
    center = np.array([x0 + (x1 - x0) / 2, y0 + (y1 - y0) / 2])
    side = 200 * (max(x1 - x0, y1 - y0) / 200 * dilate)  # TRAM's box scale is in units of 200 pixels
    # SPIN's crop transform maps the crop's corners back to whole pixels, truncated towards zero
    upper_left = np.trunc(center - (side + 1e-6) / 2).astype(int)
    lower_right = np.trunc(center + (side + 1e-6) / 2).astype(int)
    height, width = rgb.shape[:2]
    cut = np.zeros((lower_right[1] - upper_left[1], lower_right[0] - upper_left[0], 3))
    src_x = max(0, upper_left[0]), min(width, lower_right[0])
    src_y = max(0, upper_left[1]), min(height, lower_right[1])
    rows, columns = slice(*np.subtract(src_y, upper_left[1])), slice(*np.subtract(src_x, upper_left[0]))
    cut[rows, columns] = rgb[src_y[0]:src_y[1], src_x[0]:src_x[1]]
    factors = np.array([cut.shape[0] / CROP_SIZE, cut.shape[1] / CROP_SIZE, 1.0])
    if (factors > 1).any():
        cut = ndimage.gaussian_filter(cut, np.maximum(0, (factors - 1) / 2), mode="mirror")
    resized = ndimage.zoom(cut, 1 / factors, order=1, mode="mirror", grid_mode=True)
    return np.clip(resized, 0, 255).astype(np.uint8), center, side


def normalise(crop: np.ndarray) -> np.ndarray:
    """(3, 256, 256) float32 of a (256, 256, 3) uint8 crop as torchvision's ToTensor and Normalize make it
    (TRAM's normalisation)."""
    scaled = crop.astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    mean, std = ((values / 255).astype(np.float32)[:, None, None] for values in (MEAN, STD))
    return (scaled - mean) / std
