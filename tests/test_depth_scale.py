"""The `depth` scale backend: TRAM's scale fit against the official code (tests/data/depth_scale), and
transformers' metric depth networks at tiny random sizes run through the scale stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidcli.slam.metric_scale import fit_depth_scale

DATA = Path(__file__).parent / "data" / "depth_scale"


def test_scale_fit_reproduces_trams_on_synthetic_depth_pairs():
    golden = np.load(DATA / "tram_scale_golden.npz")
    for index, true_scale in enumerate((2.5, 0.4, 7.0)):
        slam, predicted = golden[f"slam_{index}"], golden[f"predicted_{index}"]
        scale = fit_depth_scale(slam, predicted, golden[f"mask_{index}"] < 0.5)
        assert scale == pytest.approx(float(golden[f"scale_{index}"]), abs=1e-4)
        assert scale == pytest.approx(true_scale, rel=2e-3)  # and both find the truth through the outliers


def test_scale_fit_needs_near_usable_pixels():
    slam = np.full((4, 4), 2.0)
    assert fit_depth_scale(slam, np.full((4, 4), 30.0), np.ones((4, 4), bool)) is None  # all beyond 10 m
    assert fit_depth_scale(slam, np.full((4, 4), 3.0), np.zeros((4, 4), bool)) is None


def _tiny_depth_model(name: str, folder: Path) -> None:
    """A randomly initialised network of the model's transformers class, saved as its checkpoint folder."""
    import torch
    from transformers import (DepthAnythingConfig, DepthAnythingForDepthEstimation, DepthProConfig,
                              DepthProForDepthEstimation, DepthProImageProcessor, Dinov2Config,
                              DPTImageProcessor, ZoeDepthConfig, ZoeDepthForDepthEstimation,
                              ZoeDepthImageProcessor)

    torch.manual_seed(0)
    backbone = Dinov2Config(image_size=32, patch_size=16, hidden_size=8, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=16, out_features=["stage1", "stage2"],
                            reshape_hidden_states=False)
    if name == "zoedepth":
        model = ZoeDepthForDepthEstimation(ZoeDepthConfig(
            backbone_config=backbone, backbone=None, neck_hidden_sizes=[4, 4], fusion_hidden_size=6,
            bottleneck_features=6, num_out_features=[6, 6, 6, 6]))
        processor = ZoeDepthImageProcessor(size={"height": 64, "width": 64}, ensure_multiple_of=16)
    elif name.startswith("depth_anything"):
        model = DepthAnythingForDepthEstimation(DepthAnythingConfig(
            backbone_config=backbone, neck_hidden_sizes=[4, 4], reassemble_hidden_size=8,
            fusion_hidden_size=6, reassemble_factors=[2, 1], head_hidden_size=4,
            depth_estimation_type="metric", max_depth=20))
        processor = DPTImageProcessor(size={"height": 64, "width": 64}, keep_aspect_ratio=True,
                                      ensure_multiple_of=16)
    else:
        vit = dict(model_type="dinov2", image_size=32, patch_size=16, hidden_size=8, num_hidden_layers=2,
                   num_attention_heads=2, intermediate_size=16)
        model = DepthProForDepthEstimation(DepthProConfig(
            patch_size=32, fusion_hidden_size=8, intermediate_hook_ids=[1, 0],
            intermediate_feature_dims=[4, 4], scaled_images_ratios=[0.5, 1.0],
            scaled_images_overlap_ratios=[0.0, 0.2], scaled_images_feature_dims=[8, 8], use_fov_model=True,
            image_model_config=vit, patch_model_config=vit, fov_model_config=vit))
        processor = DepthProImageProcessor(size={"height": 64, "width": 64})
    with torch.no_grad():  # weights spread enough that the depth heads' ReLUs let a varied map through
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


@pytest.mark.parametrize("model", ["zoedepth", "depth_anything_indoor", "depth_pro"])
def test_metric_depth_networks_give_depth_maps_of_the_image(model, tmp_path, monkeypatch):
    from vidcli.models import registry
    from vidcli.slam.metric_depth import DEPTH_CHECKPOINTS, MetricDepth

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    _tiny_depth_model(model, registry.local_path(DEPTH_CHECKPOINTS[model]))
    rgb = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    depth = MetricDepth(model, "cpu").depth(rgb)
    assert depth.shape == (48, 80) and np.isfinite(depth).all() and depth.std() > 0


