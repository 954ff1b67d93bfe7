"""What a frame predictor trains on: generated moving digits, or a folder of your own clips.

Both give sequences of `length` frames as (length, C, H, W) float32 arrays in [0, 1]; training item k
depends only on (seed, k), so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcli.errors import InputError
from vidcli.predict.digits import moving_digits

GENERATOR_FILE = "moving-digits.json"  # the source that stands for the generator (`--data moving-digits`)
GENERATOR = {"generator": "moving-digits", "version": 1}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
VALIDATION_STREAM = 1 << 40  # generated validation sequences are indices beyond any training item


@dataclass(frozen=True)
class DataOptions:
    length: int  # frames per sequence
    digits: int  # moving digits per generated sequence
    size: int  # side of generated sequences; side of the square crops of clips
    height: int  # clips are scaled to this height first
    colour: bool  # clips in colour (else grey)
    seed: int
    validation: int  # held-out sequences


def write_generator_source(folder: Path) -> Path:
    """The small file that stands for the generator as a pipeline source (its content is its identity);
    written whole in one rename, as the processes of a torchrun may all write it at once."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / GENERATOR_FILE
    text = json.dumps(GENERATOR, sort_keys=True) + "\n"
    if not path.is_file() or path.read_text() != text:
        partial = folder / f".{GENERATOR_FILE}.{os.getpid()}"
        partial.write_text(text)
        os.replace(partial, path)
    return path


def open_data(path: Path, options: DataOptions):
    """MovingDigits for the generator's source file, Clips for a folder."""
    path = Path(path)
    if path.is_file():
        try:
            about = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            about = None
        if about != GENERATOR:
            raise InputError(f"{path}: not a data folder nor vidcli's moving-digits source")
        return MovingDigits(options)
    return Clips(path, options)


class MovingDigits:
    """An endless stream of generated sequences (grey)."""

    kind = "moving-digits"
    channels = 1

    def __init__(self, options: DataOptions):
        self.options = options
        self.validation = [self._sequence(VALIDATION_STREAM + i) for i in range(options.validation)]

    def _sequence(self, index: int) -> np.ndarray:
        o = self.options
        return moving_digits(o.seed, index, o.length, o.size, o.digits)

    def item(self, k: int) -> np.ndarray:
        return self._sequence(k)

    def describe(self) -> dict:
        return {"kind": self.kind, "digits": self.options.digits, "size": self.options.size}


class Clips:
    """Random windows of `length` frames (a random square crop, flipped half the time) of the clips in a
    folder: every folder of images in it (a `frames` artifact, a folder of PNGs) and every video file.
    The last frames of each clip long enough (a sixth, at least `length`) are held out for validation."""

    kind = "clips"

    def __init__(self, folder: Path, options: DataOptions):
        self.options = options
        self.channels = 3 if options.colour else 1
        clips = [(name, frames) for name, frames in _read_clips(folder, options)
                 if len(frames) >= options.length]
        if not clips:
            raise InputError(f"{folder}: no clip of at least {options.length} frames (image folders or "
                             "videos)")
        self.names = [name for name, _ in clips]
        self.train, self.validation = [], []
        rng = np.random.default_rng([options.seed, 1])
        for _, frames in clips:
            held = max(options.length, len(frames) // 6) if len(frames) >= 2 * options.length else 0
            self.train.append(frames[:len(frames) - held])
            if held and len(self.validation) < options.validation:
                self.validation.append(self._window(frames[len(frames) - held:], rng, flip=False))
        self.weights = np.array([len(f) - options.length + 1 for f in self.train], np.float64)
        self.weights /= self.weights.sum()

    def _window(self, frames: np.ndarray, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
        o = self.options
        start = int(rng.integers(len(frames) - o.length + 1))
        height, width = frames.shape[1:3]
        y, x = int(rng.integers(height - o.size + 1)), int(rng.integers(width - o.size + 1))
        window = frames[start:start + o.length, y:y + o.size, x:x + o.size]
        if flip and rng.random() < 0.5:
            window = window[:, :, ::-1]
        return np.ascontiguousarray(window.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0

    def item(self, k: int) -> np.ndarray:
        rng = np.random.default_rng([self.options.seed, k])
        return self._window(self.train[rng.choice(len(self.train), p=self.weights)], rng)

    def describe(self) -> dict:
        return {"kind": self.kind, "clips": self.names, "frames": [len(f) for f in self.train],
                "height": self.options.height, "crop": self.options.size, "colour": self.options.colour}


def scale_frame(rgb: np.ndarray, height: int, colour: bool) -> np.ndarray:
    """An HxWx3 RGB frame at `height` rows (aspect kept), as HxWx3 or HxWx1 uint8."""
    width = max(1, round(rgb.shape[1] * height / rgb.shape[0]))
    scaled = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return scaled if colour else cv2.cvtColor(scaled, cv2.COLOR_RGB2GRAY)[..., None]


def _read_clips(folder: Path, options: DataOptions):
    """(name, frames as N x H x W x C uint8) of each clip under `folder`, in name order."""
    from vidcli.io.video import iter_frames

    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    directories = [folder, *sorted(p for p in folder.rglob("*") if p.is_dir() and not p.name.startswith("."))]
    for directory in directories:
        images = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            frames = []
            for path in images:
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise InputError(f"{path}: cannot read image")
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                frames.append(scale_frame(rgb, options.height, options.colour))
            yield str(directory.relative_to(folder)), _same_size(frames, directory, options)
        for path in sorted(p for p in directory.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
            frames = [scale_frame(frame.rgb, options.height, options.colour) for frame in iter_frames(path)]
            yield str(path.relative_to(folder)), _same_size(frames, path, options)


def _same_size(frames: list, where: Path, options: DataOptions) -> np.ndarray:
    if len({f.shape for f in frames}) > 1:
        raise InputError(f"{where}: frames of different sizes")
    stack = np.stack(frames)
    if min(stack.shape[1:3]) < options.size:
        raise InputError(f"{where}: frames of {stack.shape[2]}x{stack.shape[1]} at height {options.height} "
                         f"are smaller than the {options.size}-pixel crop")
    return stack
