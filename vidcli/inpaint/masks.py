"""Hole masks given by the user: a folder of per-frame images, a mask video, or one image for every frame.

Lossless images (PNG, BMP, TIFF) mark a hole with any non-zero pixel; palette images (DAVIS, STTN's
examples) are read by palette index, so index 0 is background whatever its colour. Lossy sources
(JPEG images, mask videos) mark a hole where the brightest channel exceeds 127, so that compression
noise around black is not taken for holes. An alpha channel is ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from vidcli.errors import InputError

IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp"}
LOSSY_SUFFIXES = {".jpg", ".jpeg", ".webp"}
LOSSY_THRESHOLD = 127


def read_mask_image(path: Path) -> np.ndarray:
    """The boolean (H, W) hole mask of one image file."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "P":
                return np.asarray(image) != 0
            if image.mode in ("RGBA", "LA", "PA"):
                image = image.convert("RGB" if image.mode == "RGBA" else "L")
            pixels = np.asarray(image)
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"{path}: cannot read mask image ({exc})") from None
    if pixels.ndim == 3:
        pixels = pixels.max(axis=2)
    threshold = LOSSY_THRESHOLD if path.suffix.lower() in LOSSY_SUFFIXES else 0
    return pixels > threshold


def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def mask_images(folder: Path) -> list[Path]:
    """The image files of a mask folder in natural order (frame2 before frame10)."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    if not files:
        raise InputError(f"{folder}: no mask images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return sorted(files, key=_natural_key)


def iter_masks(path: Path, count: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """`count` boolean masks of `size` (width, height) from a mask folder, video or image, one per
    frame; InputError when their number or size differs from the video's."""
    path = Path(path)
    if path.is_dir():
        files = mask_images(path)
        if len(files) != count:
            raise InputError(f"{path}: {len(files)} mask images for a video of {count} frames")
        masks = (read_mask_image(f) for f in files)
        names = (f.name for f in files)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        mask = read_mask_image(path)
        masks = (mask for _ in range(count))
        names = (path.name for _ in range(count))
    else:
        masks = _video_masks(path, count)
        names = (f"{path.name} frame {i}" for i in range(count))
    for mask, name in zip(masks, names):
        if (mask.shape[1], mask.shape[0]) != tuple(size):
            raise InputError(
                f"{name}: mask is {mask.shape[1]}x{mask.shape[0]}, the video is {size[0]}x{size[1]}"
            )
        yield mask


def _video_masks(path: Path, count: int) -> Iterator[np.ndarray]:
    from vidcli.io.video import iter_frames

    seen = 0
    for frame in iter_frames(path):
        seen += 1
        if seen > count:
            break
        yield frame.rgb.max(axis=2) > LOSSY_THRESHOLD
    if seen != count:
        more = "more than " if seen > count else ""
        raise InputError(f"{path}: mask video has {more}{seen} frames for a video of {count} frames")
