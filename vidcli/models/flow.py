"""Optical-flow estimators shared by the stages that need flow: OpenCV DIS (embedded) and RAFT.

An estimator turns an RGB image into its own prepared form once (`prepare`), then computes the
HxWx2 flow (u, v in pixels) from one prepared image to another (`flow`).
"""

from __future__ import annotations

import cv2
import numpy as np

from vidcli.console import log
from vidcli.errors import ConfigError, StageError

RAFT_CHECKPOINT = "raft_large"
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
BACKENDS = ("auto", "dis", "raft")


def resolve_backend(stage: str, backend: str, dis_preset: str, device: str) -> tuple[str, str]:
    """Check flow settings of `stage` and make `auto` concrete: (backend, device).

    auto picks RAFT when its checkpoint is installed, else DIS; DIS always runs on the CPU, RAFT's
    `auto` device is cuda when a GPU is visible.
    """
    from vidcli.devices import visible_gpu_count
    from vidcli.models import registry

    if backend not in BACKENDS:
        raise ConfigError(f"{stage}: backend must be auto, dis or raft, got {backend!r}")
    if dis_preset not in DIS_PRESETS:
        raise ConfigError(f"{stage}: dis_preset must be one of {', '.join(DIS_PRESETS)}, got {dis_preset!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"{stage}: device must be auto, cpu or cuda, got {device!r}")
    if backend == "auto":
        backend = "raft" if registry.is_present(RAFT_CHECKPOINT) else "dis"
        if backend == "dis":
            log.info("%s: RAFT checkpoint %s is not installed; using DIS", stage, RAFT_CHECKPOINT)
    if backend == "dis":
        device = "cpu"
    elif device == "auto":
        device = "cuda" if visible_gpu_count() else "cpu"
    return backend, device


def make_estimator(backend: str, dis_preset: str, device: str, dis_finest_scale: int | None = None):
    """The estimator of a resolved backend (see `resolve_backend`); `dis_finest_scale`, when given,
    overrides the DIS preset's finest pyramid level."""
    return RaftFlow(device) if backend == "raft" else DisFlow(dis_preset, dis_finest_scale)


class DisFlow:
    """OpenCV's Dense Inverse Search flow on grey images."""

    name = "dis"
    checksum = None

    def __init__(self, preset: str, finest_scale: int | None = None):
        self.model = f"dis-{preset}" + ("" if finest_scale is None else f"-finest{finest_scale}")
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        if finest_scale is not None:
            self._dis.setFinestScale(finest_scale)

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return self._dis.calc(first, second, None)


class RaftFlow:
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
