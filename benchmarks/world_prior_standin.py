"""The world stage with the `humor` prior's term fed by a stand-in, since HuMoR's weights are not here.

The stand-in replaces HuMoR's CVAE inside the very term the `humor` backend adds
(`HumorPrior.with_network`): the same 339-number HuMoR states of consecutive frames (`humor_pairs`,
aligned to the earlier frame), scored by a Gaussian, fitted on CMU clips, over the frame-to-frame
change of the pelvis and joint velocities (69 numbers; full covariance, so it learns which joints move
together), fitted on a walk, a run and jumping jacks. It predicts no contacts. Fit clips (the tuning
side) and held-out clips differ; nothing was tuned but the term's weight (`--smooth`, world.smooth),
on the fit-side walk.

Each clip is retargeted to a random Anny body at 30 fps (`vidcli.synth`), seen by a static camera,
its keypoints perturbed (2D: 3 px, 3D: 3 cm, seeded), fitted by the body stage, then run through the
world stage twice: with the embedded smoothness prior and with the stand-in. Printed per clip: foot
skating against the ground-truth contacts (mm/frame), jitter (10 m/s^3), camera-frame MPJPE (mm), the
prior term's final value, the norm of its gradient at the body fit, and seconds.

Usage: ANNY_CACHE_DIR=... python benchmarks/world_prior_standin.py [--frames 60] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

MOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "motion"
FPS = 30.0
SIZE = (640, 360)
# clips on the CMU skeleton that vidcli retargets (the others in ../shared/data/motion use other rigs)
FIT = ["02_01.bvh", "cmu_run_fragment.bvh", "jumping_jacks.bvh"]
EVALUATE = {"walk 02_01 (fit side)": "02_01.bvh", "dance 05_06 (held out)": "05_06.bvh",
            "hop 131_03 (held out)": "131_03.bvh"}
# state indices of the pelvis velocity (3:6) and the 22 joint velocities (273:339) in HuMoR's layout
VELOCITIES = np.r_[3:6, 273:339]
RIDGE = 1e-4  # added to the covariance's diagonal ((m/s)^2)


def root_frames(joints: np.ndarray) -> np.ndarray:
    """(F, 3, 3) pelvis orientations from SMPL-24 joints: x to the body's left (hip to hip), y up the
    spine, z forward: HuMoR's body axes."""
    left = joints[:, 1] - joints[:, 2]
    x = left / np.linalg.norm(left, axis=-1, keepdims=True)
    z = np.cross(x, joints[:, 3] - joints[:, 0])
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], axis=-1)


def motion_truth(body, clip: str, frames: int, seed: int):
    """SMPL-24 joints, BlazePose landmarks of one clip on a random body."""
    from vidcli.synth.people import make_people

    person = make_people(body, 1, [MOTION / clip], frames, FPS, np.random.default_rng(seed), {})[0]
    return body.smpl.positions(person.heads, person.vertices), body.blazepose.positions(person.heads,
                                                                                         person.vertices)


def transition_changes(joints: np.ndarray) -> np.ndarray:
    from vidcli.backends.humor_prior import humor_pairs

    local = np.tile(np.eye(3), (len(joints), 24, 1, 1))
    local[:, 0] = root_frames(joints)
    previous, current = humor_pairs(*(torch.from_numpy(a) for a in (joints[:, 0], joints, local)), FPS)
    return (current - previous).numpy()[:, VELOCITIES].astype(float)


class GaussianTransition:
    """The stand-in for HuMoR's CVAE: negative log-likelihood (up to a constant) of the velocity change."""

    def __init__(self, changes: np.ndarray):
        self.mean = torch.from_numpy(changes.mean(0))
        covariance = np.cov(changes.T) + RIDGE * np.eye(changes.shape[1])
        self.precision = torch.from_numpy(np.linalg.inv(covariance))

    def transition_energy(self, previous, current):
        change = (current - previous)[:, VELOCITIES] - self.mean.to(current.dtype)
        return 0.5 * ((change @ self.precision.to(current.dtype)) * change).sum(1), None


def write_scene(directory: Path, joints, landmarks, frames: int, seed: int) -> Path:
    """keypoints.npz (perturbed) and a static metric camera.npz, as the keypoints and scale artifacts."""
    from vidcli.io.camera import CameraTrack, write_camera
    from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, write_keypoints
    from vidcli.render.camera import intrinsics
    from vidcli.synth.camera_paths import camera_path

    rng = np.random.default_rng(seed)
    K = intrinsics(*SIZE, 60.0)
    R_wc, t_wc = camera_path("static", frames, FPS, rng)
    cam = np.einsum("fji,fkj->fki", R_wc, landmarks - t_wc[:, None])
    uv = cam[..., :2] / cam[..., 2:] * np.diag(K)[:2] + K[:2, 2] + rng.normal(0, 3.0, cam[..., :2].shape)
    world3d = cam - cam[:, [23, 24]].mean(1, keepdims=True) + rng.normal(0, 0.03, cam.shape)
    directory.mkdir(parents=True)
    keypoints2d = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)
    write_keypoints(directory / KEYPOINTS_NPZ, Keypoints(np.arange(frames), np.ones(frames, int), keypoints2d,
                                                         world3d))
    write_camera(directory, CameraTrack(K, R_wc, t_wc, np.arange(frames) / FPS, *SIZE, FPS))
    return R_wc, t_wc


