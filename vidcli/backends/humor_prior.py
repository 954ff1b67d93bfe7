"""The full motion prior: HuMoR's CVAE (`vidcli.mocap.humor_cvae`, the official checkpoint) scores each
pair of consecutive frames by the negative log-likelihood, under its conditional prior, of the latent
transition its encoder finds between them, as HuMoR's and SLAHMR's optimisations do.

The body moves on the shared SMPL-24 skeleton, so HuMoR's state is read off it directly: the pelvis
path stands for SMPL+H's translation (they differ by a shape-dependent offset, which HuMoR's velocities
do not see), joint 0's rotation for the root orientation, joints 1-21's local rotations for the body
pose and joints 0-21 for the joints. Lost with Anny: SMPL+H's hands (SMPL-24's hand joints 22-23 are
not in the state), and the exact SMPL+H rest pose, whose bone directions the local rotations assume.
Velocities are backward differences times the video's frame rate (HuMoR was trained at 30 fps;
other rates are not resampled). Each pair is expressed in the frame HuMoR aligns the earlier state to:
z up, the body's right along +x, the pelvis above the origin.
"""

from __future__ import annotations

import numpy as np
import torch

from vidcli.errors import StageError

CHECKPOINT = "humor"
# vidcli's world is y-up; HuMoR's is z-up: (x, y, z) -> (x, -z, y)
Y_UP_TO_Z_UP = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))
BODY_JOINTS = 22  # SMPL joints 0-21: SMPL+H's body
# indices in HuMoR's CONTACT_ORDERING of (left ankle, left toe, right ankle, right toe): the world
# stage's (left/right foot, heel/toe) contacts
FOOT_CONTACTS = (3, 5, 4, 6)


class HumorPrior:
    model = CHECKPOINT

    def __init__(self, config, fps: float):
        from vidcli.mocap.humor_cvae import HumorCVAE, load_humor_state
        from vidcli.models import registry

        state, self.checksum = registry.load_state_dict(CHECKPOINT)
        network = HumorCVAE()
        try:
            network.load_state_dict(load_humor_state(state))
        except RuntimeError as exc:
            first_line = str(exc).splitlines()[0]
            raise StageError(f"checkpoint {CHECKPOINT} does not fit HuMoR's CVAE: {first_line}") from None
        self.network = network.eval().requires_grad_(False)
        self.weight, self.fps = config.smooth, fps

    @classmethod
    def with_network(cls, network, config, fps: float, model: str):
        """The same term with another transition model (`transition_energy(previous, current)` giving
        (energy, contact probabilities or None)), e.g. a stand-in fitted without HuMoR's weights."""
        prior = cls.__new__(cls)
        prior.network, prior.weight, prior.fps = network, config.smooth, fps
        prior.model, prior.checksum = model, None
        return prior

    def energy(self, root, joints, consecutive, local=None):
        energy, _ = self.network.transition_energy(*humor_pairs(root, joints, local, self.fps))
        return self.weight * (energy.to(root.dtype) * consecutive.to(root.dtype)).sum()

    def contacts(self, root, joints, local):
        """HuMoR's decoder's contacts (probability over 1/2) of the ankles (heels) and toes: frame t's from
        the transition t-1 -> t, frame 0's from the first transition."""
        with torch.no_grad():
            _, probability = self.network.transition_energy(*humor_pairs(root, joints, local, self.fps))
        if probability is None:
            return None
        feet = (probability[:, list(FOOT_CONTACTS)] > 0.5).numpy().reshape(-1, 2, 2)
        return np.concatenate([feet[:1], feet])


def humor_pairs(root, joints, local, fps: float):
    """(previous, current) HuMoR states (F - 1, 339) of each pair of frames, both in the frame aligned to
    the earlier one. `root` (F, 3), `joints` (F, 24, 3) y-up world, `local` (F, 24, 3, 3) local rotations
    (joint 0's is the root orientation in the world)."""
    turn = root.new_tensor(Y_UP_TO_Z_UP)
    trans = root @ turn.T
    points = joints[:, :BODY_JOINTS] @ turn.T
    orient = turn @ local[:, 0]
    trans_vel = _velocity(trans, fps)
    joints_vel = _velocity(points, fps)
    spin = _angular_velocity(orient, fps)
    align, offset = _aligned_frame(orient[:-1], trans[:-1])
    states = []
    for index in (slice(None, -1), slice(1, None)):  # previous, current
        parts = [torch.einsum("fij,fj->fi", align, trans[index] - offset),
                 torch.einsum("fij,fj->fi", align, trans_vel[index]),
                 (align @ orient[index]).flatten(1),
                 torch.einsum("fij,fj->fi", align, spin[index]),
                 local[index, 1:BODY_JOINTS].flatten(1),
                 torch.einsum("fij,fkj->fki", align, points[index] - offset[:, None]).flatten(1),
                 torch.einsum("fij,fkj->fki", align, joints_vel[index]).flatten(1)]
        states.append(torch.cat(parts, dim=1))
    return states


def _velocity(values, fps: float):
    """Backward differences times the frame rate; the first frame takes the second's."""
    step = (values[1:] - values[:-1]) * fps
    return torch.cat([step[:1], step])


def _angular_velocity(rotations, fps: float):
    """World-frame angular velocities (F, 3): the skew part of R_t R_{t-1}^T (exact to third order in
    the per-frame angle) times the frame rate; the first frame takes the second's."""
    relative = rotations[1:] @ rotations[:-1].mT
    skew = 0.5 * (relative - relative.mT)
    step = torch.stack([skew[:, 2, 1], skew[:, 0, 2], skew[:, 1, 0]], dim=1) * fps
    return torch.cat([step[:1], step])


def _aligned_frame(orient, trans):
    """HuMoR's world-to-aligned rotation (F, 3, 3) about z, taking the body's right (minus the root's x
    axis, which points left) to +x, and the offset (F, 3) that puts the pelvis above the origin."""
    right = -orient[:, :, 0]
    angle = torch.atan2(right[:, 1], right[:, 0])
    cos, sin, zero, one = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle), torch.ones_like(angle)
    align = torch.stack([torch.stack([cos, sin, zero], -1), torch.stack([-sin, cos, zero], -1),
                         torch.stack([zero, zero, one], -1)], -2)
    return align, torch.cat([trans[:, :2], torch.zeros_like(trans[:, 2:])], dim=1)
