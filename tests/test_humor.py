"""HuMoR's CVAE in plain torch: the official checkpoint's keys, and outputs of the official networks
(tests/data/humor/goldens.json says how they were made) reproduced within 1e-4."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

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
