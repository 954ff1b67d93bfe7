"""The perception pipeline through the real CLI with every full backend (yolo track, sam masks, vitpose
keypoints) on randomly initialised checkpoints placed where the registry looks, and the mocap pipeline
running end to end on them (the scale and body stages take ViTPose's 2D-only keypoints)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_clip, vidcli
from random_checkpoints import write_sam_vit_b, write_vitpose, write_yolo

from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints
from vidcli.io.masks import MASKS_JSON, read_masks
from vidcli.io.tracks import read_tracks
from vidcli.models import registry

for package in ("ultralytics", "lap", "segment_anything", "transformers"):
    pytest.importorskip(package)

WORKFLOW = """pipeline: perception
inputs: [{clip}]
workspace: {work}
outputs: {out}
config:
  track: {{backend: yolo, trust_checkpoint: true, detect_size: 160, max_people: 2}}
  masks: {{backend: sam, sam_cpu_size: 256}}
  keypoints: {{backend: vitpose}}
"""


@pytest.mark.slow
def test_every_full_perception_backend_runs_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    registry.checkpoint_dir().mkdir(parents=True)
    write_yolo()
    write_sam_vit_b()
    write_vitpose(133)
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.5)
    workflow = tmp_path / "perception.yaml"
    workflow.write_text(WORKFLOW.format(clip=clip, work=tmp_path / "work", out=tmp_path / "out"))
    vidcli("run", str(workflow), check=True)

    out = next((tmp_path / "out").glob("clip-*"))  # the final stages: masks, keypoints
    tracks = read_tracks(next((tmp_path / "work").glob("clip-*/track/*/tracks.npz")).parent)
    assert len(tracks) and set(np.unique(tracks.frame)) == set(range(5))
    assert len(read_masks(out / "masks" / MASKS_JSON)["masks"]) == len(tracks)
    keypoints = read_keypoints(next((tmp_path / "work").glob(f"clip-*/keypoints/*/{KEYPOINTS_NPZ}")))
    assert keypoints.layout == "wholebody133" and len(keypoints) == len(tracks)

    mocap = vidcli("mocap", str(clip), "--set", "track.backend=yolo", "--set", "masks.backend=sam",
                   "--set", "keypoints.backend=vitpose", "--set", "track.detect_size=160", "--set",
                   "track.max_people=1", "--set", "masks.sam_cpu_size=256", "--set", "body.min_frames=2",
                   "--trust-checkpoint", "-o", str(tmp_path / "mocap"), workspace=tmp_path / "work")
    assert mocap.returncode == 0, mocap.stderr
    body = json.loads(next((tmp_path / "work").glob("clip-*/body/*/manifest.json")).read_text())
    assert body["backend"]["name"] == "embedded" and body["counts"]["tracks"] >= 1
    keypoints = json.loads(next((tmp_path / "work").glob("clip-*/keypoints/*/manifest.json")).read_text())
    assert keypoints["counts"]["layout"] == "wholebody133"
    assert any((tmp_path / "mocap").rglob("*.bvh"))
