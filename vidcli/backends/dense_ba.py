"""The embedded camera solver: DROID-SLAM-style tracking on classical parts, as TRAM uses DROID with
people masked out. Keyframes by flow magnitude, a frame graph of nearby keyframes, dense
correspondences from optical flow (the camera stage's `flow` backend) weighted by forward-backward
consistency and zero on people, dense bundle adjustment of keyframe poses and 1/8-resolution inverse
depths (`vidcli.slam.tracker`)."""

from __future__ import annotations

import math

import numpy as np

from vidcli import backends


class DenseBundleAdjustment:
    checksum = None

    def __init__(self, config):
        self.config = config
        self.flow = backends.get("flow", config.flow).build(config)
        self.model = self.flow.model
        self.checksum = self.flow.checksum

    def solve(self, read, count: int, size: tuple[int, int], fps: float, K: np.ndarray, calibrate: bool,
              advance):
        from threadpoolctl import threadpool_limits

        from vidcli.slam.tracker import SlamSettings, track

        config = self.config
        percent = max(size) / 100.0
        settings = SlamSettings(keyframe_flow=config.keyframe_flow * percent,
                                static_flow=config.static_flow * percent, radius=config.radius,
                                window=config.window, global_iterations=config.iterations,
                                min_keyframe_gap=max(1, math.ceil(fps / config.max_keyframe_rate - 1e-9)),
                                min_textured_share=config.min_textured / 100)
        # One BLAS thread: its matrices are small, and more threads only spin (on two busy cores, they
        # doubled the CPU time and the wall time of the bundle adjustments).
        with threadpool_limits(1, user_api="blas"):
            return track(read, count, self.flow, K, settings, calibrate, advance)
