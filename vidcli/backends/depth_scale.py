"""The `depth` scale backend: a metric depth network (`vidcli.slam.metric_depth`) on each keyframe, and
TRAM's robust fit of the reconstruction's depth to it on confident, near pixels
(`vidcli.slam.metric_scale`): one scale sample per keyframe."""

from __future__ import annotations

import numpy as np


class DepthScale:
    reads_images = True

    def __init__(self, config):
        from vidcli.slam.metric_depth import MetricDepth

        self.config = config
        self._depth = MetricDepth(config.depth_model, config.device)
        self.model, self.checksum = self._depth.checkpoint, self._depth.checksum

    def samples(self, camera, depth: dict, keypoints, read=None) -> list[float]:
        import cv2

        from vidcli.slam.metric_scale import fit_depth_scale

        samples = []
        for slot, keyframe in enumerate(depth["keyframes"]):
            inverse = depth["inv_depth"][slot]
            height, width = inverse.shape
            metric = cv2.resize(self._depth.depth(read(int(keyframe))), (width, height),
                                interpolation=cv2.INTER_AREA)
            usable = (depth["confidence"][slot] >= self.config.depth_confidence) & (inverse > 0)
            with np.errstate(divide="ignore"):
                scale = fit_depth_scale(np.where(inverse > 0, 1 / inverse, 0), metric, usable)
            if scale is not None and np.isfinite(scale) and scale > 0:
                samples.append(scale)
        return samples
