"""VIMO without its weights: the official checkpoint's key manifest, and goldens of the official TRAM code
(4861c11) at a tiny size with seeded weights (tests/data/vimo/provenance.json)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidcli.body.hmr2_net import NOT_REGRESSOR, Hmr2Size, regressor_state
from vidcli.body.person_crop import crop_to_camera, crop_track_box, normalise
from vidcli.body.vimo_net import Vimo, VimoSize, window_outputs

DATA = Path(__file__).parent / "data" / "vimo"
ZIDANE = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets" / "zidane.jpg"
TINY = VimoSize(hmr2=Hmr2Size(embed_dim=32, depth=2, heads=4, decoder_dim=24, decoder_depth=2,
                              decoder_heads=2, decoder_dim_head=8, decoder_mlp_dim=40),
                st_dim=16, st_layers=2, motion_dim=16, motion_layers=2)
needs_zidane = pytest.mark.skipif(not ZIDANE.exists(), reason="ultralytics' zidane.jpg is not installed")


def golden(name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(DATA / name)


def zidane_frames(count: int) -> list[np.ndarray]:
    """The golden's frames: zidane.jpg (RGB) rolled right by 6 pixels a frame."""
    rgb = cv2.imread(str(ZIDANE))[:, :, ::-1]
    return [np.roll(rgb, 6 * i, axis=1) for i in range(count)]


@pytest.fixture
def vimo_home(tmp_path, monkeypatch):
    """VIDCLI_HOME with the tiny golden weights as vimo_checkpoint.pth.tar (TRAM's layout: under 'model'),
    and the backend built at the tiny size."""
    from vidcli.backends import vimo_regression
    from vidcli.models import registry

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(vimo_regression.VimoRegression, "size", TINY)
    registry.checkpoint_dir().mkdir(parents=True)
    torch.save({"model": golden("vimo_tiny_weights.safetensors"), "epoch": 0}, registry.local_path("vimo"))
    return tmp_path


def test_released_checkpoint_keys_are_the_modules_plus_the_documented_extras():
    manifest = json.loads((DATA / "vimo_key_manifest.json").read_text())
    assert manifest["provenance"]["commit"].startswith("4861c112")
    with torch.device("meta"):
        model = Vimo()
    mine = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    assert mine == regressor_state(manifest["keys"])
    extras = set(manifest["keys"]) - set(mine)
    assert all(name.startswith(NOT_REGRESSOR) for name in extras)
    assert {name.split(".")[0] for name in extras} == {"smpl", "initialized"}


def test_windows_cover_each_frame_once_as_tram_takes_them():
    for count in (16, 17, 18, 40):
        covered = np.concatenate([np.arange(start, start + 16)[part]
                                  for start, part in window_outputs(count)])
        assert covered.tolist() == list(range(count))
    assert window_outputs(18) == [(0, slice(0, 9)), (1, slice(8, 9)), (2, slice(8, 16))]


