"""ultralytics' maintained multi-object trackers (ByteTrack, BoT-SORT) over any detector's person boxes.

The trackers read their settings from ultralytics' own YAML files (`bytetrack.yaml`, `botsort.yaml`);
vidcli overrides only how long a lost track waits (`track_buffer`, in frames), the least score that
starts a track, and BoT-SORT's camera-motion compensation (`sparseOptFlow` on real frames, `none` where
there are no images). Imported only where ultralytics is installed (the `yolo` extra, AGPL-3.0).
"""

from __future__ import annotations

import numpy as np

TRACKERS = ("bytetrack", "botsort")


class _Detections:
    """The part of ultralytics' `Boxes` its trackers read: centre-size boxes, scores, classes, indexing."""

    def __init__(self, boxes: np.ndarray, scores: np.ndarray):
        self.xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.conf = np.asarray(scores, np.float32).reshape(-1)
        self.cls = np.zeros(len(self.conf), np.float32)

    @property
    def xywh(self) -> np.ndarray:
        corner, far = self.xyxy[:, :2], self.xyxy[:, 2:]
        return np.concatenate([(corner + far) / 2, far - corner], 1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> _Detections:
        return _Detections(self.xyxy[index], self.conf[index])


class BoxTracker:
    """One video's ultralytics tracker: `update` each frame's detections in order."""

    def __init__(self, kind: str, lost_frames: int, new_track_score: float,
                 motion_compensation: str = "none"):
        from ultralytics.trackers.track import TRACKER_MAP
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        settings = YAML.load(check_yaml(f"{kind}.yaml"))
        settings.update(track_buffer=lost_frames, new_track_thresh=new_track_score)
        if kind == "botsort":
            settings.update(gmc_method=motion_compensation, with_reid=False)
        self._tracker = TRACKER_MAP[kind](args=IterableSimpleNamespace(**settings))

    def update(self, boxes: np.ndarray, scores: np.ndarray, bgr: np.ndarray | None = None) -> np.ndarray:
        """The track id of each detection (boxes (N, 4) x1, y1, x2, y2, scores (N,)), 0 for those that
        neither continue nor start a track; `bgr` is the frame, for camera-motion compensation."""
        ids = np.zeros(len(scores), int)
        tracked = self._tracker.update(_Detections(boxes, scores), bgr)
        for row in np.asarray(tracked).reshape(-1, 8):  # x1, y1, x2, y2, track id, score, class, index
            ids[int(row[7])] = int(row[4])
        return ids


def confirmed_rows(frame: np.ndarray, track_id: np.ndarray, min_hits: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows kept, their track ids renumbered 1, 2, ... in order of first appearance): the rows with a
    track id (> 0) whose track has at least `min_hits` rows, in frame order."""
    order = np.argsort(frame, kind="stable")
    order = order[track_id[order] > 0]
    ids, counts = np.unique(track_id[order], return_counts=True)
    order = order[np.isin(track_id[order], ids[counts >= min_hits])]
    numbers: dict[int, int] = {}
    renumbered = np.array([numbers.setdefault(int(t), len(numbers) + 1) for t in track_id[order]], int)
    return order, renumbered
