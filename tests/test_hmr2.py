"""HMR2.0 without its weights: the official checkpoint's key manifest, and goldens of the official code
(4D-Humans 6ec7965) at a tiny size with seeded weights (tests/data/hmr2/provenance.json)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidcli.body.hmr2_net import NOT_REGRESSOR, Hmr2, Hmr2Size, regressor_state
from vidcli.body.person_crop import crop_person, crop_to_camera

DATA = Path(__file__).parent / "data" / "hmr2"
ZIDANE = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets" / "zidane.jpg"
TINY = Hmr2Size(embed_dim=32, depth=2, heads=4, decoder_dim=24, decoder_depth=2, decoder_heads=2,
                decoder_dim_head=8, decoder_mlp_dim=40)


def golden(name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(DATA / name)


def test_released_checkpoint_keys_are_the_modules_plus_the_documented_extras():
    manifest = json.loads((DATA / "hmr2_key_manifest.json").read_text())
    assert manifest["provenance"]["commit"].startswith("6ec79656")
    with torch.device("meta"):
        model = Hmr2()
    mine = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    assert mine == regressor_state(manifest["keys"])
    extras = set(manifest["keys"]) - set(mine)
    assert all(name.startswith(NOT_REGRESSOR) for name in extras)
    assert {name.split(".")[0] for name in extras} == {"discriminator", "smpl", "initialized"}


def test_tiny_model_reproduces_the_official_outputs():
    io = golden("hmr2_tiny_io.safetensors")
    model = Hmr2(TINY).eval()
    model.load_state_dict(golden("hmr2_tiny_weights.safetensors"), strict=True)
    with torch.no_grad():
        rotations, betas, cam = model(io["crops"])
    torch.testing.assert_close(rotations[:, :1], io["global_orient"], atol=1e-4, rtol=0)
    torch.testing.assert_close(rotations[:, 1:], io["body_pose"], atol=1e-4, rtol=0)
    torch.testing.assert_close(betas, io["betas"], atol=1e-4, rtol=0)
    torch.testing.assert_close(cam, io["cam"], atol=1e-4, rtol=0)
    identity = torch.eye(3).expand_as(rotations)
    assert torch.allclose(rotations @ rotations.transpose(-1, -2), identity, atol=1e-5)


@pytest.mark.skipif(not ZIDANE.exists(), reason="ultralytics' zidane.jpg is not installed")
def test_crops_match_the_official_preprocessing_on_a_real_image():
    io = golden("hmr2_tiny_io.safetensors")
    rgb = cv2.imread(str(ZIDANE))[:, :, ::-1].copy()
    for index, box in enumerate(io["boxes"].numpy()):
        crop, center, side = crop_person(rgb, box)
        np.testing.assert_allclose(crop, io["crops"][index].numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(center, io["box_center"][index].numpy())
        assert side == pytest.approx(float(io["box_size"][index]))


def test_crop_cameras_become_translations_through_the_intrinsics():
    io = golden("hmr2_tiny_io.safetensors")
    focal = float(io["focal_full"])  # the official demo's focal, with the image centre as principal point
    K = np.array([[focal, 0, 640], [0, focal, 360], [0, 0, 1]])
    translation = crop_to_camera(io["cam"].numpy().astype(np.float64), io["box_center"].numpy(),
                                 io["box_size"].numpy(), K)
    np.testing.assert_allclose(translation, io["cam_t_full"].numpy(), rtol=1e-5, atol=1e-4)


def _lightning_checkpoint(path: Path, weights: dict) -> None:
    """A file laid out as the released HMR2.0 checkpoint: the regressor's weights plus the keys vidcli
    drops, under `state_dict`, next to a training config pickled as a yacs CfgNode."""
    import sys
    import types

    yacs, config_module = types.ModuleType("yacs"), types.ModuleType("yacs.config")

    class CfgNode(dict):  # pickles as yacs' does: dict items, then attributes (with a set)
        def __init__(self, **items):
            super().__init__(**items)
            self.__dict__.update({"__immutable__": False, "__deprecated_keys__": set(),
                                  "__new_allowed__": True})

    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    config_module.CfgNode = CfgNode
    sys.modules.update({"yacs": yacs, "yacs.config": config_module})
    try:
        state = {**weights, "discriminator.D_conv1.weight": torch.zeros(32, 9, 1, 1),
                 "smpl.J_regressor": torch.zeros(24, 6890), "initialized": torch.tensor(True)}
        cfg = CfgNode(MODEL=CfgNode(IMAGE_SIZE=256))
        torch.save({"state_dict": state, "hyper_parameters": {"cfg": cfg}, "epoch": 35}, path)
    finally:
        del sys.modules["yacs"], sys.modules["yacs.config"]


def body_inputs(root: Path, images: list[np.ndarray], frames: np.ndarray, boxes: np.ndarray,
                K: np.ndarray) -> dict:
    """The body stage's input artifacts for one track (id 1) seen in `frames` (indices into `images`) in
    `boxes`: frames, track, keypoints (random, visible, inside the boxes), a static camera; and a random
    SMPL-shaped model file in `root`."""
    from test_body_world import _fake_smpl_file

    from vidcli.engine.stage import Artifact
    from vidcli.io.camera import CameraTrack, write_camera
    from vidcli.io.frames import write_frames
    from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, write_keypoints
    from vidcli.io.tracks import Tracks, write_tracks

    count, rows = len(images), len(frames)
    write_frames(root / "frames", images, 10.0)
    for name in ("track", "keypoints", "camera"):
        (root / name).mkdir()
    write_tracks(root / "track", Tracks(frames, np.ones(rows, int), boxes, np.ones(rows)))
    rng = np.random.default_rng(0)
    uv = rng.uniform(boxes[:, None, :2], boxes[:, None, 2:], (rows, 33, 2))
    keypoints2d = np.concatenate([uv, np.ones((rows, 33, 1))], -1)
    write_keypoints(root / "keypoints" / KEYPOINTS_NPZ,
                    Keypoints(frames, np.ones(rows, int), keypoints2d, rng.normal(0, 0.3, (rows, 33, 3))))
    height, width = images[0].shape[:2]
    write_camera(root / "camera", CameraTrack(K, np.tile(np.eye(3), (count, 1, 1)), np.zeros((count, 3)),
                                              np.arange(count) / 10, width, height, 10.0, static=True))
    _fake_smpl_file(root / "SMPL_NEUTRAL.npz")
    return {port: Artifact(root / port) for port in ("keypoints", "camera", "frames", "track")}


def run_body(root: Path, inputs: dict, out: str = "body", **settings):
    """The body stage run on `inputs` with the SMPL file in `root` into `root / out`: (RunInfo, BodyTable)."""
    from vidcli.engine.stage import planned_config
    from vidcli.io.motion import BODY_NPZ, read_body
    from vidcli.stages import body as body_stage

    config = planned_config(body_stage, {"body": "smpl", "body_model_dir": str(root), "min_frames": 1,
                                         **settings})
    assert config.device == "cpu"
    (root / out).mkdir()
    info = body_stage.run(config, inputs, root / out)
    return info, read_body(root / out / BODY_NPZ)


def tiny_hmr2_inputs(tmp_path, monkeypatch):
    """A tiny hmr2 checkpoint of the golden weights in a private VIDCLI_HOME, and the body stage's inputs
    for three frames of zidane.jpg panning under one box each: (inputs, boxes, K)."""
    from vidcli.backends import hmr2_regression
    from vidcli.models import registry

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(hmr2_regression.Hmr2Regression, "size", TINY)
    registry.checkpoint_dir().mkdir(parents=True)
    _lightning_checkpoint(registry.local_path("hmr2"), golden("hmr2_tiny_weights.safetensors"))
    rgb = cv2.imread(str(ZIDANE))[:, :, ::-1]
    boxes = np.array([[745 + 6 * i, 40, 1140 + 6 * i, 720] for i in range(3)], float)
    K = np.array([[1000.0, 0, 640], [0, 1000, 360], [0, 0, 1]])
    inputs = body_inputs(tmp_path, [np.roll(rgb, 6 * i, axis=1) for i in range(3)], np.arange(3), boxes, K)
    return inputs, boxes, K


@pytest.mark.skipif(not ZIDANE.exists(), reason="ultralytics' zidane.jpg is not installed")
def test_body_stage_regresses_smpl_with_the_hmr2_backend(tmp_path, monkeypatch):
    from vidcli.body.models import BodySpec, load_body_model
    from vidcli.io.frames import FrameSequence

    inputs, boxes, K = tiny_hmr2_inputs(tmp_path, monkeypatch)
    info, body = run_body(tmp_path, inputs, backend="hmr2")
    assert info.model == "hmr2 (smpl)" and info.counts["frames"] == 3

    model = Hmr2(TINY).eval()
    model.load_state_dict(golden("hmr2_tiny_weights.safetensors"))
    stored = [FrameSequence(tmp_path / "frames").read(i) for i in range(3)]  # as JPEG kept them
    crops, centers, sides = zip(*(crop_person(image, box) for image, box in zip(stored, boxes)))
    with torch.no_grad():
        rotations, betas, cam = (t.double().numpy() for t in model(torch.from_numpy(np.stack(crops))))
    np.testing.assert_allclose(body.rotations, rotations, atol=1e-5)
    np.testing.assert_allclose(body.shape[0], np.median(betas, axis=0), atol=1e-5)
    smpl = load_body_model(BodySpec("smpl", str(tmp_path / "SMPL_NEUTRAL.npz")))
    pelvis = crop_to_camera(cam, np.stack(centers), np.array(sides), K) + [smpl.rest_pelvis(b) for b in betas]
    np.testing.assert_allclose(body.translation_cam, pelvis, atol=1e-4)
    assert np.isfinite(body.error_px).all()


def test_hmr2_needs_the_smpl_body_model():
    from dataclasses import replace

    from vidcli.engine.stage import planned_config
    from vidcli.errors import ConfigError
    from vidcli.stages import body as body_stage

    with pytest.raises(ConfigError, match="regresses SMPL"):
        body_stage.resolve_config(replace(planned_config(body_stage, {}), backend="hmr2"))


@pytest.mark.skipif(not ZIDANE.exists(), reason="ultralytics' zidane.jpg is not installed")
def test_refine_starts_the_keypoint_fit_from_the_regression(tmp_path, monkeypatch):
    inputs, _, _ = tiny_hmr2_inputs(tmp_path, monkeypatch)
    _, direct = run_body(tmp_path, inputs, out="direct", backend="hmr2")
    _, refined = run_body(tmp_path, inputs, out="refined", backend="hmr2", refine=True)
    # random keypoints fit no body; the fit still moves the regressed bodies towards them
    assert np.nanmean(refined.error_px) < 0.9 * np.nanmean(direct.error_px)
    assert not np.allclose(refined.rotations, direct.rotations)


def test_a_checkpoint_inside_an_archive_is_extracted_on_download(tmp_path, monkeypatch):
    import tarfile
    from dataclasses import replace

    from vidcli.errors import StageError
    from vidcli.models import registry

    member = registry.get("hmr2").member
    (tmp_path / Path(member).parent).mkdir(parents=True)
    (tmp_path / member).write_bytes(b"weights")
    (tmp_path / "other.txt").write_text("not this")
    with tarfile.open(tmp_path / "data.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / member, arcname=f"./{member}")
        tar.add(tmp_path / "other.txt", arcname="other.txt")
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    entry = replace(registry.get("hmr2"), url=(tmp_path / "data.tar.gz").as_uri())
    monkeypatch.setitem(registry.CHECKPOINTS, "hmr2", entry)
    assert registry.download("hmr2").read_bytes() == b"weights"
    files = [p.name for p in registry.checkpoint_dir().iterdir() if not p.name.endswith(".pin.json")]
    assert files == [entry.filename]

    monkeypatch.setitem(registry.CHECKPOINTS, "hmr2", replace(entry, member="missing.ckpt"))
    registry.local_path("hmr2").unlink()
    with pytest.raises(StageError, match="has no missing.ckpt"):
        registry.download("hmr2")
    left = [p.name for p in registry.checkpoint_dir().iterdir() if not p.name.endswith(".pin.json")]
    assert not left  # nothing half-written (the pin of the first download stays)
