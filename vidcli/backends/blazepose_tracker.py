"""The embedded person tracker: mediapipe's BlazePose finds people (`vidcli.perception.people`), the
ByteTrack-style tracker of `vidcli.perception.tracker` links them. The landmark model already gives
every tracked person's BlazePose landmarks and silhouette, so they are recorded beside the tracks
(`landmarks.npz`, `silhouettes.json`; docs/formats.md), row for row, for the embedded masks and
keypoints backends: a second pass over the frames would only double the cost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli.io import masks as mask_files
from vidcli.io.keypoints import Keypoints, write_keypoints
from vidcli.io.tracks import LANDMARKS_NPZ, SILHOUETTES_JSON, Tracks


class BlazePoseTracker:
    checksum = None

    def __init__(self, config):
        from vidcli.perception.blazepose import DETECTOR_MODEL, LANDMARK_MODELS

        self.config = config
        self.model = f"{DETECTOR_MODEL}+{LANDMARK_MODELS[config.landmark_model][1]}"

    def track(self, frames, out_dir: Path, advance) -> Tracks:
        from vidcli.io.frames import ReadAhead
        from vidcli.perception.fragments import hidden_boxes, merge_fragments
        from vidcli.perception.people import BlazePoseFinder
        from vidcli.perception.tracker import Tracker, TrackerSettings, colour_histogram

        config = self.config
        max_lost = round(config.lost_memory_s * frames.fps)
        tracker = Tracker(TrackerSettings(max_lost=max_lost, min_hits=config.min_hits))
        finder = BlazePoseFinder(config.max_people, config.min_score, config.detect_every, config.detect_size,
                                 max_lost, config.landmark_model)
        rows, seen = [], set()  # seen: (frame, track id) of the rows
        with ReadAhead(frames.read, len(frames)) as read:
            try:
                for index in range(len(frames)):
                    rgb = read(index)
                    people = finder.find(rgb, tracker.expected_lost())
                    boxes = np.array([person.box for person in people]).reshape(-1, 4)
                    features = [None] * len(people)
                    if config.appearance:
                        features = [colour_histogram(rgb, person.box, person.mask) for person in people]
                    ids = tracker.update(boxes, np.array([person.score for person in people]),
                                         np.array(features) if config.appearance and people else None)
                    for number, person, feature in zip(ids, people, features):
                        if number:
                            rows.append(_Row.of(index, number, person, feature))
                            rows += _earlier_rows(index, number, person, feature, seen)
                    advance()
            finally:
                finder.close()

        rows = _confirmed(sorted(rows, key=lambda row: row.frame), tracker.confirmed)
        features = np.array([row.feature for row in rows]) if config.appearance and rows else None
        keep, numbers = merge_fragments(np.array([row.frame for row in rows], int),
                                        np.array([row.track_id for row in rows], int),
                                        np.array([row.box for row in rows]).reshape(-1, 4), max_lost,
                                        features)
        rows = [replace(row, track_id=int(number)) for row, number, kept in zip(rows, numbers, keep) if kept]
        width, height = frames.size
        hidden = hidden_boxes(np.array([row.frame for row in rows], int),
                              np.array([row.track_id for row in rows], int),
                              np.array([row.box for row in rows]).reshape(-1, 4), frames.size)
        rows = sorted(rows + [_Row.hidden(int(f), int(t), b, (height, width)) for f, t, b in zip(*hidden)],
                      key=lambda row: row.frame)
        frame = np.array([row.frame for row in rows], int)
        track_id = np.array([row.track_id for row in rows], int)
        write_keypoints(out_dir / LANDMARKS_NPZ, Keypoints(
            frame, track_id, np.array([row.points for row in rows]), np.array([row.world for row in rows])))
        silhouettes = [{"frame": row.frame, "track_id": row.track_id, "rle": row.rle} for row in rows]
        mask_files.write_masks(out_dir / SILHOUETTES_JSON, width, height, silhouettes)
        return Tracks(frame, track_id, np.array([row.box for row in rows]).reshape(-1, 4),
                      np.array([row.score for row in rows]))


@dataclass
class _Row:
    """What is kept of one tracked detection: no images, so that a long video fits in memory."""

    frame: int
    track_id: int
    box: np.ndarray
    score: float
    points: np.ndarray
    world: np.ndarray
    rle: dict
    feature: np.ndarray | None  # the person's colour histogram in this frame, None without `appearance`

    @classmethod
    def of(cls, frame: int, track_id: int, person, feature: np.ndarray | None) -> _Row:
        mask = person.mask if person.mask is not None else np.zeros(person.landmarks.mask.shape, bool)
        landmarks = person.landmarks
        return cls(frame, int(track_id), person.box, person.score, landmarks.points, landmarks.world,
                   mask_files.encode(mask), feature)

    @classmethod
    def hidden(cls, frame: int, track_id: int, box: np.ndarray, shape: tuple[int, int]) -> _Row:
        """A row where the person was hidden: their box, no landmark seen (NaN, visibility 0), no
        silhouette, score 0."""
        points = np.full((33, 3), np.nan)
        points[:, 2] = 0.0
        return cls(frame, track_id, box, 0.0, points, np.full((33, 3), np.nan),
                   mask_files.encode(np.zeros(shape, bool)), None)


def _earlier_rows(index: int, track_id: int, person, feature: np.ndarray | None,
                  seen: set[tuple[int, int]]) -> list[_Row]:
    """Rows of `person.earlier` (the person in the frames before `index`, latest first) for the frames
    where the track has none yet, up to the first it has; they take this frame's colours, `feature`."""
    seen.add((index, track_id))
    rows = []
    for frame, before in enumerate(person.earlier, start=1):
        if (index - frame, track_id) in seen:
            break
        seen.add((index - frame, track_id))
        rows.append(_Row.of(index - frame, track_id, before, feature))
    return rows


def _confirmed(rows: list[_Row], confirmed: set[int]) -> list[_Row]:
    """The rows of confirmed tracks, with ids renumbered 1, 2, ... in order of first appearance."""
    numbers: dict[int, int] = {}
    kept = []
    for row in rows:
        if row.track_id in confirmed:
            kept.append(replace(row, track_id=numbers.setdefault(row.track_id, len(numbers) + 1)))
    return kept
