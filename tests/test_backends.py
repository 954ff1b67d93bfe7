"""Backends as plug-ins: a backend is one class plus one table row, registered here from the test module
without editing any vidcli file, and the plan refuses backends that read what their upstream does not
record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_clip

from vidcli import backends
from vidcli.engine import RunOptions, run
from vidcli.engine.pipeline import load_pipeline
from vidcli.engine.store import Workspace
from vidcli.errors import ConfigError
from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints
from vidcli.io.tracks import Tracks, read_tracks

BOX = np.array([20.0, 10.0, 60.0, 110.0])
PIPELINE = """
description: frames, track and keypoints
sources: [video]
stages:
  frames: {}
  track: {}
  keypoints: {}
"""


class CentreTracker:
    """Tracks one person standing in the same box in every frame."""

    model, checksum = "centre-box", None

    def __init__(self, config):
        self.config = config

    def track(self, frames, out_dir, advance):
        for _ in range(len(frames)):
            advance()
        count = len(frames)
        return Tracks(np.arange(count), np.ones(count, int), np.tile(BOX, (count, 1)), np.full(count, 0.9))


class BoxKeypoints:
    """33 keypoints spread down the middle of each box, all visible; no 3D."""

    model, checksum, layout = "box-points", None, "blazepose33"

    def __init__(self, config, frames, tracks, track_dir):
        self.tracks = tracks

    def keypoints(self, rows):
        boxes = self.tracks.box[rows]
        t = np.linspace(0, 1, 33)
        x = np.repeat(((boxes[:, 0] + boxes[:, 2]) / 2)[:, None], 33, axis=1)
        y = boxes[:, 1, None] + t * (boxes[:, 3] - boxes[:, 1])[:, None]
        return np.stack([x, y, np.ones_like(x)], -1), np.full((len(rows), 33, 3), np.nan)


@pytest.fixture
def plugins():
    added = [backends.register(backends.Backend("track", "centre", CentreTracker, description="test")),
             backends.register(backends.Backend("keypoints", "boxes", BoxKeypoints, description="test"))]
    yield
    for backend in added:
        backends.unregister(backend.component, backend.name)


def test_a_registered_backend_runs_through_the_pipeline(tmp_path, plugins):
    video = make_clip(tmp_path / "clip.mp4", seconds=0.5)
    pipeline_file = tmp_path / "boxes.yaml"
    pipeline_file.write_text(PIPELINE)
    chosen = ["track.backend=centre", "keypoints.backend=boxes"]
    pipeline = load_pipeline(str(pipeline_file), assignments=chosen)
    report = run(pipeline, [{"video": video}], Workspace(tmp_path / "work"))
    assert report.exit_code == 0, report.outcomes
    artifacts = {o.stage: o.artifact for o in report.outcomes}
    tracks = read_tracks(artifacts["track"])
    assert len(tracks) == 5 and (tracks.box == BOX).all()
    keypoints = read_keypoints(f"{artifacts['keypoints']}/{KEYPOINTS_NPZ}")
    assert keypoints.keypoints2d.shape == (5, 33, 3) and (keypoints.keypoints2d[:, :, 0] == 40).all()
    manifests = {stage: json.loads(open(f"{path}/manifest.json").read()) for stage, path in artifacts.items()}
    assert manifests["track"]["backend"]["name"] == manifests["track"]["config"]["backend"] == "centre"
    assert manifests["keypoints"]["backend"] == {"name": "boxes", "model": "box-points", "checksum": None}


def test_the_plan_refuses_backends_that_read_what_upstream_does_not_record(tmp_path, plugins):
    video = make_clip(tmp_path / "clip.mp4", seconds=0.2)
    pipeline = load_pipeline("remove", assignments=["track.backend=centre"])
    refusal = "masks backend embedded reads the silhouettes that the track backend centre does not record"
    with pytest.raises(ConfigError, match=refusal):
        run(pipeline, [{"video": video}], Workspace(tmp_path / "work"), RunOptions(dry_run=True))
    assert not (tmp_path / "work" / "clip").exists()


def test_auto_picks_a_full_backend_only_when_it_can_run(monkeypatch, plugins):
    full = backends.register(backends.Backend("keypoints", "big", BoxKeypoints, kind=backends.FULL,
                                              checkpoints=("big_model",)))
    try:
        monkeypatch.setattr("vidcli.models.registry.is_present", lambda name: False)
        assert backends.resolve("keypoints", "auto")[0] == "embedded"
        with pytest.raises(ConfigError, match="keypoints backend big needs checkpoint big_model"):
            backends.resolve("keypoints", "big")
        monkeypatch.setattr("vidcli.models.registry.is_present", lambda name: name == "big_model")
        assert backends.resolve("keypoints", "auto")[0] == "big"
        assert backends.resolve("keypoints", "boxes")[0] == "boxes"
        known = "known: embedded, vitpose, boxes, big"
        with pytest.raises(ConfigError, match=f"unknown keypoints backend 'nope'; {known}"):
            backends.resolve("keypoints", "nope")
    finally:
        backends.unregister(full.component, full.name)


def test_every_builtin_backend_names_a_class_that_exists():
    import importlib

    for component, rows in backends.table().items():
        for backend in rows.values():
            module, _, name = backend.implementation.partition(":")
            assert hasattr(importlib.import_module(module), name), f"{component}/{backend.name}"
            assert backend.license and backend.description


def test_auto_full_backends_give_way_where_they_would_not_fit(monkeypatch):
    """With every checkpoint and a GPU here, auto picks the full perception backends (ViTPose's 2D-only
    keypoints feed the 2D-only body fit); where one is forced to embedded, the full ones that would not
    fit around it give way (a yolo track records no landmarks for the embedded keypoints)."""
    from vidcli.engine.plan import resolved_configs

    monkeypatch.setattr("vidcli.models.registry.is_present", lambda name: True)
    monkeypatch.setattr("vidcli.devices.visible_gpu_count", lambda: 1)
    resolved = resolved_configs(load_pipeline("mocap"))
    assert [resolved[s].backend for s in ("track", "masks", "keypoints", "body")] == [
        "yolo", "sam", "vitpose", "embedded"]
    resolved = resolved_configs(load_pipeline("mocap", assignments=["keypoints.backend=embedded"]))
    assert [resolved[s].backend for s in ("track", "masks", "keypoints")] == ["embedded", "sam", "embedded"]
