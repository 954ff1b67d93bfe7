"""The `vitpose` keypoints backend: transformers' ViTPose top-down on the track boxes, run through the
keypoints stage with tiny randomly initialised models (COCO-17 and COCO-WholeBody-133 heads) saved in
the registry's hub-folder layout in a temporary VIDCLI_HOME."""

from __future__ import annotations

import numpy as np
import pytest
from random_checkpoints import write_vitpose

from vidcli import backends
from vidcli.engine.stage import Artifact, planned_config
from vidcli.errors import ConfigError
from vidcli.io.frames import FrameSequence, write_frames
from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints
from vidcli.io.tracks import Tracks, write_tracks
from vidcli.models import registry
from vidcli.stages import keypoints as keypoints_stage

pytest.importorskip("transformers")


@pytest.fixture
def scene(tmp_path):
    rng = np.random.default_rng(0)
    images = [(rng.random((90, 120, 3)) * 255).astype(np.uint8) for _ in range(2)]
    frames = Artifact(write_frames(tmp_path / "frames", images, fps=10.0))
    boxes = np.array([[10.0, 5.0, 50.0, 85.0], [60.0, 10.0, 110.0, 88.0], [12.0, 6.0, 52.0, 84.0]])
    (tmp_path / "track").mkdir()
    write_tracks(tmp_path / "track", Tracks(np.array([0, 0, 1]), np.array([1, 2, 1]), boxes, np.ones(3)))
    return {"frames": frames, "track": Artifact(tmp_path / "track")}, boxes


@pytest.mark.parametrize("count, layout", [(17, "coco17"), (133, "wholebody133")])
def test_vitpose_writes_each_boxs_keypoints_in_its_layout(scene, tmp_path, monkeypatch, count, layout):
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    write_vitpose(count)
    inputs, boxes = scene
    out = tmp_path / "keypoints"
    out.mkdir()
    info = keypoints_stage.run(planned_config(keypoints_stage, {"backend": "vitpose"}), inputs, out)
    assert info.counts["layout"] == layout and info.model == "vitpose_base" and len(info.checksum) == 64
    keypoints = read_keypoints(out / KEYPOINTS_NPZ)
    assert keypoints.layout == layout and keypoints.keypoints2d.shape == (3, count, 3)
    assert np.isnan(keypoints.world3d).all()
    points, visibility = keypoints.keypoints2d[..., :2], keypoints.keypoints2d[..., 2]
    assert np.isfinite(points).all() and ((visibility >= 0) & (visibility <= 1)).all()
    # Each row is its own box's pose: the same as transformers gives for that box alone (COCO x, y, w, h).
    import torch
    from transformers import VitPoseForPoseEstimation, VitPoseImageProcessor

    folder = registry.local_path("vitpose_base")
    network = VitPoseForPoseEstimation.from_pretrained(folder).eval()
    processor = VitPoseImageProcessor.from_pretrained(folder)
    frames = FrameSequence(inputs["frames"].path)
    for row, (frame, box) in enumerate(zip([0, 0, 1], boxes)):
        coco = [[box[0], box[1], box[2] - box[0], box[3] - box[1]]]
        pixels = processor(images=frames.read(frame), boxes=[coco], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            alone = processor.post_process_pose_estimation(network(pixels), boxes=[coco])[0][0]
        np.testing.assert_allclose(points[row], alone["keypoints"].numpy(), atol=0.01)  # batch of 2 vs 1
        np.testing.assert_allclose(visibility[row], alone["scores"].numpy().clip(0, 1), atol=1e-4)


def test_auto_picks_vitpose_when_its_checkpoint_is_here(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    assert backends.resolve("keypoints", "auto")[0] == "embedded"
    with pytest.raises(ConfigError, match="keypoints backend vitpose needs checkpoint vitpose_base"):
        backends.resolve("keypoints", "vitpose")
    registry.local_path("vitpose_base").mkdir(parents=True)
    assert backends.resolve("keypoints", "auto")[0] == "vitpose"


def test_vitpose_plus_runs_the_expert_of_its_dataset_index(scene, tmp_path, monkeypatch):
    """A ViTPose+ backbone (six experts) with a 133-point head, as a COCO-WholeBody conversion would be:
    expert 5 gives whole-body keypoints with the feet, and another expert gives other keypoints."""
    from vidcli.body.skeletons import indices

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    write_vitpose(17)  # the backend row's default checkpoint, which `resolve` looks for
    with pytest.raises(ConfigError, match="vitpose_model plus_base needs checkpoint vitpose_plus_base"):
        planned_config(keypoints_stage, {"backend": "vitpose", "vitpose_model": "plus_base"})
    write_vitpose(133, experts=6, name="vitpose_plus_base")
    inputs, _ = scene
    found = {}
    for expert in (0, 5):
        out = tmp_path / f"keypoints{expert}"
        out.mkdir()
        config = planned_config(keypoints_stage, {"backend": "vitpose", "vitpose_model": "plus_base",
                                                  "vitpose_dataset": expert})
        info = keypoints_stage.run(config, inputs, out)
        assert info.model == f"vitpose_plus_base (expert {expert})"
        assert info.counts["layout"] == "wholebody133"
        found[expert] = read_keypoints(out / KEYPOINTS_NPZ)
    feet = indices("wholebody133", [f"{side}_{part}" for side in ("left", "right")
                                    for part in ("heel", "big_toe", "small_toe")])
    assert len(feet) == 6 and np.isfinite(found[5].keypoints2d[:, feet]).all()
    assert not np.allclose(found[0].keypoints2d, found[5].keypoints2d)
