"""Dense correspondences on a coarse grid from a forward and a backward optical-flow field.

Flow is computed on the working images; the grid has one cell per CELL x CELL working pixels.
Each cell gets the mean flow of its pixels, weighted by their confidence, and a confidence of its
own: the mean over its pixels of their forward-backward consistency times their texture weight, zero
where the flow leaves the image or where either end lies on a masked person.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

CELL = 8  # working pixels per grid cell along each axis: the grid is at 1/8 resolution
FB_SIGMA_PX = 1.0  # forward-backward error (working pixels) at which a pixel's confidence is exp(-1/2)
TEXTURE_SCALE = 25.0  # mean squared grey gradient (per pixel, 0-255 images) at which texture weight is 1/2


def grid_shape(width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of the grid of a working image; trailing pixels that fill no cell are ignored."""
    return height // CELL, width // CELL


def grid_pixels(width: int, height: int) -> np.ndarray:
    """Cell centres (rows * columns, 2) in grid pixels (x, y), row-major."""
    rows, columns = grid_shape(width, height)
    x, y = np.meshgrid(np.arange(columns) + 0.5, np.arange(rows) + 0.5)
    return np.stack([x, y], -1).reshape(-1, 2)


def grid_intrinsics(K: np.ndarray) -> np.ndarray:
    """Intrinsics of the grid, from those of the working images."""
    return np.diag([1.0 / CELL, 1.0 / CELL, 1.0]) @ K


def _cell_means(values: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Mean over each cell: (H, W) or (H, W, 2) float32 -> (rows * columns) or (rows * columns, 2)."""
    cropped = np.ascontiguousarray(values[:rows * CELL, :columns * CELL])
    means = cv2.resize(cropped, (columns, rows), interpolation=cv2.INTER_AREA)  # exact box means
    return means.reshape(rows * columns, *values.shape[2:])


@functools.lru_cache(maxsize=4)
def _pixel_indices(width: int, height: int) -> np.ndarray:
    """(H, W, 2) float32 x, y index of every pixel."""
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([x, y], -1)


def texture_weight(grey: np.ndarray) -> np.ndarray:
    """Per-pixel weight in [0, 1) from the local mean squared image gradient: flat regions (sky,
    blank walls) get their flow filled in from their surroundings, so it carries no information."""
    image = grey.astype(np.float32)
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    energy = cv2.blur(gx**2 + gy**2, (5, 5))
    return energy / (energy + TEXTURE_SCALE)


def textured_share(grey: np.ndarray, mask: np.ndarray | None, threshold: float) -> float:
    """Share of the grid's cells whose background (pixels off `mask`) is textured in two directions:
    the smaller eigenvalue of the cell's mean gradient structure tensor, people's pixels counting as
    flat, reaches `threshold` times TEXTURE_SCALE. A uniform wall, or the one straight edge where a
    studio's floor meets its backdrop, gives no such cells: flow there says nothing about the
    camera's motion along the edge."""
    image = grey.astype(np.float32)
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    if mask is not None:
        gx[mask], gy[mask] = 0.0, 0.0
    rows, columns = grid_shape(grey.shape[1], grey.shape[0])
    xx, yy, xy = (_cell_means(product, rows, columns) for product in (gx * gx, gy * gy, gx * gy))
    smaller = 0.5 * (xx + yy) - np.sqrt(0.25 * (xx - yy) ** 2 + xy**2)
    return float((smaller >= threshold * TEXTURE_SCALE).mean())


def correspondences(forward: np.ndarray, backward: np.ndarray, source_mask: np.ndarray | None,
                    target_mask: np.ndarray | None, source_texture: np.ndarray):
    """Where each grid cell of the source image lands in the target: (coords (P, 2) grid pixels,
    weight (P,)).

    `forward` is the flow source -> target and `backward` target -> source (H, W, 2, working
    pixels); masks (H, W) bool mark people, whose pixels get zero confidence at either end;
    `source_texture` is `texture_weight` of the source image.
    """
    height, width = forward.shape[:2]
    rows, columns = grid_shape(width, height)
    # Pixel centres are at index + 0.5; remap samples at index coordinates, so the offsets cancel.
    landing = _pixel_indices(width, height) + forward
    back = cv2.remap(backward, landing, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = forward + back
    error2 = round_trip[..., 0] ** 2 + round_trip[..., 1] ** 2
    confidence = np.exp(error2 * np.float32(-0.5 / FB_SIGMA_PX**2)) * source_texture
    x, y = landing[..., 0], landing[..., 1]
    confidence *= (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    if source_mask is not None:
        confidence *= ~source_mask
    if target_mask is not None:
        landed = cv2.remap(target_mask.astype(np.uint8), landing, None, cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=1)
        confidence *= landed == 0
    total = _cell_means(confidence, rows, columns)
    mean_flow = _cell_means(forward * confidence[..., None], rows, columns) / np.maximum(total, 1e-9)[:, None]
    coords = grid_pixels(width, height) + mean_flow / CELL
    return coords.astype(np.float32), total.astype(np.float32)
