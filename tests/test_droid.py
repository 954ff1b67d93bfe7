"""DROID-SLAM's network in plain torch: the official checkpoint's keys, and outputs of the official code
(tests/data/droid/goldens.json says how they were made) reproduced within 1e-4."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from vidcli.slam.droid_net import CorrelationPyramid, DroidNet, convex_upsample, load_droid_state

DATA = Path(__file__).parent / "data" / "droid"
II, JJ = torch.tensor([0, 1, 1, 2]), torch.tensor([1, 0, 2, 1])


def seeded_state(model) -> dict:
    """The goldens' weights: each entry drawn from a generator seeded by the crc32 of its name."""
    state = {}
    for key, value in model.state_dict().items():
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        std = 0.1 if value.dim() == 1 else 1.0 / np.sqrt(np.prod(value.shape[1:]))
        state[key] = torch.from_numpy((rng.standard_normal(tuple(value.shape)) * std).astype(np.float32))
    return state


@pytest.fixture(scope="module")
def goldens():
    from safetensors.torch import load_file

    return load_file(DATA / "goldens.safetensors")


@pytest.fixture(scope="module")
def network():
    model = DroidNet().eval()
    model.load_state_dict(seeded_state(model))
    return model


def test_keys_and_shapes_match_the_official_checkpoint():
    manifest = json.loads((DATA / "manifest.json").read_text())
    with torch.device("meta"):
        state = DroidNet().state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == manifest["keys"]
    assert sum(v.numel() for v in state.values()) == manifest["num_params"] == 4_002_565


def test_loader_strips_the_ddp_prefix_and_slices_the_heads_as_the_official_one():
    with torch.device("meta"):
        state = DroidNet().state_dict()
    on_disk = {f"module.{k}": torch.zeros(v.shape) for k, v in state.items()}
    for key in ("update.weight.2", "update.delta.2"):
        on_disk[f"module.{key}.weight"] = torch.arange(3 * 128 * 9.0).view(3, 128, 3, 3)
        on_disk[f"module.{key}.bias"] = torch.tensor([1.0, 2.0, 3.0])
    loaded = load_droid_state(on_disk)
    DroidNet().load_state_dict(loaded, strict=True)
    assert loaded["update.delta.2.bias"].tolist() == [1.0, 2.0]
    assert torch.equal(loaded["update.weight.2.weight"], on_disk["module.update.weight.2.weight"][:2])


def test_encoders_reproduce_the_official_features(network, goldens):
    with torch.no_grad():
        fmaps, net, inp = network.extract_features(goldens["rgb"].float()[None])
    for name, ours in (("fmaps", fmaps), ("net", net), ("inp", inp)):
        torch.testing.assert_close(ours[0], goldens[name], atol=1e-4, rtol=0)


def test_update_operator_and_graph_aggregation_reproduce_the_official_outputs(network, goldens):
    with torch.no_grad():
        net, delta, weight, eta, upmask = network.update(
            goldens["net"][II][None], goldens["inp"][II][None], goldens["corr"][None], goldens["motion"][None],
            II)
        upsampled = convex_upsample(goldens["disps"][None], upmask)
    torch.testing.assert_close(net[0], goldens["update_net"], atol=1e-4, rtol=0)
    torch.testing.assert_close(delta[0], goldens["delta"], atol=1e-4, rtol=0)
    torch.testing.assert_close(weight[0], goldens["weight"], atol=1e-4, rtol=0)
    torch.testing.assert_close(eta[0], goldens["eta"], atol=1e-4, rtol=0)
    torch.testing.assert_close(upmask[0, :1], goldens["upmask_frame0"], atol=1e-4, rtol=0)
    torch.testing.assert_close(upsampled[0], goldens["upsampled_disps"], atol=1e-4, rtol=0)
    assert goldens["delta"].std() > 0.1 and goldens["weight"].std() > 0.05  # the goldens are not degenerate


@pytest.mark.parametrize("chunk", [37, 4096])
def test_correlation_pyramid_reproduces_the_official_lookup_at_any_chunk(goldens, chunk):
    fmaps = goldens["fmaps"]
    pyramid = CorrelationPyramid(fmaps[II], fmaps[JJ], chunk=chunk)
    with torch.no_grad():
        corr = pyramid(goldens["coords"])
    torch.testing.assert_close(corr, goldens["corr"], atol=1e-4, rtol=0)


