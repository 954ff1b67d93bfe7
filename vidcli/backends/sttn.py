"""STTN with the authors' released checkpoint: the full inpainting backend (`vidcli.inpaint.sttn`).

As the authors' test script does, frames are resized to 432x240, each group of neighbouring frames
(every 5th frame with 5 on either side) is completed together with reference frames (every 10th
frame of the video; here the `sttn_references` nearest ones, so memory stays bounded), and frames
covered by two groups average their two results. The result is resized back to the video's size
and only its hole pixels are kept.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidcli.errors import StageError
from vidcli.inpaint.sttn import SIZE

CHECKPOINT = "sttn"
NEIGHBOUR_STRIDE = 5
REFERENCE_STEP = 10


class STTNInpainter:
    model = CHECKPOINT

    def __init__(self, config, network=None, size: tuple[int, int] = SIZE):
        """`network` and `size`: a ready generator and the size it works at (tests); else the checkpoint's."""
        import torch

        from vidcli.inpaint.sttn import STTN

        self._torch = torch
        self._device = torch.device(config.device)
        self._references = config.sttn_references
        self._size = size
        self.checksum = None
        if network is None:
            from vidcli.models import registry

            state, self.checksum = registry.load_state_dict(CHECKPOINT)
            network = STTN(masked_attention=config.sttn_masked_attention)
            try:
                network.load_state_dict(state.get("netG", state), strict=True)
            except RuntimeError as exc:
                raise StageError(
                    f"checkpoint {CHECKPOINT} does not fit STTN: {str(exc).splitlines()[0]}"
                ) from None
        self._network = network.eval().to(self._device)
        self._counts = {"groups": 0}

    def counts(self) -> dict:
        return dict(self._counts)

    def inpaint(self, video, write) -> None:
        count = len(video)
        features: dict[int, object] = {}
        small_holes: dict[int, object] = {}
        results: dict[int, np.ndarray] = {}  # small completed frames, float32, until written
        next_to_write = 0
        with self._torch.no_grad():
            for centre in range(0, count, NEIGHBOUR_STRIDE):
                neighbours = list(
                    range(max(0, centre - NEIGHBOUR_STRIDE), min(count, centre + NEIGHBOUR_STRIDE + 1))
                )
                references = self._reference_ids(neighbours, count)
                ids = neighbours + references
                for i in ids:
                    if i not in features:
                        features[i], small_holes[i] = self._encode(video, i)
                batch = self._torch.cat([features[i] for i in ids])
                holes = self._torch.cat([small_holes[i] for i in ids])
                completed = self._network.decode(self._network.complete(batch, holes)[: len(neighbours)])
                pixels = ((completed + 1) / 2 * 255).permute(0, 2, 3, 1).cpu().numpy()
                pixels = pixels.astype(np.uint8).astype(np.float32)  # truncated, as the authors' script does
                self._counts["groups"] += 1
                for i, image in zip(neighbours, pixels):
                    results[i] = image if i not in results else 0.5 * results[i] + 0.5 * image
                done = count if centre + NEIGHBOUR_STRIDE >= count else centre
                while next_to_write < done:
                    write(next_to_write, self._full_size(video, next_to_write, results.pop(next_to_write)))
                    next_to_write += 1
                keep = set(range(centre, centre + 2 * NEIGHBOUR_STRIDE + 1)) | set(references)
                for i in [i for i in features if i not in keep]:
                    del features[i], small_holes[i]

    def _reference_ids(self, neighbours: list[int], count: int) -> list[int]:
        """Every 10th frame outside the neighbours, the `sttn_references` nearest to them."""
        centre = (neighbours[0] + neighbours[-1]) / 2
        candidates = [i for i in range(0, count, REFERENCE_STEP) if i not in neighbours]
        return sorted(sorted(candidates, key=lambda i: abs(i - centre))[: self._references])

    def _encode(self, video, i: int):
        torch = self._torch
        frame = cv2.resize(video.frame(i), self._size, interpolation=cv2.INTER_AREA)
        hole = cv2.resize(video.hole(i).astype(np.uint8), self._size, interpolation=cv2.INTER_NEAREST)
        image = torch.from_numpy(frame).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self._device)
        mask = torch.from_numpy(hole)[None, None].float().to(self._device)
        return self._network.encode(image, mask), mask

    def _full_size(self, video, i: int, small: np.ndarray) -> np.ndarray:
        """The completed frame at the video's size (the stage keeps only its hole pixels)."""
        width, height = video.size
        frame = video.frame(i)
        filled = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        hole = video.hole(i)
        frame[hole] = np.clip(np.rint(filled[hole]), 0, 255).astype(np.uint8)
        return frame
