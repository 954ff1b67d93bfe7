"""BlazePose-33 keypoints per person and frame: pixels with visibility, and metric 3D world points.

A pose estimator (the seam for full backends such as ViTPose) gives each tracked detection its
keypoints. The embedded estimator takes the landmarks that the embedded track backend recorded:
that backend already ran the BlazePose landmark model on every tracked person's region to find and
box them, so running it again here would only double the cost. (Temporal smoothing was measured
on synthetic ground truth and only added lag, so the landmarks are kept as the model gives them.)
Each track's legs are then labelled consistently over time (`vidcli.perception.sides`): BlazePose
swaps them in a quarter to a third of the frames of a person walking past.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.engine.stage import RunInfo
from vidcli.errors import InputError
from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, read_keypoints, write_keypoints
from vidcli.io.tracks import LANDMARKS_NPZ, Tracks, read_tracks
from vidcli.perception.sides import consistent_legs

VERSION = 2
INPUTS = ("frames", "track")


@dataclass
class Config:
    """No settings yet: the embedded estimator has nothing to tune."""


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    track_dir = inputs["track"].path
    tracks = read_tracks(track_dir)
    estimator = _make_estimator(track_dir, tracks)
    keypoints2d, world3d = estimator.keypoints(np.arange(len(tracks)))
    relabelled = 0
    for track_id in np.unique(tracks.track_id):
        rows = np.flatnonzero(tracks.track_id == track_id)
        rows = rows[np.argsort(tracks.frame[rows], kind="stable")]
        keypoints2d[rows], world3d[rows], swapped = consistent_legs(tracks.frame[rows], keypoints2d[rows],
                                                                    world3d[rows])
        relabelled += int(swapped.sum())
    write_keypoints(out_dir / KEYPOINTS_NPZ, Keypoints(tracks.frame, tracks.track_id, keypoints2d, world3d))
    return RunInfo(backend=estimator.name, model=estimator.model, checksum=estimator.checksum,
                   counts={"keypoints": len(tracks), "legs_relabelled": relabelled})


def _make_estimator(track_dir: Path, tracks: Tracks):
    """The pose estimator: an object with `name`, `model`, `checksum` and `keypoints(rows)`, the
    (len(rows), 33, 3) pixel keypoints with visibility and (len(rows), 33, 3) world points of the given
    rows of the track table. Only the embedded one exists so far."""
    return _RecordedLandmarks(track_dir, tracks)


class _RecordedLandmarks:
    """The landmarks that the embedded track backend stored beside its tracks."""

    name = "embedded"
    checksum = None

    def __init__(self, track_dir: Path, tracks: Tracks):
        from vidcli.perception.blazepose import LANDMARK_MODEL

        path = Path(track_dir) / LANDMARKS_NPZ
        if not path.is_file():
            raise InputError(f"keypoints: {track_dir} has no {LANDMARKS_NPZ}; the embedded keypoints backend "
                             "needs a track artifact from the embedded track backend")
        self.model = LANDMARK_MODEL
        self._landmarks = read_keypoints(path)
        if not (np.array_equal(self._landmarks.frame, tracks.frame)
                and np.array_equal(self._landmarks.track_id, tracks.track_id)):
            raise InputError(f"keypoints: the rows of {path} do not match the tracks")

    def keypoints(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._landmarks.keypoints2d[rows], self._landmarks.world3d[rows]