def test_correlation_at_whole_pixels_is_the_official_all_pairs_volume(goldens):
    """At integer coordinates the window's centre is the volume's entry at that pixel."""
    fmaps = goldens["fmaps"]
    height, width = fmaps.shape[-2:]
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    target = torch.stack([(x + 3) % width, (y + 2) % height], -1).float()[None]
    corr = CorrelationPyramid(fmaps[:1], fmaps[1:2], levels=1)(target)[0]
    centre = corr[3 * 7 + 3]  # offset (0, 0) of the x-major 7x7 window
    expected = goldens["volume_edge0"][y, x, target[0, ..., 1].long(), target[0, ..., 0].long()]
    torch.testing.assert_close(centre, expected, atol=1e-4, rtol=0)


# ----- the camera backend -----


def write_tiny_droid_checkpoint(home: Path) -> None:
    """A randomly initialised `droid.pth` laid out as the official file: DDP prefixes, 3-channel heads."""
    state = {f"module.{k}": v for k, v in DroidNet().state_dict().items()}
    for key in ("update.weight.2", "update.delta.2"):
        state[f"module.{key}.weight"] = torch.randn(3, 128, 3, 3) * 0.01
        state[f"module.{key}.bias"] = torch.zeros(3)
    (home / "checkpoints").mkdir(parents=True)
    torch.save(state, home / "checkpoints" / "droid.pth")


def test_matches_give_people_zero_confidence_at_either_end():
    from types import SimpleNamespace

    from vidcli.backends.droid import DroidCorrespondences

    torch.manual_seed(0)
    estimator = DroidCorrespondences(DroidNet(), "cpu", iterations=2)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (72, 80, 3), dtype=np.uint8) for _ in range(2)]
    person = np.zeros((72, 80), bool)
    person[20:37, 30:45] = True  # grid cells rows 2-4, columns 3-5
    old, new = (SimpleNamespace(prepared=estimator.prepare(f), mask=person, texture=None) for f in frames)
    (coords, weight), (_, back_weight) = estimator.match(old, new)
    assert coords.shape == (9 * 10, 2) and weight.shape == (90,)
    cells = np.zeros((9, 10), bool)
    cells[2:5, 3:6] = True
    assert np.all(weight[cells.ravel()] == 0) and np.all(back_weight[cells.ravel()] == 0)
    landed = cells[np.clip(coords[:, 1].astype(int), 0, 8), np.clip(coords[:, 0].astype(int), 0, 9)]
    assert np.all(weight[landed] == 0) and np.any(weight > 0)
    unmasked = [SimpleNamespace(prepared=frame.prepared, mask=None, texture=None) for frame in (old, new)]
    (_, free_weight), _ = estimator.match(*unmasked)
    assert np.all(free_weight[cells.ravel()] > 0)  # the zeros came from the masks


@pytest.mark.slow  # 2 minutes on two loaded cores: a synthetic clip and a network on the CPU
def test_camera_stage_runs_the_droid_backend_from_a_tiny_checkpoint(tmp_path, monkeypatch, anny_body):
    from test_camera import run_camera, synth_clip
    from vidcli.stages import camera as camera_stage

    from vidcli import backends
    from vidcli.backends import droid
    from vidcli.engine.stage import planned_config

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    assert backends.resolve("camera", "auto")[0] == "embedded"
    write_tiny_droid_checkpoint(tmp_path / "home")
    assert backends.resolve("camera", "auto")[0] == "droid"
    assert planned_config(camera_stage, {"backend": "droid"}).device == "cpu"
    monkeypatch.setattr(droid, "ITERATIONS", 2)  # random weights: the run, not the result, is tested
    torch.manual_seed(0)
    _, _, _, frames, masks = synth_clip(tmp_path, "dolly", 0.4, seed=1)
    info, camera = run_camera(frames, masks, tmp_path / "camera", backend="droid", max_size=128, focal=300.0)
    assert info.backend == "droid" and info.model == "droid" and len(info.checksum) == 64
    assert camera.t_wc.shape[0] == info.counts["frames"] and np.isfinite(camera.t_wc).all()
    assert np.isfinite(camera.R_wc).all() and info.counts["keyframes"] >= 1


def test_a_checkpoint_that_does_not_fit_is_one_clear_error(tmp_path, monkeypatch):
    from vidcli.stages import camera as camera_stage

    from vidcli.backends.droid import DroidCamera
    from vidcli.engine.stage import planned_config
    from vidcli.errors import StageError

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    torch.save({"module.fnet.conv1.weight": torch.zeros(1)}, tmp_path / "checkpoints" / "droid.pth")
    with pytest.raises(StageError, match="does not fit DROID-SLAM's network"):
        DroidCamera(planned_config(camera_stage, {"backend": "droid"}))
