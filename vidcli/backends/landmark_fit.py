"""The embedded body estimator: the body model fitted to a track's 2D keypoints and metric 3D landmarks
through the camera intrinsics, under robust losses and pose and shape priors (`vidcli.mocap.fitting`);
to the 2D keypoints alone where the keypoints have no 3D (a 2D-only layout: `vidcli.mocap.fit2d`)."""

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
        from vidcli.mocap.fit2d import fit_track_2d
        from vidcli.mocap.fitting import fit_track

        if not np.isfinite(world3d).any():
            return fit_track_2d(self.body_model, frames, keypoints2d, K, self.config)
        return fit_track(self.body_model, frames, keypoints2d, world3d, K, self.config)
