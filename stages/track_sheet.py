"""Who the tracker found: each track's id, frame span and size (`people.json`), and a contact sheet
(`people.png`) with each person's crop where they are largest, labelled with the id. Users pick the
people to process (`vidcli mocap --track ID`) from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.engine.stage import RunInfo
from vidcli.settings import setting

VERSION = 1
INPUTS = ("frames", "track")
PEOPLE_JSON = "people.json"
PEOPLE_PNG = "people.png"


@dataclass
class Config:
    tile_height: int = setting(240, "height in pixels of each person's crop on the contact sheet",
                               bounds="[32, 2048]")


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    import cv2

    from vidcli.io.frames import FrameSequence
    from vidcli.io.tracks import read_tracks

    frames = FrameSequence(inputs["frames"].path)
    tracks = read_tracks(inputs["track"].path)
    people, tiles = [], []
    for track_id in np.unique(tracks.track_id):
        rows = np.flatnonzero(tracks.track_id == track_id)
        heights = tracks.box[rows, 3] - tracks.box[rows, 1]
        largest = rows[np.argmax(heights)]
        people.append({"track_id": int(track_id), "first_frame": int(tracks.frame[rows].min()),
                       "last_frame": int(tracks.frame[rows].max()), "frames": len(rows),
                       "first_s": round(frames.timestamps[int(tracks.frame[rows].min())], 3),
                       "last_s": round(frames.timestamps[int(tracks.frame[rows].max())], 3),
                       "median_height_px": round(float(np.median(heights)), 1)})
        tiles.append(_tile(frames.read(int(tracks.frame[largest])), tracks.box[largest], int(track_id),
                           config.tile_height))
    (out_dir / PEOPLE_JSON).write_text(json.dumps({"people": people, "frames": len(frames)}, indent=1))
    if tiles:
        sheet = np.concatenate(tiles, axis=1)
        cv2.imwrite(str(out_dir / PEOPLE_PNG), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return RunInfo(counts={"people": len(people)})


def _tile(rgb: np.ndarray, box: np.ndarray, track_id: int, height: int) -> np.ndarray:
    """The person's box (widened a little) scaled to `height`, with the id written at the top left."""
    import cv2

    x1, y1, x2, y2 = box
    margin = 0.1 * (y2 - y1)
    x1, y1 = int(max(0, x1 - margin)), int(max(0, y1 - margin))
    x2, y2 = int(min(rgb.shape[1], x2 + margin)), int(min(rgb.shape[0], y2 + margin))
    crop = rgb[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    tile = cv2.resize(crop, (max(width, height // 2), height), interpolation=cv2.INTER_AREA)
    tile = cv2.copyMakeBorder(tile, 0, 0, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    scale = height / 240
    for colour, thickness in (((0, 0, 0), 5), ((255, 255, 0), 2)):
        cv2.putText(tile, str(track_id), (8, int(36 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 1.2 * scale, colour,
                    max(1, round(thickness * scale)), cv2.LINE_AA)
    return tile
