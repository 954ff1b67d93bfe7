"""The full 2D pose estimator: transformers' ViTPose (`VitPoseForPoseEstimation` and its image
processor), top-down on the track boxes: each tracked person's box is cropped and warped to the model's
input, its heatmaps decoded back to frame pixels. The layout follows the model's keypoint count: 17 is
COCO-17, 133 is COCO-WholeBody (feet, face, hands). A ViTPose+ checkpoint (one backbone expert per
training dataset) runs the expert `vitpose_dataset` names (5: COCO-WholeBody). It gives no 3D points
(`world3d` NaN): the body stage then fits to the pixels alone (`vidcli.mocap.fit2d`).
"""

from __future__ import annotations

import numpy as np

LAYOUT_BY_COUNT = {17: "coco17", 133: "wholebody133"}
# keypoints.vitpose_model -> checkpoint
VITPOSE_CHECKPOINTS = {"base_simple": "vitpose_base", "plus_base": "vitpose_plus_base"}


class VitPoseEstimator:
    def __init__(self, config, frames, tracks, track_dir):
        import torch
        from transformers import VitPoseForPoseEstimation, VitPoseImageProcessor

        from vidcli.engine.keys import sha256_of
        from vidcli.errors import StageError
        from vidcli.models import registry

        checkpoint = VITPOSE_CHECKPOINTS[config.vitpose_model]
        folder = registry.checkpoint_path(checkpoint)
        self._network = VitPoseForPoseEstimation.from_pretrained(folder).to(config.device).eval()
        self._processor = VitPoseImageProcessor.from_pretrained(folder)
        count = self._network.config.num_labels
        if count not in LAYOUT_BY_COUNT:
            raise StageError(f"checkpoint {checkpoint} gives {count} keypoints; vidcli reads "
                             f"{' or '.join(map(str, LAYOUT_BY_COUNT))}")
        self.layout = LAYOUT_BY_COUNT[count]
        experts = self._network.config.backbone_config.num_experts
        self._expert = config.vitpose_dataset if experts > 1 else None
        self.model = checkpoint if self._expert is None else f"{checkpoint} (expert {self._expert})"
        self.checksum = sha256_of(folder / "model.safetensors")
        self._torch, self._device = torch, config.device
        self._frames, self._tracks = frames, tracks

    def keypoints(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = self._network.config.num_labels
        points = np.full((len(rows), count, 3), np.nan)
        for frame in np.unique(self._tracks.frame[rows]):
            chosen = np.flatnonzero(self._tracks.frame[rows] == frame)
            boxes = self._tracks.box[rows[chosen]].astype(np.float32)
            coco = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)  # x, y, width, height
            inputs = self._processor(images=self._frames.read(int(frame)), boxes=[coco], return_tensors="pt")
            with self._torch.inference_mode():
                dataset = None if self._expert is None else self._torch.full((len(chosen),), self._expert)
                outputs = self._network(inputs["pixel_values"].to(self._device),
                                        dataset_index=None if dataset is None else dataset.to(self._device))
            people = self._processor.post_process_pose_estimation(outputs, boxes=[coco])[0]
            for index, person in zip(chosen, people):
                points[index, :, :2] = person["keypoints"].cpu().numpy()
                points[index, :, 2] = person["scores"].cpu().numpy().clip(0.0, 1.0)
        return points, np.full(points.shape, np.nan)
