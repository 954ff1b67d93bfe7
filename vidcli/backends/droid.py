"""The full camera backend: DROID-SLAM's network (the official `droid.pth`, `vidcli.slam.droid_net`) finds
the correspondences and their confidence between frames, and vidcli's tracker does the rest as for
the embedded backend: keyframes by motion, the frame graph, vidcli's dense bundle adjustment
(Schur complement, `vidcli.geometry.ba`) in place of DROID's CUDA layer, the final global one, and
the focal options of the camera stage. People get zero confidence, as TRAM masks them.

Difference from DROID-SLAM: its update operator alternates with two bundle-adjustment steps, so that
each iteration sees the residual to the reprojection of the current geometry; here the operator runs
its iterations on a pair of frames alone (each revision becomes the next lookup, the residual input
is zero), and the bundle adjustment runs afterwards on all the graph's correspondences.
"""

from __future__ import annotations

import numpy as np

from vidcli.backends.dense_ba import DenseBundleAdjustment
from vidcli.errors import InputError, StageError

CHECKPOINT = "droid"
ITERATIONS = 8  # update-operator iterations per pair of frames (DROID's frontend runs 8 when it starts)
MOTION_CLAMP = 64.0  # grid pixels, as DROID clamps the motion features
MIN_GRID = 8  # cells per side the 4-level correlation pyramid needs (1/8, 1/16, 1/32, 1/64)


class DroidCorrespondences:
    """The tracker's estimator (`vidcli.slam.tracker._match`): `prepare` a frame once, `match` two."""

    def __init__(self, network, device: str, iterations: int = ITERATIONS):
        import torch

        self._torch, self._device = torch, torch.device(device)
        self.network, self.iterations = network.eval().to(self._device), iterations

    def prepare(self, rgb: np.ndarray):
        """Features, hidden state and context of one RGB frame, cropped to whole grid cells."""
        from vidcli.slam.correspondence import CELL

        rows, columns = rgb.shape[0] // CELL, rgb.shape[1] // CELL
        if min(rows, columns) < MIN_GRID:
            raise InputError(f"the droid camera needs working images of at least {MIN_GRID * CELL} pixels "
                             f"per side; raise camera.max_size")
        image = self._torch.from_numpy(np.ascontiguousarray(rgb[:rows * CELL, :columns * CELL]))
        image = image.permute(2, 0, 1)[None, None].float().to(self._device)
        with self._torch.inference_mode():
            return [part[0, 0] for part in self.network.extract_features(image)]

    def match(self, old, new):
        """((coords, weight) of old -> new, of new -> old) on the grid (cell centres at +0.5, as
        `vidcli.slam.correspondence`), weights zero on people at either end and outside the image."""
        from vidcli.slam.droid_net import CorrelationPyramid

        torch = self._torch
        (old_features, old_net, old_inp), (new_features, new_net, new_inp) = old.prepared, new.prepared
        rows, columns = old_features.shape[-2:]
        with torch.inference_mode():
            pyramid = CorrelationPyramid(torch.stack([old_features, new_features]),
                                         torch.stack([new_features, old_features]))
            net, inp = torch.stack([old_net, new_net])[None], torch.stack([old_inp, new_inp])[None]
            y, x = torch.meshgrid(torch.arange(rows, device=self._device),
                                  torch.arange(columns, device=self._device), indexing="ij")
            start = torch.stack([x, y], -1).float().expand(2, rows, columns, 2)
            coords = start.clone()
            for _ in range(self.iterations):
                motion = torch.cat([coords - start, torch.zeros_like(coords)], -1)
                motion = motion.permute(0, 3, 1, 2).clamp(-MOTION_CLAMP, MOTION_CLAMP)[None]
                net, delta, weight = self.network.update(net, inp, pyramid(coords)[None], motion)
                coords = coords + delta[0]
            confidence = weight[0].mean(-1)
        coords, confidence = coords.cpu().numpy() + 0.5, confidence.float().cpu().numpy()
        pairs = ((old, new), (new, old))
        return tuple(_masked(coords[k], confidence[k], *pairs[k]) for k in range(2))


def _masked(coords: np.ndarray, confidence: np.ndarray, source, target):
    """(P, 2) coords and (P,) weights, zero where the source cell holds a person pixel or the target
    point lies outside the grid or on a person."""
    rows, columns = coords.shape[:2]
    weight = confidence.copy()
    x, y = coords[..., 0], coords[..., 1]
    weight *= (x >= 0) & (x < columns) & (y >= 0) & (y < rows)
    if source.mask is not None:
        weight *= ~_cells(source.mask, rows, columns)
    if target.mask is not None:
        landed = _cells(target.mask, rows, columns)[np.clip(y.astype(int), 0, rows - 1),
                                                     np.clip(x.astype(int), 0, columns - 1)]
        weight *= ~landed
    return coords.reshape(-1, 2).astype(np.float32), weight.reshape(-1).astype(np.float32)


def _cells(mask: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """(rows, columns) bool: cells with any person pixel."""
    from vidcli.slam.correspondence import CELL

    return mask[:rows * CELL, :columns * CELL].reshape(rows, CELL, columns, CELL).any(axis=(1, 3))


class DroidCamera(DenseBundleAdjustment):
    """`DenseBundleAdjustment`'s tracking, with DROID's correspondences instead of optical flow."""

    model = CHECKPOINT

    def __init__(self, config):
        from vidcli.models import registry
        from vidcli.slam.droid_net import DroidNet, load_droid_state

        state, self.checksum = registry.load_state_dict(CHECKPOINT)
        network = DroidNet()
        try:
            network.load_state_dict(load_droid_state(state))
        except RuntimeError as exc:
            first_line = str(exc).splitlines()[0]
            raise StageError(f"checkpoint {CHECKPOINT} does not fit DROID-SLAM's network: "
                             f"{first_line}") from None
        self.config = config
        self.flow = DroidCorrespondences(network, config.device, ITERATIONS)