def test_scale_stage_with_the_depth_backend(tmp_path, monkeypatch):
    import cv2

    from vidcli.engine.stage import Artifact, planned_config
    from vidcli.io.camera import CAMERA_NPZ, DEPTH_NPZ, CameraTrack, read_camera, write_camera
    from vidcli.io.frames import FrameSequence, write_frames
    from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, write_keypoints
    from vidcli.models import registry
    from vidcli.stages import scale as scale_stage
    from vidcli.stages.scale import robust_scale

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    _tiny_depth_model("zoedepth", registry.local_path("zoedepth_nyu"))
    rng = np.random.default_rng(1)
    count = 6
    images = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(count)]
    write_frames(tmp_path / "frames", images, 10.0)
    (tmp_path / "camera").mkdir()
    (tmp_path / "keypoints").mkdir()
    K = np.array([[80.0, 0, 48], [0, 80, 32], [0, 0, 1]])
    t_wc = np.stack([np.linspace(0, 0.5, count), np.zeros(count), np.zeros(count)], axis=1)
    write_camera(tmp_path / "camera", CameraTrack(K, np.tile(np.eye(3), (count, 1, 1)), t_wc,
                                                  np.arange(count) / 10, 96, 64, 10.0))
    keyframes = np.array([0, 3, 5])
    inv_depth = rng.uniform(0.5, 2.0, (3, 8, 12)).astype(np.float32)
    confidence = np.ones_like(inv_depth)
    confidence[:, :2] = 0  # not used
    np.savez(tmp_path / "camera" / DEPTH_NPZ, keyframes=keyframes, inv_depth=inv_depth,
             confidence=confidence, K=K / 8)
    none = Keypoints(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 33, 3)), np.zeros((0, 33, 3)))
    write_keypoints(tmp_path / "keypoints" / KEYPOINTS_NPZ, none)
    config = planned_config(scale_stage, {"backend": "depth", "depth_model": "zoedepth"})
    assert config.device == "cpu"
    (tmp_path / "scale").mkdir()
    inputs = {port: Artifact(tmp_path / port) for port in ("camera", "keypoints", "frames")}
    info = scale_stage.run(config, inputs, tmp_path / "scale")
    assert info.model == "zoedepth_nyu" and info.counts["samples"] == 3

    from vidcli.slam.metric_depth import MetricDepth

    network, frames = MetricDepth("zoedepth", "cpu"), FrameSequence(tmp_path / "frames")
    samples = []
    for slot, keyframe in enumerate(keyframes):
        metric = cv2.resize(network.depth(frames.read(int(keyframe))), (12, 8), interpolation=cv2.INTER_AREA)
        samples.append(fit_depth_scale(1 / inv_depth[slot], metric, confidence[slot] >= 0.5))
    result = json.loads((tmp_path / "scale" / "scale.json").read_text())
    expected, spread = robust_scale(np.log(samples))
    assert result["scale"] == pytest.approx(expected)
    assert result["spread"] == pytest.approx(spread, abs=1e-4)
    np.testing.assert_allclose(read_camera(tmp_path / "scale" / CAMERA_NPZ).t_wc, t_wc * expected)


def test_depth_backend_needs_the_chosen_networks_checkpoint(tmp_path, monkeypatch):
    from vidcli.engine.stage import planned_config
    from vidcli.errors import ConfigError
    from vidcli.models import registry
    from vidcli.stages import scale as scale_stage

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    _tiny_depth_model("zoedepth", registry.local_path("zoedepth_nyu"))
    with pytest.raises(ConfigError, match="depth_model depth_pro needs checkpoint depth_pro"):
        planned_config(scale_stage, {"backend": "depth", "depth_model": "depth_pro"})


def test_camera_focal_from_depth_pro(tmp_path, monkeypatch):
    from dataclasses import replace

    from vidcli.engine.stage import planned_config
    from vidcli.errors import ConfigError, StageError
    from vidcli.io.frames import FrameSequence, write_frames
    from vidcli.models import registry
    from vidcli.slam.metric_depth import MetricDepth
    from vidcli.stages import camera as camera_stage

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="focal=depthpro needs checkpoint depth_pro"):
        planned_config(camera_stage, {"focal": "depthpro"})
    _tiny_depth_model("depth_pro", registry.local_path("depth_pro"))
    with pytest.raises(ConfigError, match="not both"):
        planned_config(camera_stage, {"focal": "depthpro", "fx": 500.0})
    config = planned_config(camera_stage, {"focal": "depthpro"})

    rng = np.random.default_rng(2)
    images = [rng.integers(0, 255, (48, 80, 3), dtype=np.uint8) for _ in range(9)]
    write_frames(tmp_path / "frames", images, 10.0)
    frames = FrameSequence(tmp_path / "frames")
    network = MetricDepth("depth_pro", "cpu")
    try:  # the tiny random network's field of view may fall outside (0, 180) degrees: refused, not used
        assert network.focal(frames.read(0)) > 0
    except StageError as refusal:
        assert "unusable focal length" in str(refusal)
    # the median over 5 frames spread through the video (each frame's estimate: 100 + its mean value)
    monkeypatch.setattr(MetricDepth, "focal", lambda self, rgb: 100.0 + float(rgb.mean()))
    expected = np.median([100.0 + frames.read(i).mean() for i in (0, 2, 4, 6, 8)])
    focal = camera_stage.depth_pro_focal(frames)
    assert focal == pytest.approx(expected)
    K, calibrate = camera_stage.intrinsics(config, 80, 48, focal)
    assert K[0, 0] == K[1, 1] == pytest.approx(focal) and not calibrate
    assert camera_stage.intrinsics(replace(config, focal="sweep"), 80, 48)[1]  # the sweep otherwise
