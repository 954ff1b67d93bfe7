"""Optical-flow training data: readers of FlyingChairs, Sintel, KITTI and `vidcli synth` folders, and
RAFT's photometric and spatial augmentation.

A sample is (image1, image2, flow, valid): two HxWx3 uint8 RGB images, the HxWx2 float32 forward flow
from the first to the second, and an HxW bool mask of the pixels whose flow is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from vidcli.errors import InputError
from vidcli.io.flow import read_flo, read_kitti_flow

KINDS = ("auto", "chairs", "sintel", "kitti", "synth")
SINTEL_PASSES = ("clean", "final")
SYNTH_FLOW_DIR = "flow"  # inside a `vidcli synth` OUT.mp4.gt/ folder: pair_filename(i, i + 1) .flo files

# FlyingChairs names: the layout of ../shared/data/flow and `vidcli synth-flow` (0000000-img0.png,
# 0000000-img1.png, 0000000-gt.flo) and the official release's (00001_img1.ppm, 00001_img2.ppm,
# 00001_flow.flo).
_CHAIRS_NAMES = (("-gt.flo", "-img0.png", "-img1.png"), ("_flow.flo", "_img1.ppm", "_img2.ppm"))


@dataclass(frozen=True)
class FlowSample:
    """Where one training pair lives; `read` gives (image1, image2, flow, valid)."""

    name: str
    read: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _dense(first: Path, second: Path, flow_path: Path):
    """A reader of a pair with dense `.flo` flow; non-finite vectors are invalid (and zeroed)."""
    def read():
        flow = read_flo(flow_path)
        valid = np.isfinite(flow).all(axis=-1)
        return read_rgb(first), read_rgb(second), np.where(valid[..., None], flow, 0.0), valid
    return read


def chairs(root: Path) -> list[FlowSample]:
    samples = []
    for flow_suffix, first_suffix, second_suffix in _CHAIRS_NAMES:
        for flow_path in sorted(root.glob(f"*{flow_suffix}")):
            stem = flow_path.name[: -len(flow_suffix)]
            first, second = root / f"{stem}{first_suffix}", root / f"{stem}{second_suffix}"
            if first.is_file() and second.is_file():
                samples.append(FlowSample(stem, _dense(first, second, flow_path)))
    return samples


def sintel(root: Path, image_pass: str = "clean") -> list[FlowSample]:
    """MPI-Sintel's training set: ROOT[/training]/{clean,final}/SCENE/frame_XXXX.png and flow/SCENE/*.flo."""
    root = root / "training" if (root / "training" / "flow").is_dir() else root
    samples = []
    for flow_path in sorted((root / "flow").glob("*/frame_*.flo")):
        scene, number = flow_path.parent.name, int(re.search(r"(\d+)", flow_path.stem).group(1))
        frames = root / image_pass / scene
        first, second = frames / f"frame_{number:04d}.png", frames / f"frame_{number + 1:04d}.png"
        if first.is_file() and second.is_file():
            samples.append(FlowSample(f"{scene}/{number:04d}", _dense(first, second, flow_path)))
    return samples


def kitti(root: Path) -> list[FlowSample]:
    """KITTI 2015 (image_2/, flow_occ/) or 2012 (colored_0/, flow_occ/): ROOT[/training], pairs *_10, *_11."""
    root = root / "training" if (root / "training" / "flow_occ").is_dir() else root
    images = next((root / d for d in ("image_2", "colored_0") if (root / d).is_dir()), None)
    if images is None:
        return []

    def reader(first: Path, second: Path, flow_path: Path):
        def read():
            flow, valid = read_kitti_flow(flow_path)
            return read_rgb(first), read_rgb(second), np.where(valid[..., None], flow, 0.0), valid
        return read

    samples = []
    for flow_path in sorted((root / "flow_occ").glob("*_10.png")):
        stem = flow_path.name[: -len("_10.png")]
        first, second = images / f"{stem}_10.png", images / f"{stem}_11.png"
        if first.is_file() and second.is_file():
            samples.append(FlowSample(stem, reader(first, second, flow_path)))
    return samples


