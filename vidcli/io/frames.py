"""Reading a `frames` artifact: JPEG frames `000000.jpg`... and their `index.json`."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np

from vidcli.errors import InputError, StageError

INDEX_NAME = "index.json"
Item = TypeVar("Item")
_REDUCED_READS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}  # decoding scale factor -> imread flag


def frame_filename(index: int) -> str:
    """The file name of frame `index` in a frames artifact."""
    return f"{index:06d}.jpg"


def write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    """Write an RGB array as a JPEG of the given quality (1-100)."""
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise StageError(f"could not write {path}")


def write_frames(directory, images, fps: float, quality: int = 100) -> Path:
    """Store RGB `images` as a frames artifact (frames and a minimal index) in a new `directory`,
    for feeding still images, such as flow benchmark pairs, to the stages that read frames."""
    directory = Path(directory)
    directory.mkdir(parents=True)
    for i, rgb in enumerate(images):
        write_jpeg(directory / frame_filename(i), rgb, quality)
    height, width = images[0].shape[:2]
    timestamps = [i / fps for i in range(len(images))]
    index = {"fps": fps, "width": width, "height": height, "count": len(images), "rotation": 0,
             "timestamps": timestamps, "source_timestamps": timestamps,
             "source_indices": list(range(len(images)))}
    (directory / INDEX_NAME).write_text(json.dumps(index))
    return directory


class FrameSequence:
    """The frames of a `frames` artifact directory, read on demand as RGB arrays."""

    def __init__(self, directory):
        self.directory = Path(directory)
        index_path = self.directory / INDEX_NAME
        if not index_path.is_file():
            raise InputError(f"{self.directory}: not a frames artifact (no {INDEX_NAME})")
        self.index = json.loads(index_path.read_text())

    def __len__(self) -> int:
        return self.index["count"]

    @property
    def fps(self) -> float:
        return self.index["fps"]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.index["width"], self.index["height"]

    @property
    def timestamps(self) -> list[float]:
        """Each frame's time in seconds."""
        return self.index["timestamps"]

    def path(self, i: int) -> Path:
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range 0..{len(self) - 1}")
        return self.directory / frame_filename(i)

    def read(self, i: int) -> np.ndarray:
        """Frame `i` as an HxWx3 uint8 RGB array."""
        bgr = cv2.imread(str(self.path(i)), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"{self.path(i)}: cannot read frame image")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read_resized(self, i: int, size: tuple[int, int]) -> np.ndarray:
        """Frame `i` resized to `size` (width, height) by area averaging. The JPEG decoder scales by
        1/2, 1/4 or 1/8 on the way when the result still covers `size`, which is several times cheaper
        than decoding every pixel."""
        width, height = self.size
        factor = 1
        while factor < 8 and width // (2 * factor) >= size[0] and height // (2 * factor) >= size[1]:
            factor *= 2
        bgr = cv2.imread(str(self.path(i)), _REDUCED_READS[factor])
        if bgr is None:
            raise InputError(f"{self.path(i)}: cannot read frame image")
        if (bgr.shape[1], bgr.shape[0]) != tuple(size):
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def __iter__(self):
        for i in range(len(self)):
            yield self.read(i)


class ReadAhead(Generic[Item]):
    """`read(i)` for frames `0..count-1`, with the frames the caller will probably ask for next decoded
    in a background thread meanwhile: JPEG decoding releases the GIL, so on a second core it costs the
    caller no time. The caller is expected to go on with the step it last took (1, or the stride of a
    sparse pass); any other order still gets the right frames, decoded when asked. Use it as a context
    manager, which stops the thread."""

    def __init__(self, read: Callable[[int], Item], count: int, depth: int = 3):
        self._read, self._count, self._depth = read, count, depth
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
        self._pending: dict[int, Future] = {}
        self._last: int | None = None

    def __call__(self, i: int) -> Item:
        step = i - self._last if self._last is not None and i > self._last else 1
        self._last = i
        pending = self._pending.pop(i, None)
        expected = range(i + step, min(i + step * (self._depth + 1), self._count), step)
        for index in [index for index in self._pending if index not in expected]:
            self._pending.pop(index).cancel()
        for index in expected:
            if index not in self._pending:
                self._pending[index] = self._pool.submit(self._read, index)
        return pending.result() if pending is not None else self._read(i)

    def __enter__(self) -> ReadAhead[Item]:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
