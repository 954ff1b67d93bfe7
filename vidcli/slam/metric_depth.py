"""Metric depth networks through transformers (`AutoModelForDepthEstimation`): ZoeDepth (NYU, the one
TRAM's code loads), Depth Anything V2 metric (indoor / outdoor) and Depth Pro, each from its registry
checkpoint folder (the hub repository's files)."""

from __future__ import annotations

import numpy as np

from vidcli.errors import StageError

# depth model setting -> registry checkpoint
DEPTH_CHECKPOINTS = {
    "zoedepth": "zoedepth_nyu",
    "depth_anything_indoor": "depth_anything_v2_metric_indoor",
    "depth_anything_outdoor": "depth_anything_v2_metric_outdoor",
    "depth_pro": "depth_pro",
}


class MetricDepth:
    """One network: `depth(rgb)` gives metres per pixel of an RGB uint8 image."""

    def __init__(self, model: str, device: str):
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        from vidcli.engine.keys import sha256_of
        from vidcli.models import registry

        self.checkpoint = DEPTH_CHECKPOINTS[model]
        folder = registry.checkpoint_path(self.checkpoint)
        self.processor = AutoImageProcessor.from_pretrained(folder)
        self.network = AutoModelForDepthEstimation.from_pretrained(folder).eval().to(device)
        self.device = device
        weights = sorted(folder.glob("*.safetensors"))
        self.checksum = sha256_of(weights[0]) if weights else None

    def depth(self, rgb: np.ndarray) -> np.ndarray:
        return self._estimate(rgb)["predicted_depth"].float().cpu().numpy()

    def focal(self, rgb: np.ndarray) -> float:
        """The focal length (pixels of `rgb`) the network estimates from its field of view (Depth Pro)."""
        focal = self._estimate(rgb).get("focal_length")
        if focal is None:
            raise StageError(f"{self.checkpoint} does not estimate a focal length")
        if not 0 < float(focal) < np.inf:  # a field of view outside (0, 180) degrees
            raise StageError(f"{self.checkpoint} estimated an unusable focal length ({float(focal):.4g} px)")
        return float(focal)

    def _estimate(self, rgb: np.ndarray) -> dict:
        import torch

        size = [rgb.shape[:2]]
        inputs = self.processor(images=rgb, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            outputs = self.network(**inputs)
        # ZoeDepth's processor pads the image and must know its size to cut the padding off again
        extra = {"source_sizes": size} if "source_sizes" in _parameters(self.processor) else {}
        return self.processor.post_process_depth_estimation(outputs, target_sizes=size, **extra)[0]


def _parameters(processor) -> tuple[str, ...]:
    import inspect

    return tuple(inspect.signature(processor.post_process_depth_estimation).parameters)
