"""`vidcli tracks`: the people found, their ids, spans and contact sheet; nobody found is a bad input."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
from conftest import FFMPEG, make_clip, vidcli

ASSETS = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets"


def test_tracks_lists_the_people_with_a_contact_sheet(tmp_path):
    image = cv2.resize(cv2.imread(str(ASSETS / "zidane.jpg")), (480, 270), interpolation=cv2.INTER_AREA)
    for index in range(6):
        cv2.imwrite(str(tmp_path / f"{index}.png"), np.roll(image, 3 * index, axis=1))
    video = tmp_path / "two.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-framerate", "5", "-i", str(tmp_path / "%d.png"), "-c:v",
                    "libx264", "-pix_fmt", "yuv420p", str(video)], check=True)
    result = vidcli("tracks", str(video), workspace=tmp_path / "work", check=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("track ")]
    assert len(lines) == 2 and lines[0].startswith("track 1: frames 0-5 (0.00-1.00 s, 6 detections)")
    sheet = Path(result.stdout.split("contact sheet: ")[1].split()[0])
    people = json.loads((sheet.parent / "people.json").read_text())["people"]
    assert [p["track_id"] for p in people] == [1, 2]
    tiles = cv2.imread(str(sheet))
    assert tiles.shape[0] == 240 and tiles.shape[1] > 2 * 60  # two crops side by side


def test_mocap_stops_after_track_when_nobody_is_there(tmp_path):
    clip = make_clip(tmp_path / "pattern.mp4", seconds=0.5)
    result = vidcli("--json", "mocap", str(clip), workspace=tmp_path / "work")
    assert result.returncode == 3
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == "error: pattern.mp4: track: nobody found in the video's 5 frames"
    statuses = {r["stage"]: r["status"] for r in json.loads(result.stdout)["results"]}
    assert statuses["frames"] == "ran" and statuses["track"] == "failed"
    assert {statuses[s] for s in ("masks", "camera", "body", "export")} == {"skipped"}
    verbose = vidcli("-v", "mocap", str(clip), workspace=tmp_path / "work")
    assert verbose.returncode == 3 and "Traceback" in verbose.stderr and "InputError" in verbose.stderr
