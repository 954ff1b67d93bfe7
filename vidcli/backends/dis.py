"""OpenCV's Dense Inverse Search flow on grey images: the embedded flow backend."""

from __future__ import annotations

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
PRESET_FINEST_SCALE = -1  # `dis_finest_scale` value that keeps the preset's finest pyramid level


class DisFlow:
    checksum = None

    def __init__(self, config):
        self.model = f"dis-{config.dis_preset}"
        self._dis = cv2.DISOpticalFlow_create(PRESETS[config.dis_preset])
        if config.dis_finest_scale != PRESET_FINEST_SCALE:
            self.model += f"-finest{config.dis_finest_scale}"
            self._dis.setFinestScale(config.dis_finest_scale)

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return self._dis.calc(first, second, None)
