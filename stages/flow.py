"""Optical flow between frame pairs (i, i + step): OpenCV DIS (embedded) or RAFT (full backend)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vidcli.console import log, progress
from vidcli.engine.stage import RunInfo, setting
from vidcli.errors import ConfigError, InputError, StageError
from vidcli.io.flow import FLOW_INDEX_NAME, PAIRS_DIR, pair_filename, write_flo
from vidcli.io.frames import FrameSequence
from vidcli.io.video import scaled_size

VERSION = 1
INPUTS = ("frames",)

RAFT_CHECKPOINT = "raft_large"
_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass
class Config:
    backend: str = setting("auto", "auto | dis | raft; auto: RAFT when its checkpoint is installed, else DIS")
    max_size: int = setting(512, "longest side, in pixels, of the images flow is computed on; 0 = frame size")
    step: int = setting(1, "flow goes from frame i to frame i + step, for every i")
    dis_preset: str = setting("medium", "DIS speed/quality preset: ultrafast | fast | medium")
    backward: bool = setting(False, "also store flow from i + step back to i, for forward-backward checks")
    device: str = setting("auto", "auto | cpu | cuda, for RAFT; auto: cuda when a GPU is visible", significant=False)


def resolve_config(config: Config) -> Config:
    """Check the settings and make `auto` concrete, so the artifact key names the backend that runs."""
    from vidcli.devices import visible_gpu_count
    from vidcli.models import registry

    if config.backend not in ("auto", "dis", "raft"):
        raise ConfigError(f"flow: backend must be auto, dis or raft, got {config.backend!r}")
    if config.dis_preset not in _DIS_PRESETS:
        raise ConfigError(f"flow: dis_preset must be one of {', '.join(_DIS_PRESETS)}, got {config.dis_preset!r}")
    if config.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"flow: device must be auto, cpu or cuda, got {config.device!r}")
    if config.step < 1 or config.max_size < 0:
        raise ConfigError("flow: step must be at least 1 and max_size not negative")
    backend = config.backend
    if backend == "auto":
        backend = "raft" if registry.is_present(RAFT_CHECKPOINT) else "dis"
        if backend == "dis":
            log.info("flow: RAFT checkpoint %s is not installed; using DIS", RAFT_CHECKPOINT)
    device = config.device
    if backend == "dis":
        device = "cpu"
    elif device == "auto":
        device = "cuda" if visible_gpu_count() else "cpu"
    return replace(config, backend=backend, device=device)


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    config = resolve_config(config)
    frames = FrameSequence(inputs["frames"].path)
    if len(frames) <= config.step:
        raise InputError(
            f"flow: the video has {len(frames)} frames; step {config.step} needs at least {config.step + 1}")
    estimator = _make_estimator(config)
    frame_size = frames.size
    size = scaled_size(*frame_size, config.max_size)

    forward = [(i, i + config.step) for i in range(len(frames) - config.step)]
    pairs = [pair for i, j in forward for pair in ([(i, j), (j, i)] if config.backward else [(i, j)])]
    (out_dir / PAIRS_DIR).mkdir()
    prepared: dict[int, object] = {}
    with progress(f"flow ({estimator.name})", len(pairs)) as bar:
        for i, j in pairs:
            for k in (i, j):
                if k not in prepared:
                    rgb = cv2.resize(frames.read(k), size, interpolation=cv2.INTER_AREA)
                    prepared[k] = estimator.prepare(rgb)
            write_flo(out_dir / PAIRS_DIR / pair_filename(i, j), estimator.flow(prepared[i], prepared[j]))
            for k in [k for k in prepared if k < min(i, j)]:
                del prepared[k]
            bar.advance()

    index = {
        "pairs": [list(pair) for pair in pairs],
        "step": config.step,
        "backward": config.backward,
        "size": list(size),
        "frame_size": list(frame_size),
        "scale": [frame_size[0] / size[0], frame_size[1] / size[1]],
        "backend": estimator.name,
    }
    (out_dir / FLOW_INDEX_NAME).write_text(json.dumps(index, indent=1))
    return RunInfo(backend=estimator.name, model=estimator.model, checksum=estimator.checksum,
                   counts={"pairs": len(pairs)})


def _make_estimator(config: Config):
    return _Raft(config.device) if config.backend == "raft" else _Dis(config.dis_preset)


class _Dis:
    """OpenCV's Dense Inverse Search flow on grey images."""

    name = "dis"
    checksum = None

    def __init__(self, preset: str):
        self.model = f"dis-{preset}"
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return self._dis.calc(first, second, None)


class _Raft:
    """torchvision's RAFT (large) with the registry's checkpoint."""

    name = "raft"
    model = RAFT_CHECKPOINT

    def __init__(self, device: str):
        import torch
        from torchvision.models.optical_flow import raft_large

        from vidcli.models import registry

        state, self.checksum = registry.load_state_dict(RAFT_CHECKPOINT)
        network = raft_large(weights=None, progress=False)
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            first_line = str(exc).splitlines()[0]
            raise StageError(
                f"checkpoint {RAFT_CHECKPOINT} does not fit torchvision's raft_large: {first_line}") from None
        self._torch = torch
        self._device = torch.device(device)
        self._network = network.eval().to(self._device)

    def prepare(self, rgb: np.ndarray):
        """A 1x3xHxW tensor in [-1, 1], padded on the right and bottom to what RAFT accepts:
        multiples of 8, at least 128 (its correlation pyramid halves 1/8-scale features three times)."""
        height, width = rgb.shape[:2]
        image = self._torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
        padding = (0, max(128 - width, -width % 8), 0, max(128 - height, -height % 8))
        image = self._torch.nn.functional.pad(image, padding, mode="replicate")
        return image.to(self._device), (height, width)

    def flow(self, first, second) -> np.ndarray:
        (image1, (height, width)), (image2, _) = first, second
        with self._torch.inference_mode():
            estimate = self._network(image1, image2)[-1][0, :, :height, :width]
        return estimate.permute(1, 2, 0).float().cpu().numpy()
