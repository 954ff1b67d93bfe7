"""Find every person in every frame and link them into tracks with stable ids.

A person detector (the seam for full backends) reports the people of each frame; the ByteTrack-style
tracker of `vidcli.perception.tracker` links them. The embedded detector is mediapipe's BlazePose
(`vidcli.perception.people`): it also yields each person's landmarks and silhouette, which this
stage keeps beside the tracks (docs/formats.md) so that masks and keypoints need no second pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli.console import log, progress
from vidcli.engine.stage import RunInfo, setting
from vidcli.errors import ConfigError
from vidcli.io import masks as mask_files
from vidcli.io.frames import FrameSequence
from vidcli.io.keypoints import Keypoints, write_keypoints
from vidcli.io.tracks import LANDMARKS_NPZ, SILHOUETTES_JSON, Tracks, write_tracks

VERSION = 3
INPUTS = ("frames",)


@dataclass
class Config:
    max_people: int = setting(8, "most people found in a frame")
    min_score: float = setting(0.5, "least person-detector confidence (0-1) for someone new")
    detect_every: int = setting(10, "frames between full searches for new people")
    detect_size: int = setting(640, "longest side, in pixels, of the frame the person detector searches")
    lost_memory_s: float = setting(1.0, "seconds a lost person's track waits to be found again")
    min_hits: int = setting(3, "detections that confirm a track; tracks with fewer are dropped")
    appearance: bool = setting(True, "also match people by the colours they wear (helps after occlusions)")


def resolve_config(config: Config) -> Config:
    """Check the settings (at plan time, and again when run directly)."""
    if config.max_people < 1 or config.detect_every < 1 or config.min_hits < 1:
        raise ConfigError("track: max_people, detect_every and min_hits must be at least 1")
    if not 0 <= config.min_score <= 1:
        raise ConfigError(f"track: min_score must be within 0-1, got {config.min_score}")
    if config.detect_size < 64 or config.lost_memory_s < 0:
        raise ConfigError("track: detect_size must be at least 64 and lost_memory_s not negative")
    return config


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli.perception.tracker import Tracker, TrackerSettings, colour_histogram

    config = resolve_config(config)
    frames = FrameSequence(inputs["frames"].path)
    max_lost = round(config.lost_memory_s * frames.fps)
    tracker = Tracker(TrackerSettings(max_lost=max_lost, min_hits=config.min_hits))
    detector = _make_detector(config, max_lost)
    rows, seen = [], set()  # seen: (frame, track id) of the rows
    try:
        with progress(f"track ({detector.name})", len(frames)) as bar:
            for index in range(len(frames)):
                rgb = frames.read(index)
                people = detector.find(rgb, tracker.expected_lost())
                boxes = np.array([person.box for person in people]).reshape(-1, 4)
                features = None
                if config.appearance and people:
                    features = np.array([colour_histogram(rgb, person.box, person.mask) for person in people])
                ids = tracker.update(boxes, np.array([person.score for person in people]), features)
                for number, person in zip(ids, people):
                    if number:
                        rows.append(_Row.of(index, number, person))
                        rows += _earlier_rows(index, number, person, seen)
                bar.advance()
    finally:
        detector.close()

    rows = _confirmed(sorted(rows, key=lambda row: row.frame), tracker.confirmed)
    if not rows:
        log.info("track: no person found in %d frames; the tracks are empty", len(frames))
    frame = np.array([row.frame for row in rows], int)
    track_id = np.array([row.track_id for row in rows], int)
    write_tracks(out_dir, Tracks(frame, track_id, np.array([row.box for row in rows]).reshape(-1, 4),
                                 np.array([row.score for row in rows])))
    write_keypoints(out_dir / LANDMARKS_NPZ, Keypoints(
        frame, track_id, np.array([row.points for row in rows]), np.array([row.world for row in rows])))
    width, height = frames.size
    mask_files.write_masks(out_dir / SILHOUETTES_JSON, width, height,
                           [{"frame": row.frame, "track_id": row.track_id, "rle": row.rle} for row in rows])
    counts = {"frames": len(frames), "tracks": len(set(track_id.tolist())), "detections": len(rows)}
    return RunInfo(backend=detector.name, model=detector.model, checksum=detector.checksum, counts=counts)


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

    @classmethod
    def of(cls, frame: int, track_id: int, person) -> _Row:
        mask = person.mask if person.mask is not None else np.zeros(person.landmarks.mask.shape, bool)
        landmarks = person.landmarks
        return cls(frame, int(track_id), person.box, person.score, landmarks.points, landmarks.world,
                   mask_files.encode(mask))


def _earlier_rows(index: int, track_id: int, person, seen: set[tuple[int, int]]) -> list[_Row]:
    """Rows of `person.earlier` (the person in the frames before `index`, latest first) for the frames
    where the track has none yet, up to the first it has."""
    seen.add((index, track_id))
    rows = []
    for frame, before in enumerate(person.earlier, start=1):
        if (index - frame, track_id) in seen:
            break
        seen.add((index - frame, track_id))
        rows.append(_Row.of(index - frame, track_id, before))
    return rows


def _make_detector(config: Config, max_lost: int):
    """The person detector: an object with `name`, `model`, `checksum`, `find(rgb, expected)` returning the
    frame's `vidcli.perception.people.Person`s (`expected`: boxes where lost people may reappear), and
    `close()`; it looks for people it lost for `max_lost` frames. Only the embedded BlazePose detector
    exists so far."""
    from vidcli.perception.people import BlazePoseFinder

    return BlazePoseFinder(config.max_people, config.min_score, config.detect_every, config.detect_size,
                           max_lost)


def _confirmed(rows: list[_Row], confirmed: set[int]) -> list[_Row]:
    """The rows of confirmed tracks, with ids renumbered 1, 2, ... in order of first appearance."""
    numbers: dict[int, int] = {}
    kept = []
    for row in rows:
        if row.track_id in confirmed:
            kept.append(replace(row, track_id=numbers.setdefault(row.track_id, len(numbers) + 1)))
    return kept
