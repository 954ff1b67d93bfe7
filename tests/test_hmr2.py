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
    assert torch.allclose(rotations @ rotations.transpose(-1, -2), torch.eye(3).expand_as(rotations), atol=1e-5)


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
