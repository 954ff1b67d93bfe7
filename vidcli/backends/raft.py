"""torchvision's RAFT: the full flow backend, with the registry's raft_large checkpoint or a checkpoint
the user trained (`flow.checkpoint`, e.g. a `vidcli train flow` model.safetensors)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli.errors import ConfigError, InputError, StageError
from vidcli.settings import setting

CHECKPOINT = "raft_large"
MIN_SIDE = 128  # torchvision's RAFT needs 1/8-scale features of at least 16 pixels


def to_raft_input(rgb: np.ndarray, device):
    """(1x3xHxW tensor in [-1, 1], (height, width)): an HxWx3 uint8 image padded on the right and bottom
    to what RAFT accepts: multiples of 8, at least MIN_SIDE."""
    import torch

    height, width = rgb.shape[:2]
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
    padding = (0, max(MIN_SIDE - width, -width % 8), 0, max(MIN_SIDE - height, -height % 8))
    image = torch.nn.functional.pad(image, padding, mode="replicate")
    return image.to(device), (height, width)


@dataclass
class RaftSettings:
    """Settings of a stage whose flow may come from RAFT: a checkpoint file instead of the registry's, and
    averaging over mirrored copies of each pair."""

    checkpoint: str = setting("", "RAFT checkpoint file for the raft backend: a `vidcli train flow` "
                                  "model.safetensors or a torchvision RAFT state dict; empty = the "
                                  "registry's raft_large", significant=False)
    checkpoint_sha256: str = setting("", "sha256 of `checkpoint`, filled in when the plan is made (it goes "
                                         "into the artifact key); leave empty")
    mirrored_passes: int = setting(0, "RAFT passes on mirrored copies of each pair, averaged with the plain "
                                      "pass: 1 = left-right, 2 = also upside down, 3 = also both; each costs "
                                      "as much as the plain pass", bounds="[0, 3]")


def resolve_raft_settings(config, backend: str):
    """`config` with the sha256 of its checkpoint file (empty without one); the RAFT settings are refused for
    another backend."""
    from vidcli.engine.keys import sha256_of

    if backend != "raft" and (config.checkpoint or config.mirrored_passes):
        setting_name = "checkpoint" if config.checkpoint else "mirrored_passes"
        raise ConfigError(f"{setting_name} is read by the raft flow backend, not {backend}")
    if not config.checkpoint:
        return replace(config, checkpoint_sha256="")
    path = Path(config.checkpoint).expanduser().absolute()
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    return replace(config, checkpoint=str(path), checkpoint_sha256=sha256_of(path))


MIRRORS = ((3,), (2,), (2, 3))  # the dimensions of an NCHW tensor each mirrored pass flips, in order


def estimate_flow(network, first, second, iterations: int = 12, mirrored_passes: int = 0) -> np.ndarray:
    """HxWx2 flow of a RAFT network on two images prepared by to_raft_input, averaged with `mirrored_passes`
    passes on mirrored copies of the pair (flow mirrored back): the network errs differently on a mirrored
    pair (it is not built symmetric), so the mean cancels part of its error."""
    import torch

    (image1, (height, width)), (image2, _) = first, second
    total = network(image1, image2, num_flow_updates=iterations)[-1]
    for dims in MIRRORS[:mirrored_passes]:
        flow = network(image1.flip(dims), image2.flip(dims), num_flow_updates=iterations)[-1].flip(dims)
        sign = torch.tensor([-1.0 if 3 in dims else 1.0, -1.0 if 2 in dims else 1.0], device=flow.device)
        total = total + flow * sign.view(1, 2, 1, 1)
    estimate = (total / (1 + mirrored_passes))[0, :, :height, :width]
    return estimate.permute(1, 2, 0).float().cpu().numpy()


class RaftFlow:
    def __init__(self, config):
        import torch

        from vidcli.training.raft_recipe import build_network, load_flow_checkpoint

        path = config.checkpoint
        if path:
            architecture, state = load_flow_checkpoint(path)
            self.model, self.checksum = f"{architecture}:{path}", config.checkpoint_sha256
        else:
            from vidcli.models import registry

            architecture = CHECKPOINT
            state, self.checksum = registry.load_state_dict(CHECKPOINT)
            self.model = CHECKPOINT
        network = build_network(architecture)
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            first_line = str(exc).splitlines()[0]
            raise StageError(f"checkpoint {path or CHECKPOINT} does not fit torchvision's {architecture}: "
                             f"{first_line}") from None
        self._torch = torch
        self._device = torch.device(config.device)
        self._network = network.eval().to(self._device)
        self._mirrored_passes = config.mirrored_passes

    def prepare(self, rgb: np.ndarray):
        return to_raft_input(rgb, self._device)

    def flow(self, first, second) -> np.ndarray:
        with self._torch.inference_mode():
            return estimate_flow(self._network, first, second, mirrored_passes=self._mirrored_passes)
