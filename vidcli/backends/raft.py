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
class TrainedCheckpoint:
    """Settings of a stage whose flow may come from a RAFT checkpoint file instead of the registry's."""

    checkpoint: str = setting("", "RAFT checkpoint file for the raft backend: a `vidcli train flow` "
                                  "model.safetensors or a torchvision RAFT state dict; empty = the "
                                  "registry's raft_large", significant=False)
    checkpoint_sha256: str = setting("", "sha256 of `checkpoint`, filled in when the plan is made (it goes "
                                         "into the artifact key); leave empty")


def with_checkpoint_digest(config, backend: str):
    """`config` with the sha256 of its checkpoint file (empty without one); a checkpoint is for RAFT only."""
    from vidcli.engine.keys import sha256_of

    if not config.checkpoint:
        return replace(config, checkpoint_sha256="")
    if backend != "raft":
        raise ConfigError(f"checkpoint is read by the raft flow backend, not {backend}")
    path = Path(config.checkpoint).expanduser().absolute()
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    return replace(config, checkpoint=str(path), checkpoint_sha256=sha256_of(path))


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

    def prepare(self, rgb: np.ndarray):
        return to_raft_input(rgb, self._device)

    def flow(self, first, second) -> np.ndarray:
        (image1, (height, width)), (image2, _) = first, second
        with self._torch.inference_mode():
            estimate = self._network(image1, image2)[-1][0, :, :height, :width]
        return estimate.permute(1, 2, 0).float().cpu().numpy()
