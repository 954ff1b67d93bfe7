"""Optical-flow files and helpers: Middlebury `.flo`, KITTI flow PNGs, colour coding, end-point error.

A flow field is an HxWx2 float32 array of (u, v) displacements in pixels: x right, y down. A KITTI PNG
stores it in 1/64-pixel steps at about an eighth of a `.flo`'s size (docs/formats.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from vidcli.errors import InputError

FLO_MAGIC = 202021.25  # the float32 whose bytes read 'PIEH'
_HEADER_BYTES = 12

# A `flow` artifact: FLOW_INDEX_NAME lists the pairs and the file format; each pair's field is
# PAIRS_DIR/pair_filename(i, j, suffix).
FLOW_INDEX_NAME = "index.json"
PAIRS_DIR = "pairs"
FORMAT_SUFFIXES = {"png": ".png", "flo": ".flo"}  # KITTI 16-bit PNG, Middlebury float32

# Baker et al.'s colour wheel: hue anchors (red, yellow, green, cyan, blue, magenta) and how many
# steps each segment to the next anchor gets; the uneven steps make hues perceptually even.
_WHEEL_ANCHORS = np.array(
    [(255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (255, 0, 255)], np.float64
) / 255.0
_WHEEL_STEPS = (15, 6, 4, 11, 13, 6)


def pair_filename(first: int, second: int, suffix: str = ".flo") -> str:
    """The file name of the flow from frame `first` to frame `second`."""
    return f"{first:06d}_{second:06d}{suffix}"


class FlowArtifact:
    """A `flow` stage artifact: its index and each pair's field, in the pixels of the size flow was
    computed at (`scale` converts them to frame pixels)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.index = json.loads((self.folder / FLOW_INDEX_NAME).read_text())
        self.pairs = [tuple(pair) for pair in self.index["pairs"]]
        self.scale = np.array(self.index["scale"], np.float32)
        self._suffix = FORMAT_SUFFIXES[self.index["format"]]

    def read(self, first: int, second: int) -> np.ndarray:
        return read_flow(self.folder / PAIRS_DIR / pair_filename(first, second, self._suffix))[0]


def write_flow(path, flow: np.ndarray) -> None:
    """Write a flow field in the format its suffix names (.png: KITTI, else Middlebury .flo)."""
    (write_kitti_flow if Path(path).suffix.lower() == ".png" else write_flo)(path, flow)


def read_flow(path) -> tuple[np.ndarray, np.ndarray]:
    """(flow, valid) of a `.flo` (non-finite vectors are unknown) or KITTI PNG file."""
    if Path(path).suffix.lower() == ".png":
        return read_kitti_flow(path)
    flow = read_flo(path)
    valid = np.isfinite(flow).all(axis=-1)
    return np.where(valid[..., None], flow, 0.0).astype(np.float32), valid


