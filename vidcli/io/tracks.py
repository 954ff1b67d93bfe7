"""Person tracks (docs/formats.md): `tracks.npz` (a long table of boxes) and MOT Challenge `tracks.txt`.

A track artifact of the embedded backend also holds, row for row with `tracks.npz`, each
detection's BlazePose landmarks (`landmarks.npz`, in the keypoints format) and silhouette
(`silhouettes.json`, in the masks format), for the masks and keypoints stages to refine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.io.arrays import load_npz

TRACKS_NPZ = "tracks.npz"
TRACKS_TXT = "tracks.txt"
LANDMARKS_NPZ = "landmarks.npz"
SILHOUETTES_JSON = "silhouettes.json"


@dataclass
class Tracks:
    """One row per person and frame: `frame` (N,) 0-based, `track_id` (N,), `box` (N, 4) x1, y1, x2, y2
    in pixels, `score` (N,); score 0 marks a row where the person was hidden, its box only inferred
    (`vidcli.perception.fragments.hidden_boxes`)."""

    frame: np.ndarray
    track_id: np.ndarray
    box: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def seen(self) -> np.ndarray:
        """Which rows (N,) a detector saw; the others are boxes of a hidden person, with nothing to read."""
        return self.score > 0


def write_tracks(directory: Path, tracks: Tracks) -> None:
    """Write `tracks.npz` and `tracks.txt` (frame 1-based, id, x, y, w, h, score, -1, -1, -1) into
    `directory`."""
    frame = np.asarray(tracks.frame, np.int64)
    track_id = np.asarray(tracks.track_id, np.int64)
    box = np.asarray(tracks.box, np.float64).reshape(-1, 4)
    score = np.asarray(tracks.score, np.float64)
    np.savez(Path(directory) / TRACKS_NPZ, frame=frame, track_id=track_id, box=box, score=score)
    (Path(directory) / TRACKS_TXT).write_text("".join(
        f"{f + 1},{t},{b[0]:.2f},{b[1]:.2f},{b[2] - b[0]:.2f},{b[3] - b[1]:.2f},{s:.4g},-1,-1,-1\n"
        for f, t, b, s in zip(frame, track_id, box, score)))


def read_tracks(directory: Path) -> Tracks:
    """The tracks of a track artifact or ground-truth folder."""
    data = load_npz(Path(directory) / TRACKS_NPZ, ("frame", "track_id", "box", "score"))
    return Tracks(data["frame"].astype(int), data["track_id"].astype(int),
                  data["box"].astype(float).reshape(-1, 4), data["score"].astype(float))


def check_rows(frame, track_id, tracks: Tracks, path: Path) -> None:
    """Refuse a file recorded row for row with `tracks` whose rows are not those of the tracks."""
    from vidcli.errors import InputError

    if not (np.array_equal(frame, tracks.frame) and np.array_equal(track_id, tracks.track_id)):
        raise InputError(f"the rows of {path} do not match the tracks")
