"""The embedded segmenter: the silhouettes the embedded tracker recorded. The BlazePose landmark model
segments the person its region is centred on, which keeps people apart where a whole-image person
segmentation would merge them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcli.io import masks as mask_files
from vidcli.io.tracks import SILHOUETTES_JSON, Tracks, check_rows


class RecordedSilhouettes:
    model = checksum = None  # no model runs here; the track stage's manifest names the one that recorded them

    def __init__(self, config, frames, tracks: Tracks, track_dir: Path, keypoints=None):
        path = Path(track_dir) / SILHOUETTES_JSON
        self._entries = mask_files.read_masks(path)["masks"]
        check_rows(np.array([e["frame"] for e in self._entries], int),
                   np.array([e["track_id"] for e in self._entries], int), tracks, path)

    def masks(self, frame: int, rows: np.ndarray) -> list[np.ndarray]:
        return [mask_files.decode(self._entries[row]["rle"]) for row in rows]
