"""The `vimo` body backend: TRAM's VIMO regresses SMPL from 16-frame windows of a track's crops
(`vidcli.body.vimo_net`), sliding one frame at a time as TRAM's inference does; each frame's image
tokens are computed once. Runs of fewer than 16 consecutive frames are not estimated (as in TRAM)."""

from __future__ import annotations

import numpy as np

from vidcli.backends.hmr2_regression import bodies_to_track, load_regressor
from vidcli.body.vimo_net import WINDOW, VimoSize

CHECKPOINT = "vimo"


class VimoRegression:
    model = CHECKPOINT
    reads_images = True
    size = VimoSize()  # the released architecture (tests load tiny random checkpoints into a smaller one)

    def __init__(self, config, body_model):
        from vidcli.body.vimo_net import Vimo

        self.config, self.body_model = config, body_model
        self._network, self.checksum = load_regressor(Vimo(self.size), CHECKPOINT, config.device)

    def regress(self, crops: np.ndarray, centers: np.ndarray, sides: np.ndarray, K: np.ndarray):
        """Rotations (F, 24, 3, 3), betas (F, 10) and crop cameras (F, 3) of F >= 16 consecutive frames'
        normalised crops (F, 3, 256, 256) with their centres (F, 2) and sides (F,)."""
        import torch

        from vidcli.body.vimo_net import box_features, window_outputs

        device = self.config.device
        focal = float((K[0, 0] + K[1, 1]) / 2)
        boxes = box_features(torch.from_numpy(centers).float(), torch.from_numpy(sides).float(), focal,
                             (float(K[0, 2]), float(K[1, 2]))).to(device)
        outputs = [np.zeros((len(crops), 24, 3, 3)), np.zeros((len(crops), 10)), np.zeros((len(crops), 3))]
        with torch.inference_mode():
            tokens = torch.cat([self._network.features(torch.from_numpy(batch).to(device))
                                for batch in np.split(crops, range(WINDOW, len(crops), WINDOW))])
            for start, part in window_outputs(len(crops)):
                window = slice(start, start + WINDOW)
                estimates = self._network(tokens[None, window], boxes[None, window])
                rows = np.arange(start, start + WINDOW)[part]
                for output, estimate in zip(outputs, estimates):
                    output[rows] = estimate[0, part].double().cpu().numpy()
        return outputs

    def fit(self, frames: np.ndarray, keypoints2d: np.ndarray, world3d: np.ndarray, K: np.ndarray,
            images, boxes: np.ndarray):
        from vidcli.body.person_crop import crop_track_box, normalise

        runs = consecutive_runs(frames)
        keep = np.concatenate([run for run in runs if len(run) >= WINDOW] or [np.zeros(0, int)])
        if not len(keep):
            return None
        wanted = set(keep.tolist())
        crops, centers, sides = [], [], []
        for row, (image, box) in enumerate(zip(images, boxes)):
            if row in wanted:
                crop, center, side = crop_track_box(image, box)
                crops.append(normalise(crop))
                centers.append(center)
                sides.append(side)
        crops, centers, sides = np.stack(crops), np.stack(centers), np.array(sides)
        estimates = [np.zeros((len(keep),) + shape) for shape in ((24, 3, 3), (10,), (3,))]
        offset = 0
        for run in (run for run in runs if len(run) >= WINDOW):
            part = slice(offset, offset + len(run))
            for estimate, values in zip(estimates, self.regress(crops[part], centers[part], sides[part], K)):
                estimate[part] = values
            offset += len(run)
        rotations, betas, cams = estimates
        return bodies_to_track(self.body_model, self.config, frames[keep], rotations, betas, cams, centers,
                               sides, keypoints2d[keep], world3d[keep], K)


def consecutive_runs(frames: np.ndarray) -> list[np.ndarray]:
    """Row indices of each run of consecutive frame numbers (TRAM's `parse_chunks`)."""
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    return np.split(np.arange(len(frames)), breaks)
