"""Linking per-frame person boxes into tracks, in the manner of ByteTrack (Zhang et al. 2022).

Each track carries a constant-velocity Kalman filter on its box centre and size. Every frame,
confident detections are matched first (Hungarian, on 1 - IoU with the predicted boxes, blended
with a colour-histogram distance when detections carry one) to every track, lost ones included;
weak detections then continue only the remaining tracks they overlap well, which keeps people
through partial occlusion without letting weak detections start tracks. A track unmatched for
a frame is lost; it is kept, still predicted, for `max_lost` frames, so a person who reappears
near where they were expected, or looking like they did, takes up their old id again. A track
is confirmed after `min_hits` matches; tentative tracks die on their first miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from vidcli.geometry.boxes import box_iou

_INFEASIBLE = 1e6
_HISTOGRAM_BINS = (8, 4, 4)  # hue, saturation, value


@dataclass
class TrackerSettings:
    high_score: float = 0.6  # detections at least this confident are matched first
    low_score: float = 0.2  # weaker than this: ignored
    new_track_score: float = 0.7  # an unmatched detection at least this confident starts a track
    match_iou: float = 0.2  # least IoU of a confident detection with a predicted box
    low_match_iou: float = 0.5  # least IoU of a weak detection with a predicted box
    appearance_weight: float = 0.3  # share of the colour distance in the matching cost
    reid_distance: float = 0.35  # a lost track also matches a detection within its height and this alike
    max_lost: int = 30  # frames a lost track is kept
    min_hits: int = 3  # matches that confirm a track


class _KalmanBox:
    """Constant-velocity Kalman filter on (cx, cy, w, h), with noise proportional to the box height."""

    _POSITION_NOISE = 1 / 20
    _VELOCITY_NOISE = 1 / 160

    def __init__(self, box: np.ndarray):
        self.mean = np.concatenate([_centre_size(box), np.zeros(4)])
        h = self.mean[3]
        std = np.array([2 * self._POSITION_NOISE * h] * 4 + [10 * self._VELOCITY_NOISE * h] * 4)
        self.covariance = np.diag(std**2)
        self._motion = np.eye(8)
        self._motion[:4, 4:] = np.eye(4)

    def predict(self, frozen_size: bool) -> None:
        """Advance one frame; `frozen_size` stops the box growing or shrinking while it is unseen."""
        if frozen_size:
            self.mean[6:] = 0.0
        h = self.mean[3]
        std = np.array([self._POSITION_NOISE * h] * 4 + [self._VELOCITY_NOISE * h] * 4)
        self.mean = self._motion @ self.mean
        self.covariance = self._motion @ self.covariance @ self._motion.T + np.diag(std**2)

    def update(self, box: np.ndarray) -> None:
        h = self.mean[3]
        noise = np.diag((np.full(4, self._POSITION_NOISE * h)) ** 2)
        projected = self.covariance[:4, :4] + noise
        gain = np.linalg.solve(projected, self.covariance[:4]).T
        self.mean = self.mean + gain @ (_centre_size(box) - self.mean[:4])
        self.covariance = self.covariance - gain @ projected @ gain.T

    @property
    def box(self) -> np.ndarray:
        return _corners(self.mean[:4])

    def next_box(self) -> np.ndarray:
        """The box one frame ahead at the current velocity, size unchanged."""
        return _corners(self.mean[:4] + np.concatenate([self.mean[4:6], [0.0, 0.0]]))


def _corners(centre_size: np.ndarray) -> np.ndarray:
    cx, cy, w, h = centre_size
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _centre_size(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


class _Track:
    def __init__(self, track_id: int, box: np.ndarray, feature: np.ndarray | None):
        self.id = track_id
        self.filter = _KalmanBox(box)
        self.feature = feature
        self.hits = 1
        self.missed = 0

    def update(self, box: np.ndarray, feature: np.ndarray | None) -> None:
        self.filter.update(box)
        if feature is not None:
            self.feature = feature if self.feature is None else 0.9 * self.feature + 0.1 * feature
        self.hits += 1
        self.missed = 0


class Tracker:
    """Assigns track ids to each frame's detections; feed it the frames of one video in order."""

    def __init__(self, settings: TrackerSettings | None = None):
        self.settings = settings or TrackerSettings()
        self.confirmed: set[int] = set()
        self._tracks: list[_Track] = []
        self._next_id = 1

    def expected_lost(self) -> np.ndarray:
        """Boxes (K, 4) where the lost tracks are expected in the next frame."""
        boxes = [track.filter.next_box() for track in self._tracks if track.missed]
        return np.array(boxes).reshape(-1, 4)

    def update(self, boxes: np.ndarray, scores: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """The track id of each detection (boxes (N, 4) x1, y1, x2, y2; scores (N,); features (N, F)
        colour histograms or None), 0 for detections that neither continue nor start a track."""
        s = self.settings
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        scores = np.asarray(scores, float)
        ids = np.zeros(len(boxes), int)
        for track in self._tracks:
            track.filter.predict(frozen_size=track.missed > 0)

        high = np.flatnonzero(scores >= s.high_score)
        low = np.flatnonzero((scores >= s.low_score) & (scores < s.high_score))
        unmatched = self._associate(self._tracks, high, boxes, features, ids, with_reid=True)
        current = [track for track in unmatched if track.missed == 0]
        self._associate(current, low, boxes, None, ids, with_reid=False)

        survivors = []
        for track in self._tracks:
            if track.id in ids:
                survivors.append(track)
                if track.hits >= s.min_hits:
                    self.confirmed.add(track.id)
            else:
                track.missed += 1
                if track.hits >= s.min_hits and track.missed <= s.max_lost:
                    survivors.append(track)
        for index in high:
            if ids[index] == 0 and scores[index] >= s.new_track_score:
                feature = None if features is None else features[index]
                survivors.append(_Track(self._next_id, boxes[index], feature))
                ids[index] = self._next_id
                if s.min_hits <= 1:
                    self.confirmed.add(self._next_id)
                self._next_id += 1
        self._tracks = survivors
        return ids

    def _associate(self, tracks: list[_Track], detections: np.ndarray, boxes: np.ndarray,
                   features: np.ndarray | None, ids: np.ndarray, with_reid: bool) -> list[_Track]:
        """Match `detections` (indices) to `tracks`, update the matched and write their ids; return the
        unmatched tracks."""
        if not len(tracks) or not len(detections):
            return list(tracks)
        s = self.settings
        predicted = np.array([track.filter.box for track in tracks])
        iou = box_iou(predicted, boxes[detections])
        threshold = s.match_iou if with_reid else s.low_match_iou
        feasible = iou >= threshold
        cost = 1.0 - iou
        if features is not None and all(track.feature is not None for track in tracks):
            distance = np.array([[histogram_distance(track.feature, features[d]) for d in detections]
                                 for track in tracks])
            cost = (1 - s.appearance_weight) * cost + s.appearance_weight * distance
            if with_reid:
                lost = np.array([track.missed > 0 for track in tracks])[:, None]
                heights = (predicted[:, 3] - predicted[:, 1])[:, None]
                near = _centre_distance(predicted, boxes[detections]) <= heights
                feasible |= lost & near & (distance <= s.reid_distance)
        rows, cols = linear_sum_assignment(np.where(feasible, cost, _INFEASIBLE))
        matched = set()
        for row, col in zip(rows, cols):
            if feasible[row, col]:
                index = detections[col]
                tracks[row].update(boxes[index], None if features is None else features[index])
                ids[index] = tracks[row].id
                matched.add(row)
        return [track for row, track in enumerate(tracks) if row not in matched]


def _centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    centre_a = (a[:, :2] + a[:, 2:]) / 2
    centre_b = (b[:, :2] + b[:, 2:]) / 2
    return np.linalg.norm(centre_a[:, None] - centre_b[None], axis=-1)


def colour_histogram(rgb: np.ndarray, box: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """A normalised HSV histogram of the pixels in `box` (those of `mask` there, when given)."""
    height, width = rgb.shape[:2]
    x1, y1, x2, y2 = np.clip(np.round(box), 0, [width, height, width, height]).astype(int)
    if x2 <= x1 or y2 <= y1:
        return np.full(int(np.prod(_HISTOGRAM_BINS)), 1.0 / np.prod(_HISTOGRAM_BINS), np.float32)
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[y1:y2, x1:x2]), cv2.COLOR_RGB2HSV)
    region = None if mask is None else (mask[y1:y2, x1:x2] > 0.5).astype(np.uint8)
    if region is not None and not region.any():
        region = None
    ranges = [0, 180, 0, 256, 0, 256]
    histogram = cv2.calcHist([hsv], [0, 1, 2], region, list(_HISTOGRAM_BINS), ranges).ravel()
    return (histogram / max(histogram.sum(), 1.0)).astype(np.float32)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger (Bhattacharyya) distance of two normalised histograms, in [0, 1]."""
    return float(np.sqrt(max(0.0, 1.0 - np.sqrt(a * b).sum())))
