"""The `sam` masks backend: segment-anything's SamPredictor with box prompts, run through the masks stage
with a randomly initialised SAM vit_b (no checkpoint exists here) written under the registry's name in a
temporary VIDCLI_HOME, its encoder at a small image size."""

from __future__ import annotations

import numpy as np
import pytest
from random_checkpoints import home_with, write_sam_vit_b

from vidcli import backends
from vidcli.engine.keys import sha256_of
from vidcli.engine.stage import Artifact, planned_config
from vidcli.errors import ConfigError
from vidcli.io import masks as mask_files
from vidcli.io.frames import write_frames
from vidcli.io.tracks import Tracks, write_tracks
from vidcli.settings import build
from vidcli.stages import masks as masks_stage

pytest.importorskip("segment_anything")


@pytest.fixture(scope="module")
def sam_home(tmp_path_factory):
    """A VIDCLI_HOME whose sam_vit_b checkpoint is a random vit_b state dict."""
    return home_with(tmp_path_factory.mktemp("home"), write_sam_vit_b)


def test_sam_masks_every_tracked_person_once_and_disjointly(sam_home, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(sam_home))
    rng = np.random.default_rng(0)
    images = [(rng.random((48, 64, 3)) * 255).astype(np.uint8) for _ in range(2)]
    frames = Artifact(write_frames(tmp_path / "frames", images, fps=10.0))
    boxes = np.array([[4.0, 4.0, 30.0, 44.0], [20.0, 2.0, 60.0, 46.0], [8.0, 6.0, 28.0, 40.0]])
    (tmp_path / "track").mkdir()
    write_tracks(tmp_path / "track", Tracks(np.array([0, 0, 1]), np.array([1, 2, 1]), boxes, np.ones(3)))
    out = tmp_path / "masks"
    out.mkdir()
    config = planned_config(masks_stage, {"backend": "sam", "sam_cpu_size": 256})
    info = masks_stage.run(config, {"frames": frames, "track": Artifact(tmp_path / "track")}, out)

    assert info.model == "sam_vit_b@256" and info.counts == {"frames": 2, "masks": 3}
    assert info.checksum == sha256_of(sam_home / "checkpoints" / "sam_vit_b_01ec64.pth")
    people = mask_files.read_masks(out / mask_files.MASKS_JSON)["masks"]
    union = mask_files.read_masks(out / mask_files.UNION_JSON)["masks"]
    assert [(m["frame"], m["track_id"]) for m in people] == [(0, 1), (0, 2), (1, 1)]
    decoded = [mask_files.decode(m["rle"]) for m in people]
    assert all(mask.shape == (48, 64) for mask in decoded)
    assert not (decoded[0] & decoded[1]).any()
    np.testing.assert_array_equal(mask_files.decode(union[0]["rle"]), decoded[0] | decoded[1])


def test_auto_picks_sam_when_its_checkpoint_is_here(sam_home, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "empty"))
    assert backends.resolve("masks", "auto")[0] == "embedded"
    with pytest.raises(ConfigError, match="masks backend sam needs checkpoint sam_vit_b"):
        backends.resolve("masks", "sam")
    monkeypatch.setenv("VIDCLI_HOME", str(sam_home))
    assert backends.resolve("masks", "auto")[0] == "sam"


def test_sam_image_size_is_a_multiple_of_its_patch():
    with pytest.raises(ConfigError, match="sam_cpu_size must be a multiple of 16"):
        build(masks_stage.Config, {"sam_cpu_size": 500}, "masks")


def test_sam_prompts_points_at_the_persons_keypoints_and_negatives_at_others(sam_home, tmp_path, monkeypatch):
    """With the keypoints stage upstream, each person's confident body keypoints are positive points and
    other people's inside its box negative ones; face and hand points and low scores are left out."""
    from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, write_keypoints

    monkeypatch.setenv("VIDCLI_HOME", str(sam_home))
    rng = np.random.default_rng(1)
    frames = Artifact(write_frames(tmp_path / "frames", [(rng.random((48, 64, 3)) * 255).astype(np.uint8)],
                                   fps=10.0))
    boxes = np.array([[4.0, 4.0, 40.0, 44.0], [20.0, 2.0, 60.0, 46.0]])
    (tmp_path / "track").mkdir()
    write_tracks(tmp_path / "track", Tracks(np.array([0, 0]), np.array([1, 2]), boxes, np.ones(2)))
    points = np.full((2, 133, 3), np.nan)
    points[0, :3] = [[10, 10, 0.9], [30, 20, 0.9], [12, 30, 0.2]]  # the last one too unsure
    points[1, :2] = [[25, 15, 0.8], [55, 40, 0.9]]  # the first inside person 1's box, the second not
    points[0, 50] = [15, 15, 1.0]  # a face point
    (tmp_path / "keypoints").mkdir()
    write_keypoints(tmp_path / "keypoints" / KEYPOINTS_NPZ,
                    Keypoints(np.array([0, 0]), np.array([1, 2]), points, np.full(points.shape, np.nan),
                              "wholebody133"))
    prompts = []
    original = __import__("segment_anything").SamPredictor.predict

    def recording(self, point_coords=None, point_labels=None, box=None, multimask_output=True):
        prompts.append((point_coords, point_labels, box))
        return original(self, point_coords=point_coords, point_labels=point_labels, box=box,
                        multimask_output=multimask_output)

    monkeypatch.setattr("segment_anything.SamPredictor.predict", recording)
    out = tmp_path / "masks"
    out.mkdir()
    config = planned_config(masks_stage, {"backend": "sam", "sam_cpu_size": 256})
    inputs = {"frames": frames, "track": Artifact(tmp_path / "track"),
              "keypoints": Artifact(tmp_path / "keypoints")}
    info = masks_stage.run(config, inputs, out)
    assert info.counts == {"frames": 1, "masks": 2}
    by_box = {tuple(box): (coords.tolist(), labels.tolist()) for coords, labels, box in prompts}
    assert by_box[tuple(boxes[0])] == ([[10, 10], [30, 20], [25, 15]], [1, 1, 0])
    assert by_box[tuple(boxes[1])] == ([[25, 15], [55, 40], [30, 20]], [1, 1, 0])

    prompts.clear()
    boxes_only = tmp_path / "boxes_only"
    boxes_only.mkdir()
    masks_stage.run(planned_config(masks_stage, {"backend": "sam", "sam_cpu_size": 256, "sam_points": False}),
                    inputs, boxes_only)
    assert all(coords is None and labels is None for coords, labels, _ in prompts)


def test_masks_read_the_keypoints_only_where_the_pipeline_has_them():
    from vidcli.engine.pipeline import load_pipeline

    assert load_pipeline("perception").stages["masks"].inputs == {"frames": "frames", "track": "track",
                                                                  "keypoints": "keypoints"}
    assert "keypoints" not in load_pipeline("remove").stages["masks"].inputs
    assert set(load_pipeline("perception").final_stages) == {"masks", "keypoints"}  # keypoints stay an output
