"""The `vimo` body backend: TRAM's VIMO regresses SMPL from 16-frame windows of a track's crops
(`vidcli.body.vimo_net`), sliding one frame at a time as TRAM's inference does; each frame's image
tokens are computed once, 16 crops at a time. Runs of fewer than 16 consecutive frames are not
estimated (as in TRAM)."""

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

    def features(self, crops: np.ndarray):
        """The image tokens (F, 192, dim), on the network's device, of normalised crops (F, 3, 256, 256)."""
        import torch

        with torch.inference_mode():
            return self._network.features(torch.from_numpy(crops).to(self.config.device))

    def regress(self, tokens, centers: np.ndarray, sides: np.ndarray, K: np.ndarray):
        """Rotations (F, 24, 3, 3), betas (F, 10) and crop cameras (F, 3) of F >= 16 consecutive frames'
        image tokens with their crops' centres (F, 2) and sides (F,)."""
        import torch

        from vidcli.body.vimo_net import box_features, window_outputs

        focal = float((K[0, 0] + K[1, 1]) / 2)
        boxes = box_features(torch.from_numpy(centers).float(), torch.from_numpy(sides).float(), focal,
                             (float(K[0, 2]), float(K[1, 2]))).to(self.config.device)
        outputs = [np.zeros((len(tokens), 24, 3, 3)), np.zeros((len(tokens), 10)), np.zeros((len(tokens), 3))]
        with torch.inference_mode():
            for start, part in window_outputs(len(tokens)):
                window = slice(start, start + WINDOW)
                estimates = self._network(tokens[None, window], boxes[None, window])
                rows = np.arange(start, start + WINDOW)[part]
                for output, estimate in zip(outputs, estimates):
                    output[rows] = estimate[0, part].double().cpu().numpy()
        return outputs

    def fit(self, frames: np.ndarray, keypoints2d: np.ndarray, world3d: np.ndarray, K: np.ndarray,
            images, boxes: np.ndarray):
        import torch

        from vidcli.body.person_crop import crop_track_box, normalise

        runs = [run for run in consecutive_runs(frames) if len(run) >= WINDOW]
        if not runs:
            return None
        keep = np.concatenate(runs)
        wanted = set(keep.tolist())
        pending, tokens, centers, sides = [], [], [], []
        for row, (image, box) in enumerate(zip(images, boxes)):  # tokens WINDOW crops at a time
            if row in wanted:
                crop, center, side = crop_track_box(image, box)
                pending.append(normalise(crop))
                centers.append(center)
                sides.append(side)
            if len(pending) == WINDOW or (pending and row == len(frames) - 1):
                tokens.append(self.features(np.stack(pending)))
                pending = []
        tokens, centers, sides = torch.cat(tokens), np.stack(centers), np.array(sides)
        estimates = [np.zeros((len(keep),) + shape) for shape in ((24, 3, 3), (10,), (3,))]
        offset = 0
        for run in runs:
            part = slice(offset, offset + len(run))
            for estimate, values in zip(estimates, self.regress(tokens[part], centers[part], sides[part], K)):
                estimate[part] = values
            offset += len(run)
        rotations, betas, cams = estimates
        return bodies_to_track(self.body_model, self.config, frames[keep], rotations, betas, cams, centers,
                               sides, keypoints2d[keep], world3d[keep], K)


def consecutive_runs(frames: np.ndarray) -> list[np.ndarray]:
    """Row indices of each run of consecutive frame numbers (TRAM's `parse_chunks`)."""
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    return np.split(np.arange(len(frames)), breaks)