def test_tiny_vimo_reproduces_the_official_sliding_window_inference(vimo_home):
    from vidcli.backends.vimo_regression import VimoRegression
    from vidcli.engine.stage import planned_config
    from vidcli.stages import body as body_stage

    io = golden("vimo_tiny_io.safetensors")
    regressor = VimoRegression(planned_config(body_stage, {"device": "cpu"}), body_model=None)
    crops = np.stack([normalise(crop) for crop in io["crops_uint8"].numpy()])
    boxes = io["boxes"].numpy()
    centers = np.stack([(box[:2] + box[2:]) / 2 for box in boxes])
    sides = np.array([200 * (max(box[2:] - box[:2]) / 200 * 1.2) for box in boxes])
    K = np.array([[1100.0, 0, 640], [0, 1100, 360], [0, 0, 1]])
    rotations, betas, cams = regressor.regress(regressor.features(crops), centers, sides, K)
    np.testing.assert_allclose(rotations, io["rotations"].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(betas, io["betas"].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(cams, io["cam"].numpy(), atol=1e-4, rtol=0)
    # TRAM's translation (get_trans, in float32) from the official cameras: ours differ from them by about 1e-6,
    # which the depth's division by the camera scale grows to 2e-4 relative on a small component
    np.testing.assert_allclose(crop_to_camera(io["cam"].numpy().astype(np.float64), centers, sides, K),
                               io["translation"].numpy(), rtol=1e-5)


@needs_zidane
def test_track_crops_match_the_official_crops_on_a_real_image():
    io = golden("vimo_tiny_io.safetensors")
    for index, (rgb, box) in enumerate(zip(zidane_frames(17), io["boxes"].numpy())):
        crop, _, _ = crop_track_box(rgb, box)
        np.testing.assert_array_equal(crop, io["crops_uint8"][index].numpy())


@needs_zidane
def test_body_stage_regresses_runs_of_16_frames_with_vimo(vimo_home):
    from test_hmr2 import body_inputs, run_body

    from vidcli.backends.vimo_regression import VimoRegression
    from vidcli.io.frames import FrameSequence

    images = zidane_frames(21)
    frames = np.r_[0:17, 18:21]  # 17 consecutive frames, a gap, then 3 frames VIMO cannot window
    boxes = golden("vimo_tiny_io.safetensors")["boxes"].numpy()[np.minimum(frames, 16)]
    K = np.array([[1100.0, 0, 640], [0, 1100, 360], [0, 0, 1]])
    inputs = body_inputs(vimo_home, images, frames, boxes, K)
    info, body = run_body(vimo_home, inputs, backend="vimo")
    assert info.model == "vimo (smpl)" and body.frame.tolist() == list(range(17))

    from vidcli.engine.stage import planned_config
    from vidcli.stages import body as body_stage

    stored = [FrameSequence(vimo_home / "frames").read(i) for i in range(17)]  # as JPEG kept them
    crops, centers, sides = zip(*(crop_track_box(image, box) for image, box in zip(stored, boxes[:17])))
    regressor = VimoRegression(planned_config(body_stage, {"device": "cpu"}), body_model=None)
    tokens = regressor.features(np.stack([normalise(c) for c in crops]))
    rotations, betas, _ = regressor.regress(tokens, np.stack(centers), np.array(sides), K)
    np.testing.assert_allclose(body.rotations, rotations, atol=1e-6)
    np.testing.assert_allclose(body.shape[0], np.median(betas, axis=0), atol=1e-6)


@needs_zidane
def test_a_track_without_16_consecutive_frames_is_skipped(vimo_home):
    from test_hmr2 import body_inputs

    from vidcli.engine.stage import planned_config
    from vidcli.errors import InputError
    from vidcli.stages import body as body_stage

    frames = np.arange(10)
    boxes = golden("vimo_tiny_io.safetensors")["boxes"].numpy()[frames]
    K = np.array([[1100.0, 0, 640], [0, 1100, 360], [0, 0, 1]])
    inputs = body_inputs(vimo_home, zidane_frames(10), frames, boxes, K)
    config = planned_config(body_stage, {"backend": "vimo", "body": "smpl", "body_model_dir": str(vimo_home),
                                         "min_frames": 1})
    (vimo_home / "body").mkdir()
    with pytest.raises(InputError, match="the vimo backend estimated none of the 1 tracks"):
        body_stage.run(config, inputs, vimo_home / "body")


def test_mocap_plans_vimo_bodies_and_depth_scale(tmp_path, vimo_home, clip):
    from click.testing import CliRunner
    from test_body_world import _fake_smpl_file
    from test_depth_scale import _tiny_depth_model

    from vidcli.commands.common import Globals
    from vidcli.commands.mocap import mocap
    from vidcli.engine.pipeline import load_pipeline
    from vidcli.engine.plan import build_plan
    from vidcli.engine.store import Workspace
    from vidcli.models import registry

    _tiny_depth_model("zoedepth", registry.local_path("zoedepth_nyu"))
    _fake_smpl_file(tmp_path / "SMPL_NEUTRAL.npz")
    chosen = ["body.backend=vimo", "scale.backend=depth"]
    arguments = [str(clip), "--dry-run", "--body", "smpl", "--body-model-dir", str(tmp_path)]
    result = CliRunner().invoke(mocap, arguments + [a for c in chosen for a in ("--set", c)],
                                obj=Globals(tmp_path / "ws", True, 0, True))
    assert result.exit_code == 0, result.output
    pipeline = load_pipeline("mocap", {"body": {"body": "smpl", "body_model_dir": str(tmp_path)}},
                             assignments=chosen)
    [plan] = build_plan(pipeline, [{"video": clip}], Workspace(tmp_path / "ws"))
    nodes = plan.nodes
    assert nodes["body"].config["backend"] == "vimo" and nodes["scale"].config["backend"] == "depth"
    assert set(nodes["body"].upstream) == {"keypoints", "camera", "frames", "track"}
    assert set(nodes["scale"].upstream) == {"camera", "keypoints", "frames"}


@pytest.mark.slow
@needs_zidane
def test_mocap_runs_end_to_end_with_vimo_and_depth_scale(tmp_path, vimo_home, monkeypatch):
    """A second of the hiphop clip through the whole mocap pipeline with the tiny networks under the real
    checkpoint names (random weights: the bodies mean nothing, the chain must hold)."""
    import subprocess

    from conftest import FFMPEG, SHARED_DATA
    from test_body_world import _fake_smpl_file
    from test_depth_scale import _tiny_depth_model

    from vidcli.engine.pipeline import load_pipeline
    from vidcli.engine.runner import run
    from vidcli.engine.store import Workspace
    from vidcli.io.motion import BODY_NPZ, read_body
    from vidcli.models import registry

    source = SHARED_DATA / "videos" / "hiphop_clip1.mp4"
    if not source.exists():
        pytest.skip("the shared hiphop clip is absent")
    clip = tmp_path / "hiphop.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(source), "-t", "1", "-vf", "scale=640:360", "-c:v",
                    "libx264", "-pix_fmt", "yuv420p", str(clip)], check=True)
    _tiny_depth_model("zoedepth", registry.local_path("zoedepth_nyu"))
    _fake_smpl_file(tmp_path / "SMPL_NEUTRAL.npz")
    pipeline = load_pipeline("mocap", {"body": {"body": "smpl", "body_model_dir": str(tmp_path)}},
                             assignments=["body.backend=vimo", "scale.backend=depth", "export.formats=bvh"])
    report = run(pipeline, [{"video": clip}], Workspace(tmp_path / "ws"))
    assert report.exit_code == 0, report.outcomes
    artifacts = {o.stage: o.artifact for o in report.outcomes}
    body = read_body(Path(artifacts["body"]) / BODY_NPZ)
    assert len(body.frame) >= 16 and np.isfinite(body.translation_cam).all()
    manifest = json.loads((Path(artifacts["body"]) / "manifest.json").read_text())
    assert manifest["backend"]["name"] == "vimo"
    assert json.loads((Path(artifacts["scale"]) / "manifest.json").read_text())["backend"]["name"] == "depth"
    assert list(Path(artifacts["export"]).glob("*.bvh"))
