"""A video with holes as the inpainting backends read it: frames, hole masks and optical flow, each
read from its artifact on demand, so that a backend holds only the frames it is working on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcli.io import masks as mask_files
from vidcli.io.flow import FlowArtifact
from vidcli.io.frames import FrameSequence

HOLES_JSON = "holes.json"  # the holes stage's per-frame masks
FILLED_DIR = "filled"  # the inpaint stage's frames, filled/000000.png ...
INPAINTED_MP4 = "inpainted.mp4"  # the inpaint_video stage's video


def filled_filename(index: int) -> str:
    """The PNG name of filled frame `index` in an inpaint artifact."""
    return f"{index:06d}.png"


class HoleVideo:
    """Frames (`frames` artifact), holes (`holes` artifact) and, when given, consecutive flow in both
    directions (`flow` artifact with step 1 and backward pairs), by frame index."""

    def __init__(self, frames_dir: Path, holes_dir: Path, flow_dir: Path | None = None):
        self.frames = FrameSequence(frames_dir)
        holes = mask_files.read_masks(Path(holes_dir) / HOLES_JSON)
        self._holes = {entry["frame"]: entry["rle"] for entry in holes["masks"]}
        self._areas = {entry["frame"]: entry["area"] for entry in holes["masks"]}
        self._flow = FlowArtifact(flow_dir) if flow_dir else None
        # (width, height) the flow was computed at
        self.flow_size = tuple(self._flow.index["size"]) if self._flow else None

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return self.frames.size

    @property
    def fps(self) -> float:
        return self.frames.fps

    def frame(self, i: int) -> np.ndarray:
        """Frame `i`, HxWx3 uint8 RGB."""
        return self.frames.read(i)

    def hole(self, i: int) -> np.ndarray:
        """The boolean HxW hole of frame `i` (True: to fill)."""
        rle = self._holes.get(i)
        if rle is None:
            width, height = self.size
            return np.zeros((height, width), bool)
        return mask_files.decode(rle)

    def hole_area(self, i: int) -> int:
        """Pixels to fill in frame `i`."""
        return self._areas.get(i, 0)

    def flow(self, i: int, j: int) -> np.ndarray:
        """Flow from frame i to frame j (|i - j| = 1) at `flow_size`, in that size's pixels."""
        if self._flow is None:
            raise ValueError("this video was given no flow")
        return self._flow.read(i, j)
