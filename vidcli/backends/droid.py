"""The full camera backend: DROID-SLAM (`droid.pth`) as DROID does its tracking
(`vidcli.slam.droid_frontend`: motion filter, frontend, backend, trajectory filler), with vidcli's
dense bundle adjustment (Schur complement, `vidcli.geometry.ba`) in place of DROID's CUDA layer.
People get zero confidence, as TRAM masks them; the camera stage's focal options apply (a sweep on
the final correspondences where it calibrates).
"""

from __future__ import annotations

import numpy as np

from vidcli.errors import StageError

CHECKPOINT = "droid"


def droid_settings(config):
    """DROID's thresholds from the camera stage's `droid_*` settings."""
    from vidcli.slam.droid_frontend import DroidSettings

    return DroidSettings(filter_thresh=config.droid_filter_thresh, warmup=config.droid_warmup,
                         keyframe_thresh=config.droid_keyframe_thresh,
                         frontend_thresh=config.droid_frontend_thresh,
                         frontend_window=config.droid_frontend_window,
                         frontend_radius=config.droid_frontend_radius, frontend_nms=config.droid_frontend_nms,
                         backend_thresh=config.droid_backend_thresh,
                         backend_radius=config.droid_backend_radius, backend_nms=config.droid_backend_nms)


class DroidCamera:
    model = CHECKPOINT

    def __init__(self, config):
        from vidcli.models import registry
        from vidcli.slam.droid_net import DroidNet, load_droid_state

        state, self.checksum = registry.load_state_dict(CHECKPOINT)
        self.network = DroidNet()
        try:
            self.network.load_state_dict(load_droid_state(state))
        except RuntimeError as exc:
            first_line = str(exc).splitlines()[0]
            raise StageError(f"checkpoint {CHECKPOINT} does not fit DROID-SLAM's network: "
                             f"{first_line}") from None
        self.config = config

    def solve(self, read, count: int, size: tuple[int, int], fps: float, K: np.ndarray, calibrate: bool,
              advance):
        from threadpoolctl import threadpool_limits

        from vidcli.slam import droid_frontend
        from vidcli.slam.tracker import SlamSettings

        slam = SlamSettings(radius=self.config.radius, global_iterations=self.config.iterations)
        # One BLAS thread for the bundle adjustment's small matrices (as the embedded backend)
        with threadpool_limits(1, user_api="blas"):
            return droid_frontend.track(read, count, self.network, self.config.device, K,
                                        droid_settings(self.config), calibrate, slam, advance)
