"""Carrying an edit of the canonical image to every frame through the fitted deformation (the `canonical`
artifact's per-frame canonical coordinates), with the edit's alpha compositing it over the frames. A fit
with masks has a canonical image per layer (`canonical.png` the background, `canonical_1.png` the masked
foreground); an edit of a layer reaches only the pixels its mask gives that layer."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from vidcli.canonical import EDIT_NAMES
from vidcli.errors import InputError

CANONICAL_PNG = "canonical.png"
CANONICAL_JSON = "canonical.json"
DEFORMATION_NPY = "deformation.npy"
RECONSTRUCTION_MP4 = "reconstruction.mp4"
PSNR_CSV = "psnr.csv"
CURVE_CSV = "curve.csv"
MODEL_FILE = "model.safetensors"
LAYERS_NPY = "layers.npy"  # [T, h, w] uint8 layer of every pixel, in fits with masks


def canonical_png(layer: int) -> str:
    return CANONICAL_PNG if layer == 0 else f"canonical_{layer}.png"


def _stylize(rgb: np.ndarray) -> np.ndarray:
    return cv2.stylization(rgb, sigma_s=60, sigma_r=0.45)


def _pencil(rgb: np.ndarray) -> np.ndarray:
    return cv2.pencilSketch(rgb, sigma_s=60, sigma_r=0.07, shade_factor=0.05)[1]


def _posterize(rgb: np.ndarray) -> np.ndarray:
    smooth = cv2.bilateralFilter(rgb, 9, 60, 60)
    return (smooth // 48 * 48 + 24).astype(np.uint8)


EDITS = dict(zip(EDIT_NAMES, (_stylize, _pencil, _posterize)))
"""Built-in edits of an 8-bit RGB image (OpenCV's non-photorealistic filters), to show propagation without an
image editor; `benchmarks/canonical.py` applies the same ones to every frame to compare flicker."""


def read_edit(path: Path) -> np.ndarray:
    """An edited canonical image as float RGBA in [0, 1] (opaque where the file has no alpha)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: not an image OpenCV can read")
    if image.dtype == np.uint16:
        image = (image / 257).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 3:
        image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 255.0


def builtin_edit(canonical_dir: Path, name: str, layer: int = 0) -> np.ndarray:
    """A built-in edit of a layer's fitted canonical image, as float RGBA."""
    rgb = cv2.cvtColor(cv2.imread(str(canonical_dir / canonical_png(layer))), cv2.COLOR_BGR2RGB)
    edited = EDITS[name](rgb)
    return np.dstack([edited, np.full(edited.shape[:2], 255, np.uint8)]).astype(np.float32) / 255.0


class Propagation:
    """The fitted deformation of one `canonical` artifact: `warp(edit, t, size)` gives frame t's view of an
    edited canonical image (RGBA of any size: it spans the canonical image's bounds)."""

    def __init__(self, canonical_dir: Path):
        about = json.loads((canonical_dir / CANONICAL_JSON).read_text())
        # per layer, the canonical coordinates (row0, row1, col0, col1) its image spans
        self.bounds = about.get("layer_bounds", [about["bounds"]])
        self.deformation = np.load(canonical_dir / DEFORMATION_NPY, mmap_mode="r")  # [T, h, w, 2] float16
        layers = canonical_dir / LAYERS_NPY
        self.layer_map = np.load(layers, mmap_mode="r") if layers.is_file() else None

    def __len__(self) -> int:
        return len(self.deformation)

    @property
    def layers(self) -> int:
        return len(self.bounds)

    def warp(self, edit: np.ndarray, t: int, size: tuple[int, int], layer: int = 0) -> np.ndarray:
        """Frame t's view of an edit of the layer's canonical image; transparent where the frame's pixels
        belong to another layer."""
        row0, row1, col0, col1 = self.bounds[layer]
        height, width = edit.shape[:2]
        points = np.asarray(self.deformation[t], np.float32)
        if points.shape[1::-1] != tuple(size):
            points = cv2.resize(points, size, interpolation=cv2.INTER_LINEAR)
        map_y = (points[..., 0] - row0) / (row1 - row0) * height - 0.5
        map_x = (points[..., 1] - col0) / (col1 - col0) * width - 0.5
        warped = cv2.remap(edit, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self.layer_map is not None:
            mine = np.asarray(self.layer_map[t]) == layer
            if mine.shape[::-1] != tuple(size):
                mine = cv2.resize(mine.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
            warped[..., 3] *= mine
        return warped

    def frame(self, image: np.ndarray, edits: dict[int, np.ndarray], t: int) -> np.ndarray:
        """Frame t (8-bit RGB) with the edits of the layers they are keyed by pasted over it."""
        size = image.shape[1::-1]
        for layer, edit in edits.items():
            image = composite(image, self.warp(edit, t, size, layer))
        return image


def composite(frame: np.ndarray, warped: np.ndarray) -> np.ndarray:
    """An 8-bit RGB frame with a warped float RGBA edit over it."""
    alpha = warped[..., 3:]
    out = warped[..., :3] * alpha + frame.astype(np.float32) / 255.0 * (1 - alpha)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def propagate_video(
    canonical_dir: Path, frames, edits: dict[int, np.ndarray], output: Path, crf: int = 18
) -> int:
    """Write `output` (mp4 at the frames' size and rate): the edits (by layer) carried to every frame."""
    from vidcli.io.video import VideoWriter

    propagation = Propagation(canonical_dir)
    with VideoWriter(output, frames.fps, frames.size, crf=crf) as writer:
        for t in range(len(propagation)):
            writer.write(propagation.frame(frames.read(t), edits, t))
    return len(propagation)


def upstream_artifact(artifact_dir: Path, port: str) -> Path:
    """The upstream artifact an artifact read on `port` (its manifest names it relative to the workspace,
    which holds artifacts at <workspace>/<input>/<stage>/<key>)."""
    manifest = json.loads((artifact_dir / "manifest.json").read_text())
    return artifact_dir.parents[2] / manifest["upstream"][port]
