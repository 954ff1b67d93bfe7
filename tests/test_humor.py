"""HuMoR's CVAE in plain torch: the official checkpoint's keys, and outputs of the official networks
(tests/data/humor/goldens.json says how they were made) reproduced within 1e-4."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from test_body_world import walk  # noqa: F401  (the fixture: one walker and its body fit)

from vidcli.mocap.humor_cvae import HumorCVAE, load_humor_state

DATA = Path(__file__).parent / "data" / "humor"


@pytest.fixture(scope="module")
def goldens():
    from safetensors.torch import load_file

    return load_file(DATA / "goldens.safetensors")


@pytest.fixture(scope="module")
def cvae():
    """The goldens' weights: each entry drawn from a generator seeded by the crc32 of its name."""
    model = HumorCVAE().eval()
    state = {}
    for key, value in model.state_dict().items():
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        std = 0.1 if value.dim() == 1 else 1.0 / np.sqrt(np.prod(value.shape[1:]))
        state[key] = torch.from_numpy((rng.standard_normal(tuple(value.shape)) * std).astype(np.float32))
    model.load_state_dict(state)
    return model


def test_keys_and_shapes_match_the_official_checkpoint():
    manifest = json.loads((DATA / "manifest.json").read_text())
    with torch.device("meta"):
        state = HumorCVAE().state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == manifest["keys"]
    assert sum(v.numel() for v in state.values()) == manifest["num_params"] == 9_725_976


def test_loader_takes_the_model_entry_without_prefix_or_body_models():
    with torch.device("meta"):
        state = HumorCVAE().state_dict()
    saved = {"model": {**{f"module.{k}": torch.zeros(v.shape) for k, v in state.items()},
                       "module.male_bm.shapedirs": torch.zeros(3)}, "epoch": 7}
    HumorCVAE().load_state_dict(load_humor_state(saved), strict=True)


def test_networks_reproduce_the_official_outputs(cvae, goldens):
    past, current = goldens["past"], goldens["current"]
    with torch.no_grad():
        mean, var = cvae.posterior(past, current)
        prior_mean, prior_var = cvae.prior(past)
        decoded = cvae.decode(mean, past)
    for name, ours in (("posterior_mean", mean), ("posterior_var", var), ("prior_mean", prior_mean),
                       ("prior_var", prior_var), ("decoder_out", decoded)):
        torch.testing.assert_close(ours, goldens[name], atol=1e-4, rtol=1e-5)
    assert goldens["decoder_out"].std() > 0.05 and goldens["posterior_mean"].std() > 0.05