def synth(root: Path) -> list[FlowSample]:
    """`vidcli synth` renders: OUT.mp4 beside OUT.mp4.gt/flow/<i>_<i+1>.flo (NaN where occluded)."""
    from vidcli.io.flow import pair_filename

    samples = []
    for video in sorted(root.glob("*.mp4")):
        flow_dir = video.with_name(video.name + ".gt") / SYNTH_FLOW_DIR
        flows = sorted(flow_dir.glob("*.flo"))
        if not flows:
            continue
        frames = _VideoFrames(video)
        for flow_path in flows:
            first, second = (int(n) for n in flow_path.stem.split("_"))
            if flow_path.name != pair_filename(first, first + 1) or second != first + 1:
                continue
            samples.append(FlowSample(f"{video.name}/{first}", _synth_reader(frames, first, flow_path)))
    return samples


class _VideoFrames:
    """A rendered clip's frames, decoded once on first use."""

    def __init__(self, video: Path):
        self.video, self._frames = video, None

    def __getitem__(self, index: int) -> np.ndarray:
        if self._frames is None:
            from vidcli.io.video import iter_frames

            self._frames = [frame.rgb for frame in iter_frames(self.video)]
        return self._frames[index]


def _synth_reader(frames: _VideoFrames, first: int, flow_path: Path):
    def read():
        flow = read_flo(flow_path)
        valid = np.isfinite(flow).all(axis=-1)
        return frames[first], frames[first + 1], np.where(valid[..., None], flow, 0.0), valid
    return read


_READERS = {"chairs": chairs, "kitti": kitti, "synth": synth}


