"""The `hmr2` body backend: HMR2.0 regresses SMPL from each box's person crop (`vidcli.body.hmr2_net`), and
the weak-perspective crop camera becomes a camera-frame pelvis through the real intrinsics (as TRAM does).
The regressed bodies are the body artifact, or start the keypoint fit (`refine`)."""

from __future__ import annotations

import itertools

import numpy as np

from vidcli.body.hmr2_net import Hmr2Size
from vidcli.errors import StageError

CHECKPOINT = "hmr2"
BATCH = 16  # crops per forward pass


class Hmr2Regression:
    model = CHECKPOINT
    reads_images = True
    size = Hmr2Size()  # the released architecture (tests load tiny random checkpoints into a smaller one)

    def __init__(self, config, body_model):
        from vidcli.body.hmr2_net import Hmr2

        self.config, self.body_model = config, body_model
        self._network, self.checksum = load_regressor(Hmr2(self.size), CHECKPOINT, config.device)

    def regress(self, images, boxes: np.ndarray):
        """Rotations (F, 24, 3, 3), betas (F, 10) and crop cameras (F, 3) of one box per image, with the
        crops' centres (F, 2) and sides (F,); the images are read BATCH at a time."""
        import torch

        from vidcli.body.person_crop import crop_person

        pairs, batches, centers, sides = zip(images, boxes), [], [], []
        with torch.inference_mode():
            while batch := list(itertools.islice(pairs, BATCH)):
                crops, batch_centers, batch_sides = zip(*(crop_person(image, box) for image, box in batch))
                centers += batch_centers
                sides += batch_sides
                crops = torch.from_numpy(np.stack(crops)).to(self.config.device)
                batches.append([t.double().cpu().numpy() for t in self._network(crops)])
        rotations, betas, cams = (np.concatenate(parts) for parts in zip(*batches))
        return rotations, betas, cams, np.stack(centers), np.array(sides)

    def fit(self, frames: np.ndarray, keypoints2d: np.ndarray, world3d: np.ndarray, K: np.ndarray,
            images, boxes: np.ndarray):
        rotations, betas, cams, centers, sides = self.regress(images, boxes)
        return bodies_to_track(self.body_model, self.config, frames, rotations, betas, cams, centers, sides,
                               keypoints2d, world3d, K)


def load_regressor(network, checkpoint: str, device: str):
    """`network` in eval mode on `device` with the registry checkpoint's weights, loaded strictly (the keys
    that are not the regressor's dropped, `vidcli.body.hmr2_net.NOT_REGRESSOR`), and the checksum. The
    weights sit under `state_dict` (Lightning, HMR2.0), `model` (TRAM) or at the top."""
    from vidcli.body.hmr2_net import regressor_state
    from vidcli.models import registry

    state, checksum = registry.load_state_dict(checkpoint)
    state = state.get("state_dict", state.get("model", state))
    try:
        network.load_state_dict(regressor_state(state), strict=True)
    except RuntimeError as exc:
        first_line = str(exc).splitlines()[0]
        name = type(network).__name__
        raise StageError(f"checkpoint {checkpoint} does not fit {name}: {first_line}") from None
    return network.eval().to(device), checksum


def bodies_to_track(body_model, config, frames, rotations, betas, cams, centers, sides, keypoints2d, world3d,
                    K):
    """The `TrackFit` of regressed SMPL bodies: the track's shape is the median of its frames' betas, each
    pelvis the crop camera's translation (through K) plus that frame's rest pelvis; refined by the keypoint
    fit when `config.refine`."""
    from vidcli.body.person_crop import crop_to_camera
    from vidcli.mocap.fitting import fit_track, posed_track

    translation = crop_to_camera(cams, centers, sides, K)
    root = translation + np.stack([body_model.rest_pelvis(b) for b in betas])
    free = np.median(betas, axis=0)
    if config.refine:
        return fit_track(body_model, frames, keypoints2d, world3d, K, config, start=(free, rotations, root))
    return posed_track(body_model, frames, free, rotations, root, keypoints2d, world3d, K, config)
