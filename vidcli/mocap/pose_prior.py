"""The pose prior of the 2D-only body fit: where joints usually turn, and how far they can.

Pixels alone leave each limb's depth open (a forearm pointing 30 degrees towards or away from the
camera projects alike), so the fit needs to know which poses people take. The prior is, per SMPL-24
joint below the pelvis, a Gaussian over its local rotation vector (relative to Anny's rest pose) and
per-axis limits a little beyond the range seen. It is fitted to CMU motion capture retargeted onto the
average Anny body exactly as `vidcli synth` drives its people (`vidcli.body.retarget`), and shipped as
`data/pose_prior.npz`: derived numbers only (means, precisions, limits, and the sources' names and
sha256), no motion. Rebuild it with `python -m vidcli.mocap.pose_prior OUT.npz BVH...`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidcli.body.skeletons import SMPL_24, SMPL_24_PARENTS

PRIOR_FILE = Path(__file__).with_name("data") / "pose_prior.npz"
FIT_FPS = 30.0  # motions are resampled to this rate so a long clip at 120 fps does not outweigh others
VARIANCE_FLOOR = 0.05**2  # rad^2 added to each variance: no axis is ever treated as locked
LIMIT_QUANTILES = (0.005, 0.995)
LIMIT_MARGIN = 0.25  # rad beyond the quantiles where the limit penalty starts
LIMIT_SIGMA = 0.1  # rad past a limit costing as much as one unit of prior


@dataclass(frozen=True)
class PosePrior:
    """`mean` (23, 3), `precision` (23, 3, 3) and limits `lower`, `upper` (23, 3) of the local rotation
    vectors of SMPL-24 joints 1-23; `sources`: the motions it was fitted to (name, frames, sha256)."""

    mean: np.ndarray
    precision: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    sources: tuple = ()

    def energy(self, rotvec: torch.Tensor) -> torch.Tensor:
        """Per-frame cost (F,) of local rotation vectors (F, 23, 3): half the squared Mahalanobis distance
        summed over joints, plus the squared excess beyond the limits in units of LIMIT_SIGMA."""
        centred = rotvec - torch.from_numpy(self.mean)
        mahalanobis = torch.einsum("fja,jab,fjb->f", centred, torch.from_numpy(self.precision), centred)
        excess = torch.relu(rotvec - torch.from_numpy(self.upper)) + torch.relu(torch.from_numpy(self.lower)
                                                                                 - rotvec)
        return 0.5 * mahalanobis + (excess**2).sum((-1, -2)) / LIMIT_SIGMA**2

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean, precision=self.precision, lower=self.lower, upper=self.upper,
                 sources=np.array(json.dumps(self.sources)))


def load_pose_prior(path: Path = PRIOR_FILE) -> PosePrior:
    with np.load(path) as data:
        return PosePrior(data["mean"], data["precision"], data["lower"], data["upper"],
                         tuple(tuple(source) for source in json.loads(str(data["sources"]))))


def motion_rotvecs(motion) -> np.ndarray:
    """Local rotation vectors (F, 23, 3) of SMPL-24 joints 1-23 of a CMU-skeleton `vidcli.bvh.Motion`
    retargeted onto the average Anny body, resampled to FIT_FPS."""
    from vidcli.body.anny_model import Phenotype, load_body
    from vidcli.body.kinematics import matrix_to_axis_angle
    from vidcli.body.retarget import retarget

    body = load_body()
    rotations, _ = retarget(motion, body.rest(Phenotype()), body.bone_names, body.parents)
    chosen = np.arange(0.0, len(rotations), motion.fps / FIT_FPS).astype(int)
    world = rotations[chosen][:, np.asarray(body.smpl.bone)]  # (F, 24, 3, 3): each joint's bone
    parents = np.array([max(p, 0) for p in SMPL_24_PARENTS])
    local = np.swapaxes(world[:, parents], -1, -2) @ world
    return matrix_to_axis_angle(local[:, 1:])


def fit_pose_prior(paths: list[Path]) -> PosePrior:
    """The prior of the motions in `paths` (CMU-skeleton BVH files), every resampled frame weighted alike."""
    from vidcli import bvh
    from vidcli.engine.keys import sha256_of

    per_clip = [motion_rotvecs(bvh.parse(p)) for p in paths]
    samples = np.concatenate(per_clip)
    mean = samples.mean(0)
    centred = samples - mean
    covariance = np.einsum("fja,fjb->jab", centred, centred) / len(samples) + VARIANCE_FLOOR * np.eye(3)
    low, high = np.quantile(samples, LIMIT_QUANTILES, axis=0)
    sources = tuple((Path(p).name, len(r), sha256_of(Path(p))) for p, r in zip(paths, per_clip))
    return PosePrior(mean, np.linalg.inv(covariance), low - LIMIT_MARGIN, high + LIMIT_MARGIN, sources)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Fit the 2D-only body fit's pose prior to BVH motions.")
    parser.add_argument("out", type=Path)
    parser.add_argument("bvh", type=Path, nargs="+")
    args = parser.parse_args(argv)
    prior = fit_pose_prior(args.bvh)
    prior.save(args.out)
    spread = np.sqrt(np.trace(np.linalg.inv(prior.precision), axis1=1, axis2=2) / 3)
    for joint, s in zip(SMPL_24[1:], spread):
        print(f"{joint:15s} rms spread {np.degrees(s):5.1f} deg")


if __name__ == "__main__":
    main()
