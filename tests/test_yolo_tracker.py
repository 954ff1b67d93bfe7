"""The `yolo` track backend: ultralytics YOLO people linked by ultralytics' ByteTrack or BoT-SORT, run
through the track stage with a randomly initialised YOLOv8n (built from its model YAML, its person logit
raised so that it finds people) written under the registry's name in a temporary VIDCLI_HOME."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_clip, vidcli
from random_checkpoints import home_with, write_yolo

from vidcli import backends
from vidcli.engine.keys import sha256_of
from vidcli.engine.stage import Artifact, planned_config
from vidcli.errors import ConfigError
from vidcli.io.frames import write_frames
from vidcli.io.tracks import read_tracks
from vidcli.stages import track as track_stage

pytest.importorskip("ultralytics")
pytest.importorskip("lap")


@pytest.fixture(scope="module")
def yolo_home(tmp_path_factory):
    """A VIDCLI_HOME whose checkpoints/yolov8x.pt is a random YOLOv8n that sees people everywhere."""
    return home_with(tmp_path_factory.mktemp("home"), write_yolo)


@pytest.fixture
def frames(tmp_path):
    image = (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)
    return Artifact(write_frames(tmp_path / "frames", [image] * 8, fps=10.0))


def _track(frames, out, **settings):
    out.mkdir()
    info = track_stage.run(planned_config(track_stage, {"backend": "yolo", "detect_size": 160, **settings}),
                           {"frames": frames}, out)
    return info, read_tracks(out)


def test_an_unverified_checkpoint_is_refused(yolo_home, frames, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(yolo_home))
    with pytest.raises(ConfigError, match="checkpoint yolov8x .* has sha256 [0-9a-f]{64} and there is no "
                                          "published digest; .* pass --trust-checkpoint"):
        _track(frames, tmp_path / "track")
    assert not any((tmp_path / "track").iterdir())


@pytest.mark.parametrize("tracker", ["bytetrack", "botsort"])
def test_yolo_tracks_people_with_ultralytics_trackers(yolo_home, frames, tmp_path, monkeypatch, tracker):
    monkeypatch.setenv("VIDCLI_HOME", str(yolo_home))
    info, tracks = _track(frames, tmp_path / "track", trust_checkpoint=True, yolo_tracker=tracker, min_hits=3,
                          max_people=4)
    assert info.model == f"yolov8x+{tracker}"
    assert info.checksum == sha256_of(yolo_home / "checkpoints" / "yolov8x.pt")
    # The same image in every frame: the same people, each kept in every frame under one id.
    ids = np.unique(tracks.track_id)
    assert 1 <= len(ids) <= 4 and ids.tolist() == list(range(1, len(ids) + 1))
    assert sorted(set(tracks.frame.tolist())) == list(range(8))
    for track_id in ids:
        rows = tracks.track_id == track_id
        assert rows.sum() == 8 and np.ptp(tracks.box[rows], axis=0).max() < 1e-3
    mot = (tmp_path / "track" / "tracks.txt").read_text().splitlines()
    assert len(mot) == len(tracks) and mot[0].split(",")[0] == "1"


def test_auto_picks_yolo_with_its_checkpoint_and_a_gpu(yolo_home, tmp_path, monkeypatch):
    monkeypatch.setattr("vidcli.devices.visible_gpu_count", lambda: 1)
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "empty"))
    assert backends.resolve("track", "auto")[0] == "embedded"
    with pytest.raises(ConfigError, match="track backend yolo needs checkpoint yolov8x"):
        backends.resolve("track", "yolo")
    monkeypatch.setenv("VIDCLI_HOME", str(yolo_home))
    assert backends.resolve("track", "auto")[0] == "yolo"
    monkeypatch.setattr("vidcli.devices.visible_gpu_count", lambda: 0)
    assert backends.resolve("track", "auto")[0] == "embedded"
    assert planned_config(track_stage, {"backend": "yolo"}).device == "cpu"


def test_mocap_with_yolo_alone_is_refused_before_anything_runs(yolo_home, tmp_path, monkeypatch):
    """The embedded masks and keypoints read what only the embedded tracker records."""
    monkeypatch.setenv("VIDCLI_HOME", str(yolo_home))
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.3)
    result = vidcli("mocap", str(clip), "--set", "track.backend=yolo", "--trust-checkpoint",
                    workspace=tmp_path / "work")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: keypoints backend embedded reads the landmarks that the track backend yolo "
                      "does not record; choose backends that fit (vidcli settings)"]
    assert not list((tmp_path / "work").glob("clip-*"))