def run_stage(name: str, inputs: dict, out: Path, **settings) -> Path:
    from vidcli.engine.stage import Artifact, load_stage, planned_config

    module = load_stage(name)
    out.mkdir(parents=True)
    module.run(planned_config(module, settings), {p: Artifact(path) for p, path in inputs.items()}, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--smooth", type=float, nargs="+", default=[1.0],
                        help="world.smooth values (the weight of the prior term) to run the stand-in with")
    parser.add_argument("--only", nargs="+", help="clip files of EVALUATE to run (default: all)")
    parser.add_argument("--workdir", type=Path, default=Path("vidcli-bench/world-prior"))
    args = parser.parse_args()

    import json
    import shutil

    from vidcli import backends
    from vidcli.backends.humor_prior import HumorPrior
    from vidcli.body.anny_model import load_body
    from vidcli.evaluation import metrics
    from vidcli.io.motion import read_motion

    body = load_body()
    fit = np.concatenate([transition_changes(motion_truth(body, clip, 150, seed)[0])
                          for seed, clip in enumerate(FIT)])
    gaussian = GaussianTransition(fit)
    print(f"stand-in fitted on {len(fit)} transitions of {len(FIT)} clips ({', '.join(FIT)})")
    backends.register(backends.Backend(
        "prior", "gaussian_standin",
        lambda config, fps: HumorPrior.with_network(gaussian, config, fps, "gaussian-standin")))

    shutil.rmtree(args.workdir, ignore_errors=True)
    print("| clip | prior | skate mm/frame | jitter | MPJPE mm | prior term | prior gradient | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for index, (name, clip) in enumerate(EVALUATE.items()):
        if args.only and clip not in args.only:
            continue
        joints, landmarks = motion_truth(body, clip, args.frames, 100 + index)
        root = args.workdir / clip.removesuffix(".bvh")
        R_wc, t_wc = write_scene(root / "gt", joints, landmarks, args.frames, 200 + index)
        body_dir = run_stage("body", {"keypoints": root / "gt", "camera": root / "gt"}, root / "body",
                             feet_3d=True)
        truth_cam = np.einsum("fji,fkj->fki", R_wc, joints - t_wc[:, None])
        for prior, smooth in [("embedded", 1.0)] + [("gaussian_standin", s) for s in args.smooth]:
            start = time.perf_counter()
            world = run_stage("world", {"body": body_dir, "scale": root / "gt", "keypoints": root / "gt"},
                              root / f"world-{prior}-{smooth:g}", backend=prior, smooth=smooth, feet_3d=True)
            seconds = time.perf_counter() - start
            out = read_motion(world / "motion.npz")
            skate = metrics.foot_skating(out.joints_world, joints[out.frame], out.frame, FPS).mean()
            jitter = metrics.jitter(out.joints_world, out.frame, FPS).mean()
            error = metrics.mpjpe(out.joints_cam, truth_cam[out.frame]).mean()
            term = sum(_prior_terms(json.loads((world / "world.json").read_text())))
            gradient = _prior_gradient(backends.get("prior", prior), out)
            print(f"| {name} | {prior} (smooth {smooth:g}) | {skate:.1f} | {jitter:.2f} | {error:.0f} "
                  f"| {term} "
                  f"| {gradient:.3g} | {seconds:.0f} |")


def _prior_terms(report):
    """Every segment's final prior term in a world.json."""
    if isinstance(report, dict):
        if "energy" in report and isinstance(report["energy"], dict):
            yield report["energy"]["prior"]
        for value in report.values():
            yield from _prior_terms(value)
    elif isinstance(report, list):
        for value in report:
            yield from _prior_terms(value)


def _prior_gradient(backend, motion) -> float:
    """Norm of the prior term's gradient in the pelvis path, at the world stage's result."""
    from types import SimpleNamespace

    config = SimpleNamespace(smooth=1.0, root_accel_sigma=_default("root_accel_sigma"),
                             limb_accel_sigma=_default("limb_accel_sigma"))
    prior = backend.build(config, FPS)
    joints = torch.from_numpy(motion.joints_world.astype(float))
    root = torch.from_numpy(motion.root_world.astype(float)).requires_grad_(True)
    moved = joints - joints[:, :1] + root[:, None]
    local = torch.from_numpy(motion.rotations.astype(float))
    prior.energy(root, moved, torch.ones(len(joints) - 1, dtype=torch.bool), local).backward()
    return float(root.grad.norm())


def _default(name: str) -> float:
    from vidcli.mocap.options import WorldOptions

    return WorldOptions.__dataclass_fields__[name].default


if __name__ == "__main__":
    main()