def open_dataset(root: Path, kind: str = "auto", image_pass: str = "clean") -> tuple[str, list[FlowSample]]:
    """(kind, samples) of the dataset folder `root`; `auto` tries the layouts in turn."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such dataset folder")
    kinds = [k for k in KINDS[1:] if kind in ("auto", k)]
    for name in kinds:
        samples = sintel(root, image_pass) if name == "sintel" else _READERS[name](root)
        if samples:
            return name, samples
    wanted = "FlyingChairs, Sintel, KITTI or vidcli synth" if kind == "auto" else kind
    raise InputError(f"{root}: no {wanted} flow pairs found (docs/training.md lists the layouts)")


@dataclass(frozen=True)
class Augmentation:
    """RAFT's augmentation (core/utils/augmentor.py): colour jitter, occluding rectangles, random
    scale and stretch, flips and a random crop."""

    crop: tuple[int, int]  # (height, width)
    min_scale: float = -0.2  # log2 of the smallest random scale
    max_scale: float = 0.5
    spatial_prob: float = 0.8
    stretch_prob: float = 0.8
    max_stretch: float = 0.2
    flip: bool = True
    asymmetric_color_prob: float = 0.2
    eraser_prob: float = 0.5
    sparse: bool = False  # KITTI: resize the flow by scattering its valid vectors

    def __call__(self, sample, rng: np.random.Generator):
        image1, image2, flow, valid = sample
        image1, image2 = self._colour(image1, image2, rng)
        image2 = self._erase(image1, image2, rng)
        image1, image2, flow, valid = self._spatial(image1, image2, flow, valid, rng)
        return image1, image2, flow, valid

    def _colour(self, image1, image2, rng):
        if rng.random() < self.asymmetric_color_prob:
            return jitter_colour(image1, rng), jitter_colour(image2, rng)
        both = jitter_colour(np.concatenate([image1, image2], axis=0), rng)
        return both[: len(image1)], both[len(image1):]

    def _erase(self, image1, image2, rng):
        if rng.random() >= self.eraser_prob:
            return image2
        image2 = image2.copy()
        mean = image2.reshape(-1, 3).mean(axis=0)
        height, width = image2.shape[:2]
        for _ in range(rng.integers(1, 3)):
            x0, y0 = rng.integers(0, width), rng.integers(0, height)
            dx, dy = rng.integers(50, 100), rng.integers(50, 100)
            image2[y0:y0 + dy, x0:x0 + dx] = mean
        return image2

    def _spatial(self, image1, image2, flow, valid, rng):
        crop_h, crop_w = self.crop
        height, width = image1.shape[:2]
        smallest = max((crop_h + 8) / height, (crop_w + 8) / width)
        scale = 2 ** rng.uniform(self.min_scale, self.max_scale)
        scale_x = scale_y = scale
        if rng.random() < self.stretch_prob:
            scale_x *= 2 ** rng.uniform(-self.max_stretch, self.max_stretch)
            scale_y *= 2 ** rng.uniform(-self.max_stretch, self.max_stretch)
        if rng.random() >= self.spatial_prob:
            scale_x = scale_y = 1.0
        scale_x, scale_y = max(scale_x, smallest), max(scale_y, smallest)
        if (scale_x, scale_y) != (1.0, 1.0):
            size = (round(width * scale_x), round(height * scale_y))
            image1 = cv2.resize(image1, size, interpolation=cv2.INTER_LINEAR)
            image2 = cv2.resize(image2, size, interpolation=cv2.INTER_LINEAR)
            flow, valid = (_scatter_flow if self.sparse else _resize_dense)(flow, valid, size)
        if self.flip and rng.random() < 0.5:
            image1, image2, valid = image1[:, ::-1], image2[:, ::-1], valid[:, ::-1]
            flow = flow[:, ::-1] * [-1, 1]
        if self.flip and not self.sparse and rng.random() < 0.1:
            image1, image2, valid = image1[::-1], image2[::-1], valid[::-1]
            flow = flow[::-1] * [1, -1]
        height, width = image1.shape[:2]
        y0, x0 = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
        window = (slice(y0, y0 + crop_h), slice(x0, x0 + crop_w))
        return (np.ascontiguousarray(image1[window]), np.ascontiguousarray(image2[window]),
                np.ascontiguousarray(flow[window], np.float32), np.ascontiguousarray(valid[window]))


def jitter_colour(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.4, contrast: float = 0.4,
                  saturation: float = 0.4, hue: float = 0.5 / np.pi) -> np.ndarray:
    """torchvision's ColorJitter as RAFT sets it: the four changes in a random order."""
    result = image.astype(np.float32) / 255.0
    for change in rng.permutation(4):
        if change == 0:
            result = result * rng.uniform(1 - brightness, 1 + brightness)
        elif change == 1:
            grey = cv2.cvtColor(np.clip(result, 0, 1), cv2.COLOR_RGB2GRAY).mean()
            result = (result - grey) * rng.uniform(1 - contrast, 1 + contrast) + grey
        elif change == 2:
            grey = cv2.cvtColor(np.clip(result, 0, 1), cv2.COLOR_RGB2GRAY)[..., None]
            result = (result - grey) * rng.uniform(1 - saturation, 1 + saturation) + grey
        else:
            hsv = cv2.cvtColor(np.clip(result, 0, 1), cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0] + rng.uniform(-hue, hue) * 360.0) % 360.0
            result = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        result = np.clip(result, 0.0, 1.0)
    return np.round(result * 255.0).astype(np.uint8)


def _resize_dense(flow, valid, size):
    width, height = size
    scale = np.array([width / flow.shape[1], height / flow.shape[0]], np.float32)
    flow = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR) * scale
    valid = cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return flow, valid


def _scatter_flow(flow, valid, size):
    """Sparse flow at a new size: each valid vector, scaled, moves to its scaled pixel (RAFT's
    resize_sparse_flow_map); pixels that receive none are invalid."""
    width, height = size
    scale = np.array([width / flow.shape[1], height / flow.shape[0]], np.float32)
    ys, xs = np.nonzero(valid)
    vectors = flow[ys, xs] * scale
    new_x, new_y = np.round(xs * scale[0]).astype(int), np.round(ys * scale[1]).astype(int)
    inside = (new_x >= 0) & (new_x < width) & (new_y >= 0) & (new_y < height)
    resized, resized_valid = np.zeros((height, width, 2), np.float32), np.zeros((height, width), bool)
    resized[new_y[inside], new_x[inside]] = vectors[inside]
    resized_valid[new_y[inside], new_x[inside]] = True
    return resized, resized_valid
