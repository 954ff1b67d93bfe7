"""The full person segmenter: segment-anything's SamPredictor prompted with each tracked person's box.

One image embedding per frame serves everyone in it; of SAM's three candidate masks the one with the
best predicted IoU is kept (the masks stage then makes them disjoint). The checkpoint is loaded as a
plain state dict (`torch.load(weights_only=True)`), never through segment-anything's own loader, which
unpickles. SAM's encoder sees 1024-pixel images; on the CPU it may see `sam_cpu_size` instead, its
position embedding resized (bicubic) to the smaller grid: the global attention's relative positions
are resized by SAM itself, its windows are size-independent.
"""

from __future__ import annotations

import numpy as np

SAM_IMAGE_SIZE = 1024  # what the official checkpoints were trained at
PATCH = 16


class SamSegmenter:
    def __init__(self, config, frames, tracks, track_dir):
        import torch
        from segment_anything import SamPredictor, sam_model_registry

        from vidcli.errors import StageError
        from vidcli.models import registry

        name = f"sam_{config.sam_model}"
        state, self.checksum = registry.load_state_dict(name)
        sam = sam_model_registry[config.sam_model]()
        try:
            sam.load_state_dict(state)
        except RuntimeError as exc:
            raise StageError(f"checkpoint {name} does not fit segment-anything's {config.sam_model}: "
                             f"{str(exc).splitlines()[0]}") from None
        size = SAM_IMAGE_SIZE if config.device == "cuda" else config.sam_cpu_size
        if size != SAM_IMAGE_SIZE:
            _resize_encoder(sam, size, torch)
        self.model = f"{name}@{size}"
        self._frames, self._tracks = frames, tracks
        self._predictor = SamPredictor(sam.to(config.device).eval())

    def masks(self, frame: int, rows: np.ndarray) -> list[np.ndarray]:
        if not len(rows):
            return []
        self._predictor.set_image(self._frames.read(frame))  # RGB
        found = []
        for row in rows:
            masks, scores, _ = self._predictor.predict(box=self._tracks.box[row], multimask_output=True)
            found.append(masks[int(np.argmax(scores))])
        return found


def _resize_encoder(sam, size: int, torch) -> None:
    """SAM made to see `size`-pixel images: the encoder's position embedding resized to the new patch
    grid, and the sizes the predictor and the prompt encoder read."""
    grid = size // PATCH
    encoder = sam.image_encoder
    embedding = encoder.pos_embed.data.permute(0, 3, 1, 2)
    resized = torch.nn.functional.interpolate(embedding, size=(grid, grid), mode="bicubic",
                                              align_corners=False)
    encoder.pos_embed = torch.nn.Parameter(resized.permute(0, 2, 3, 1).contiguous())
    encoder.img_size = size
    sam.prompt_encoder.image_embedding_size = (grid, grid)
    sam.prompt_encoder.input_image_size = (size, size)
