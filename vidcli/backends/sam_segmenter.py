"""The full person segmenter: segment-anything's SamPredictor prompted with each tracked person's box
and, where the keypoints stage ran first (`masks.sam_points`), points: positive at the person's body
keypoints scored at least `point_score`, negative at other people's inside the box (so that SAM does not
take the person in front for the one behind). Face and hand points are left out: dozens of points on a
few pixels say no more than one.

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
    def __init__(self, config, frames, tracks, track_dir, keypoints=None):
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
        self._points = _body_points(tracks, keypoints, config.point_score) if config.sam_points else None
        self._predictor = SamPredictor(sam.to(config.device).eval())

    def masks(self, frame: int, rows: np.ndarray) -> list[np.ndarray]:
        if not len(rows):
            return []
        self._predictor.set_image(self._frames.read(frame))  # RGB
        found = []
        for row in rows:
            coords, labels = self._prompt_points(row, rows)
            masks, scores, _ = self._predictor.predict(point_coords=coords, point_labels=labels,
                                                       box=self._tracks.box[row], multimask_output=True)
            found.append(masks[int(np.argmax(scores))])
        return found

    def _prompt_points(self, row: int, rows: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(N, 2) pixels and (N,) labels: the row's confident points (1), the other rows' inside its box
        (0); (None, None) where there are none."""
        if self._points is None:
            return None, None
        x0, y0, x1, y1 = self._tracks.box[row]
        coords, labels = [self._points[row]], [np.ones(len(self._points[row]), int)]
        for other in rows[rows != row]:
            points = self._points[other]
            inside = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
            coords.append(points[inside])
            labels.append(np.zeros(int(inside.sum()), int))
        coords, labels = np.concatenate(coords), np.concatenate(labels)
        return (coords, labels) if len(coords) else (None, None)


def _body_points(tracks, keypoints, min_score: float) -> list[np.ndarray] | None:
    """Per track row, the (N, 2) pixels of its body keypoints (not face or hands) scored at least
    `min_score`, matched by frame and track id; None without keypoints."""
    if keypoints is None:
        return None
    from vidcli.body.skeletons import layout_names

    body = np.array([not name.startswith(("face_", "hand_", "left_hand_", "right_hand_"))
                     for name in layout_names(keypoints.layout)])
    where = {(int(f), int(t)): i for i, (f, t) in enumerate(zip(keypoints.frame, keypoints.track_id))}
    points = []
    for frame, track_id in zip(tracks.frame, tracks.track_id):
        index = where.get((int(frame), int(track_id)))
        if index is None:
            points.append(np.zeros((0, 2)))
            continue
        row = keypoints.keypoints2d[index]
        confident = body & np.isfinite(row).all(-1) & (np.nan_to_num(row[:, 2]) >= min_score)
        points.append(row[confident, :2])
    return points


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
