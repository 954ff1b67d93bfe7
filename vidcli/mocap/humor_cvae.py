"""HuMoR's CVAE motion prior (Rempe et al. 2021) in plain torch, with the parameter names of the official
checkpoint (`checkpoints/humor/best_model.pth`, its `model` entry; `load_humor_state` applies the
official loader's renaming), and the prior term that HuMoR's and SLAHMR's test-time optimisation put on a
motion.

The state of one frame is HuMoR's `smpl+joints+contacts` input (339 numbers, in the order of
`STATE_LAYOUT`): root translation and its velocity, root orientation (a rotation matrix, row-major) and
its angular velocity, the 21 SMPL+H body joint rotations (matrices), and the 22 body joints' positions
and velocities. The decoder also predicts the contact probabilities of the 9 joints of `CONTACT_JOINTS`.
tests/data/humor/ holds goldens of the official networks reproduced within 1e-4.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

LATENT = 48
# (name, size) of a state's parts, as HuMoR's data_name_list/data_dim give them for smpl+joints+contacts
STATE_LAYOUT = (("trans", 3), ("trans_vel", 3), ("root_orient", 9), ("root_orient_vel", 3),
                ("pose_body", 21 * 9), ("joints", 22 * 3), ("joints_vel", 22 * 3))
STATE_SIZE = sum(size for _, size in STATE_LAYOUT)  # 339
# decoder output: the state's parts with axis-angle rotations (207 numbers), then 9 contact logits
OUTPUT_SIZE = 3 + 3 + 3 + 3 + 21 * 3 + 66 + 66 + 9
CONTACT_JOINTS = ("hips", "leftLeg", "rightLeg", "leftFoot", "rightFoot", "leftToeBase", "rightToeBase",
                  "leftHand", "rightHand")  # SMPL joint names, in HuMoR's CONTACT_ORDERING
IGNORED_KEYS = ("male_bm", "female_bm", "neutral_bm")  # SMPL+H body models the official saver drops


class GroupNormMLP(nn.Module):
    """HuMoR's MLP: Linear, then (GroupNorm(16), ReLU, Linear) per further layer; with `skip`, the input's
    features from index `skip` on (the latent) are concatenated to the input of every later Linear."""

    def __init__(self, sizes: tuple[int, ...], skip: int | None = None):
        super().__init__()
        extra = 0 if skip is None else sizes[0] - skip
        layers: list[nn.Module] = [nn.Linear(sizes[0], sizes[1])]
        for previous, size in pairwise(sizes[1:]):
            layers += [nn.GroupNorm(16, previous), nn.ReLU(), nn.Linear(previous + extra, size)]
        self.net = nn.ModuleList(layers)
        self.skip = skip

    def forward(self, x):
        tail = None if self.skip is None else x[:, self.skip:]
        for index, layer in enumerate(self.net):
            if tail is not None and index > 0 and isinstance(layer, nn.Linear):
                x = torch.cat([x, tail], dim=1)
            x = layer(x)
        return x


class HumorCVAE(nn.Module):
    """Encoder q(z | previous, current), conditional prior p(z | previous), decoder (previous, z) ->
    change of the state."""

    def __init__(self):
        super().__init__()
        self.encoder = GroupNormMLP((2 * STATE_SIZE, 1024, 1024, 1024, 1024, 2 * LATENT))
        self.decoder = GroupNormMLP((STATE_SIZE + LATENT, 1024, 1024, 512, OUTPUT_SIZE), skip=STATE_SIZE)
        self.prior_net = GroupNormMLP((STATE_SIZE, 1024, 1024, 1024, 1024, 2 * LATENT))

    @staticmethod
    def _gaussian(out):
        return out[:, :LATENT], torch.exp(out[:, LATENT:])  # mean, variance (the nets give log-variance)

    def posterior(self, previous, current):
        return self._gaussian(self.encoder(torch.cat([previous, current], dim=1)))

    def prior(self, previous):
        return self._gaussian(self.prior_net(previous))

    def decode(self, z, previous):
        """The decoder's raw output (B, 216): changes of the state's parts (axis-angle rotations) and the
        9 contact logits."""
        return self.decoder(torch.cat([previous, z], dim=1))

    def transition_energy(self, previous, current):
        """(B,) negative log-likelihood, under the conditional prior, of the latent transition that the
        encoder finds between consecutive states (its mean), as HuMoR's `motion_prior_loss` sums it over
        the latent; and the decoder's (B, 9) contact probabilities for the current frame. The states may
        be float64 (the world stage's); the networks run in float32."""
        previous, current = previous.float(), current.float()
        mean, _ = self.posterior(previous, current)
        prior_mean, prior_var = self.prior(previous)
        energy = 0.5 * (((mean - prior_mean) ** 2) / prior_var + torch.log(prior_var)
                        + math.log(2 * math.pi)).sum(dim=1)
        contacts = torch.sigmoid(self.decode(mean, previous)[:, -len(CONTACT_JOINTS):])
        return energy, contacts


def load_humor_state(checkpoint: dict) -> dict:
    """The official `load_state`: the `model` entry, a leading `module.` removed, body-model keys dropped."""
    state = checkpoint.get("model", checkpoint)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    return {key: value for key, value in state.items() if key.split(".")[0] not in IGNORED_KEYS}
