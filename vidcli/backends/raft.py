"""torchvision's RAFT (large) with the registry's checkpoint: the full flow backend."""

from __future__ import annotations

import numpy as np

from vidcli.errors import StageError

CHECKPOINT = "raft_large"


class RaftFlow:
    model = CHECKPOINT

    def __init__(self, config):
        import torch
        from torchvision.models.optical_flow import raft_large

        from vidcli.models import registry

        state, self.checksum = registry.load_state_dict(CHECKPOINT)
        network = raft_large(weights=None, progress=False)
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            first_line = str(exc).splitlines()[0]
            raise StageError(f"checkpoint {CHECKPOINT} does not fit torchvision's raft_large: "
                             f"{first_line}") from None
        self._torch = torch
        self._device = torch.device(config.device)
        self._network = network.eval().to(self._device)

    def prepare(self, rgb: np.ndarray):
        """A 1x3xHxW tensor in [-1, 1], padded on the right and bottom to what RAFT accepts:
        multiples of 8, at least 128 (its correlation pyramid halves 1/8-scale features three times)."""
        height, width = rgb.shape[:2]
        image = self._torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
        padding = (0, max(128 - width, -width % 8), 0, max(128 - height, -height % 8))
        image = self._torch.nn.functional.pad(image, padding, mode="replicate")
        return image.to(self._device), (height, width)

    def flow(self, first, second) -> np.ndarray:
        (image1, (height, width)), (image2, _) = first, second
        with self._torch.inference_mode():
            estimate = self._network(image1, image2)[-1][0, :, :height, :width]
        return estimate.permute(1, 2, 0).float().cpu().numpy()