def test_transition_energy_is_the_prior_negative_log_likelihood_of_the_posterior_mean(cvae, goldens):
    with torch.no_grad():
        energy, contacts = cvae.transition_energy(goldens["past"], goldens["current"])
    prior = torch.distributions.Normal(goldens["prior_mean"], goldens["prior_var"].sqrt())
    expected = -prior.log_prob(goldens["posterior_mean"]).sum(dim=1)
    torch.testing.assert_close(energy, expected, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(contacts, torch.sigmoid(goldens["decoder_out"][:, -9:]), atol=1e-4, rtol=0)


# ----- the world stage's prior -----


def test_states_of_a_body_walking_sideways_in_humors_aligned_frame():
    """Pelvis 0.9 m up, moving along +x at 1.5 m/s at 30 fps, root rotation identity (its x axis, the
    body's left, along +x): HuMoR's aligned frame turns the body's right (-x) to +x, so the motion is
    along -x there, and the pelvis starts above the origin."""
    from vidcli.backends.humor_prior import humor_pairs

    frames, fps, speed = 4, 30.0, 1.5
    root = torch.tensor([[speed * f / fps, 0.9, 0.0] for f in range(frames)], dtype=torch.float64)
    joints = root[:, None] + torch.zeros(frames, 24, 3, dtype=torch.float64)
    joints[:, 1] += torch.tensor([0.1, -0.1, 0.0], dtype=torch.float64)  # left hip: +x, down
    local = torch.eye(3, dtype=torch.float64).expand(frames, 24, 3, 3)
    previous, current = humor_pairs(root, joints, local, fps)
    assert previous.shape == current.shape == (frames - 1, 339)
    def rows(values):
        return torch.tensor(values, dtype=torch.float64).expand(frames - 1, -1)

    torch.testing.assert_close(previous[:, 0:3], rows([0.0, 0.0, 0.9]), atol=1e-6, rtol=0)
    torch.testing.assert_close(current[:, 0:3], rows([-0.05, 0.0, 0.9]), atol=1e-6, rtol=0)
    torch.testing.assert_close(current[:, 3:6], rows([-1.5, 0.0, 0.0]), atol=1e-5, rtol=0)
    # root orientation: the y-up world turned to z-up, then turned half round about z
    expected = torch.tensor([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]).flatten()
    torch.testing.assert_close(previous[0, 6:15], expected.double(), atol=1e-6, rtol=0)
    assert torch.all(previous[:, 15:18] == 0)
    assert torch.all(previous[:, 18:207] == torch.eye(3, dtype=torch.float64).flatten().repeat(21))
    # left hip 0.1 m to the body's left (-x aligned) and 0.1 m down (z)
    hip = torch.tensor([-0.1, 0.0, 0.8], dtype=torch.float64)
    torch.testing.assert_close(previous[0, 210:213], hip, atol=1e-6, rtol=0)


def write_tiny_humor_checkpoint(home: Path) -> None:
    """A randomly initialised checkpoint laid out as the official one: {'model', 'optim', 'epoch'}."""
    state = {f"module.{k}": v * 0.1 for k, v in HumorCVAE().state_dict().items()}
    (home / "checkpoints").mkdir(parents=True)
    torch.save({"model": state, "optim": {}, "epoch": 1}, home / "checkpoints" / "humor_best_model.pth")


def test_prior_energy_has_finite_gradients_and_ignores_broken_pairs(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from vidcli import backends

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    assert backends.resolve("prior", "auto")[0] == "embedded"
    torch.manual_seed(0)
    write_tiny_humor_checkpoint(tmp_path)
    assert backends.resolve("prior", "auto")[0] == "humor"
    prior = backends.get("prior", "humor").build(SimpleNamespace(smooth=1.0), 30.0)
    assert prior.model == "humor" and len(prior.checksum) == 64
    frames = 6
    root = torch.randn(frames, 3, dtype=torch.float64, requires_grad=True)
    joints = torch.randn(frames, 24, 3, dtype=torch.float64, requires_grad=True)
    local = torch.linalg.qr(torch.randn(frames, 24, 3, 3, dtype=torch.float64))[0].requires_grad_(True)
    everything = prior.energy(root, joints, torch.ones(frames - 1, dtype=torch.bool), local)
    everything.backward()
    assert torch.isfinite(root.grad).all() and root.grad.abs().sum() > 0
    assert torch.isfinite(local.grad).all() and local.grad.abs().sum() > 0
    broken = torch.ones(frames - 1, dtype=torch.bool)
    broken[2] = False
    with torch.no_grad():
        energies, _ = prior.network.transition_energy(*prior_pairs(root, joints, local))
        partial = prior.energy(root, joints, broken, local)
    torch.testing.assert_close(partial, everything.detach() - energies[2].double(), atol=1e-3, rtol=1e-5)
    _, probability = prior.network.transition_energy(*prior_pairs(root, joints, local))
    contacts = prior.contacts(root, joints, local)
    assert contacts.shape == (frames, 2, 2) and contacts.dtype == bool
    left_toe, right_heel = probability[:, 5].detach().numpy() > 0.5, probability[:, 4].detach().numpy() > 0.5
    np.testing.assert_array_equal(contacts[1:, 0, 1], left_toe)
    np.testing.assert_array_equal(contacts[1:, 1, 0], right_heel)
    np.testing.assert_array_equal(contacts[0], contacts[1])


def prior_pairs(root, joints, local):
    from vidcli.backends.humor_prior import humor_pairs

    return humor_pairs(root, joints, local, 30.0)


@pytest.mark.slow  # a body fit and two world optimisations on the CPU
def test_world_stage_runs_with_the_humor_prior_from_a_tiny_checkpoint(walk, tmp_path,  # noqa: F811
                                                                    monkeypatch):
    from test_body_world import EXACT_WORLD, run_stage

    from vidcli.io.motion import read_motion

    _, gt, body_dir = walk
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    write_tiny_humor_checkpoint(tmp_path / "home")
    world = run_stage("world", {"body": body_dir, "scale": gt, "keypoints": gt}, tmp_path / "world",
                      backend="humor", iterations=5, **EXACT_WORLD)
    motion = read_motion(world / "motion.npz")
    assert np.isfinite(motion.joints_world).all()
    report = json.loads((world / "world.json").read_text())
    assert "prior" in json.dumps(report)



def test_checkpoints_behind_a_page_or_in_an_archive_are_placed_by_hand(tmp_path, monkeypatch):
    from vidcli.errors import StageError
    from vidcli.models import registry

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    for name, where in (("humor", "checkpoints.zip"), ("droid", "drive.google.com")):
        with pytest.raises(StageError, match=f"cannot be downloaded automatically: get it from .*{where}"):
            registry.download(name)
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())