def write_flo(path, flow: np.ndarray) -> None:
    """Write an HxWx2 flow field as Middlebury `.flo` (little-endian)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be HxWx2, got {flow.shape}")
    height, width = flow.shape[:2]
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
    Path(path).write_bytes(header + flow.astype("<f4").tobytes())


def read_flo(path) -> np.ndarray:
    """Read a Middlebury `.flo` file into an HxWx2 float32 array."""
    data = Path(path).read_bytes()
    if len(data) < _HEADER_BYTES or np.frombuffer(data, "<f4", 1)[0] != FLO_MAGIC:
        raise InputError(f"{path}: not a Middlebury .flo file (no 'PIEH' tag)")
    width, height = (int(n) for n in np.frombuffer(data, "<i4", 2, offset=4))
    expected = _HEADER_BYTES + width * height * 8
    if width <= 0 or height <= 0 or len(data) != expected:
        raise InputError(f"{path}: .flo of {width}x{height} should be {expected} bytes, is {len(data)}")
    return np.frombuffer(data, "<f4", offset=_HEADER_BYTES).reshape(height, width, 2).astype(np.float32)


def read_kitti_flow(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit flow PNG: (HxWx2 float32 flow, HxW bool valid mask)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint16 or image.ndim != 3 or image.shape[2] < 3:
        raise InputError(f"{path}: not a KITTI flow image (16-bit, 3 channels)")
    blue, green, red = (image[..., c].astype(np.float32) for c in range(3))  # OpenCV reads BGR
    flow = np.stack([(red - 2**15) / 64.0, (green - 2**15) / 64.0], axis=-1)
    return flow, blue > 0


def write_kitti_flow(path, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a KITTI 16-bit flow PNG: u, v as 64 * value + 2^15 (1/64 px steps, |value| < 512), validity in
    the third channel (every pixel valid unless `valid` says otherwise)."""
    flow = np.asarray(flow, np.float64)
    valid = np.ones(flow.shape[:2], bool) if valid is None else np.asarray(valid, bool)
    encoded = np.clip(np.round(flow * 64.0 + 2**15), 0, 2**16 - 1).astype(np.uint16)
    bgr = np.dstack([valid.astype(np.uint16), encoded[..., 1], encoded[..., 0]])
    if not cv2.imwrite(str(path), bgr):
        raise OSError(f"cannot write {path}")


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample a flow field to `size` = (width, height), scaling the vectors with it."""
    height, width = flow.shape[:2]
    new_width, new_height = size
    resized = cv2.resize(flow, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    return resized * np.array([new_width / width, new_height / height], np.float32)


def endpoint_error(flow: np.ndarray, reference: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean end-point error (Euclidean distance between vectors, pixels), over `valid` if given."""
    error = np.linalg.norm(flow.astype(np.float64) - reference, axis=-1)
    return float(error[valid].mean() if valid is not None else error.mean())


def flow_metrics(fields) -> dict[str, float]:
    """EPE, the fractions of pixels within 1, 3 and 5 px, and KITTI's Fl-all (pixels off by more than
    3 px and 5% of the true length), pooled over the valid pixels of (estimate, truth, valid or None)
    triples; `pixels` counts them."""
    errors, lengths = [], []
    for estimate, truth, valid in fields:
        mask = np.ones(truth.shape[:2], bool) if valid is None else np.asarray(valid, bool)
        errors.append(np.linalg.norm(estimate.astype(np.float64) - truth, axis=-1)[mask])
        lengths.append(np.linalg.norm(truth.astype(np.float64), axis=-1)[mask])
    error, length = np.concatenate(errors), np.concatenate(lengths)
    if error.size == 0:
        raise InputError("no valid ground-truth flow to score")
    return {"epe": float(error.mean()), **{f"{t}px": float((error < t).mean()) for t in (1, 3, 5)},
            "fl_all": float(((error > 3.0) & (error > 0.05 * length)).mean()), "pixels": int(error.size)}


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field with Baker et al.'s wheel: hue is direction, saturation magnitude.

    Magnitudes are divided by `max_magnitude` (default: the field's largest); vectors beyond it
    are drawn darker. Returns an HxWx3 uint8 RGB image.
    """
    flow = np.nan_to_num(np.asarray(flow, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    u, v = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(u, v)
    scale = max_magnitude if max_magnitude else magnitude.max()
    radius = magnitude / max(scale, 1e-9)

    wheel = _colour_wheel()
    position = (np.arctan2(-v, -u) / np.pi + 1.0) / 2.0 * len(wheel)
    lower = np.floor(position).astype(np.int64) % len(wheel)
    upper = (lower + 1) % len(wheel)
    weight = (position - np.floor(position))[..., None]
    colour = (1.0 - weight) * wheel[lower] + weight * wheel[upper]

    inside = (radius <= 1.0)[..., None]
    colour = np.where(inside, 1.0 - radius[..., None] * (1.0 - colour), colour * 0.75)
    return np.round(colour * 255.0).astype(np.uint8)


def _colour_wheel() -> np.ndarray:
    """The wheel's 55 RGB colours in [0, 1], interpolated linearly between the anchors."""
    segments = []
    for i, steps in enumerate(_WHEEL_STEPS):
        start, end = _WHEEL_ANCHORS[i], _WHEEL_ANCHORS[(i + 1) % len(_WHEEL_ANCHORS)]
        fraction = np.arange(steps)[:, None] / steps
        segments.append(start + (end - start) * fraction)
    return np.concatenate(segments)
