"""The embedded body estimator: the body model fitted to a track's 2D keypoints and metric 3D landmarks
through the camera intrinsics, under robust losses and pose and shape priors (`vidcli.mocap.fitting`)."""

from __future__ import annotations

import numpy as np


class LandmarkFit:
    model = None
    checksum = None
    reads_images = False

    def __init__(self, config, body_model):
        self.config, self.body_model = config, body_model

    def fit(self, frames: np.ndarray, keypoints2d: np.ndarray, world3d: np.ndarray, K: np.ndarray,
            images=None, boxes=None):
        from vidcli.mocap.fitting import fit_track

        return fit_track(self.body_model, frames, keypoints2d, world3d, K, self.config)
