"""The embedded pose estimator: the BlazePose-33 landmarks (pixels with visibility, and metric 3D world
points) that the embedded tracker recorded; running the landmark model again would only double the
cost. (Temporal smoothing was measured on synthetic ground truth and only added lag.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcli.io.keypoints import read_keypoints
from vidcli.io.tracks import LANDMARKS_NPZ, Tracks, check_rows


class RecordedLandmarks:
    model = checksum = None  # no model runs here; the track stage's manifest names the one that recorded them
    layout = "blazepose33"

    def __init__(self, config, frames, tracks: Tracks, track_dir: Path):
        path = Path(track_dir) / LANDMARKS_NPZ
        self._landmarks = read_keypoints(path)
        check_rows(self._landmarks.frame, self._landmarks.track_id, tracks, path)

    def keypoints(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._landmarks.keypoints2d[rows], self._landmarks.world3d[rows]
