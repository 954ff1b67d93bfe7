"""Which input limits the metric scale: the scale stage on true or pipeline keypoints and camera.

Usage: python benchmarks/scale_oracle.py [--config FILE] [--workdir DIR] [--only NAME ...]
Clips are rendered and run as `benchmarks/synthetic.py` does (sharing its WORKDIR and cache). For each
clip whose camera moves, the scale stage's `run` is called with the keypoints stage's artifact or the
ground truth's `keypoints.npz` (exact 2D keypoints and the person's own metric 3D landmarks), and with
the camera stage's artifact, the camera stage rerun with the true focal length given (as `--intrinsics`
would give it), or a true camera: the exact trajectory shrunk by TRUE_CAMERA_SHRINK (so there is a
scale to find) and exact inverse depths of every KEYFRAME_STEP-th frame, rendered from the scene and
averaged over cells of GRID_CELL pixels, people and sky left out. Each cell of the table is
the signed scale error of the metric trajectory, in %, after the Sim(3) fit `vidcli eval` makes; the
first columns are `vidcli eval`'s size ratio (how much larger the people are than their metric
keypoints say), which the keypoint part of the scale error follows, and the people's median
shoulder-to-ankle length (metres, along the limbs) in the ground truth and in the keypoints stage's
metric landmarks."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the synthetic benchmark's helpers
from synthetic import MOTION, benchmark_arguments, mocap_runs, print_table  # noqa: E402

from vidcli.engine.stage import load_stage, planned_config  # noqa: E402
from vidcli.evaluation.metrics import camera_errors  # noqa: E402
from vidcli.evaluation.report import STAGE_FILES, evaluate  # noqa: E402
from vidcli.io.camera import CAMERA_NPZ, DEPTH_NPZ, read_camera, write_camera  # noqa: E402
from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints  # noqa: E402

TRUE_CAMERA_SHRINK = 10.0
KEYFRAME_STEP = 5
GRID_CELL = 8
CAMERAS = ("run", "true focal", "truth")
# BlazePose landmarks of each side: shoulder, hip, knee, ankle
SIDE_CHAINS = ((11, 23, 25, 27), (12, 24, 26, 28))
SOURCES = [(keypoints, camera) for camera in CAMERAS for keypoints in ("run", "truth")]


def true_camera(name: str, spec: dict, config: dict, truth: Path, out: Path) -> Path:
    """A camera folder (camera.npz, depth.npz) with the exact poses and depths of a benchmark clip,
    in units TRUE_CAMERA_SHRINK times larger than metres."""
    from vidcli.synth.generate import Synthesis, SynthOptions
    from vidcli.synth.groundtruth import inverse_depth_grid

    width, height = (int(v) for v in config["size"].lower().split("x"))
    bvh = [MOTION / f for f in spec.get("bvh", [])] if MOTION.is_dir() else []
    scene = Synthesis(SynthOptions(duration=spec["duration"], width=width, height=height, fps=config["fps"],
                                   seed=spec["seed"], people=spec["people"], camera=spec["camera"], bvh=bvh))
    camera = read_camera(truth / CAMERA_NPZ)
    if not (np.allclose(camera.t_wc, scene.t_wc) and np.allclose(camera.R_wc, scene.R_wc)):
        raise SystemExit(f"{name}: the re-created scene's camera differs from the clip's ground truth")
    keyframes = np.arange(0, len(camera.t_wc), KEYFRAME_STEP)
    grids = [inverse_depth_grid(scene.render(int(frame)), GRID_CELL) for frame in keyframes]
    inv_depth, confidence = zip(*grids)
    out.mkdir(parents=True)
    write_camera(out, replace(camera, t_wc=camera.t_wc / TRUE_CAMERA_SHRINK, keyframes=keyframes))
    np.savez(out / DEPTH_NPZ, keyframes=keyframes, confidence=np.array(confidence),
             inv_depth=(np.array(inv_depth) * TRUE_CAMERA_SHRINK).astype(np.float32),
             K=np.diag([1.0 / GRID_CELL, 1.0 / GRID_CELL, 1.0]) @ camera.K)
    return out


def camera_with_true_focal(artifacts: dict, truth: Path, out: Path) -> Path:
    """The camera stage rerun on the pipeline's frames and masks with the true focal length given."""
    stage = load_stage("camera")
    out.mkdir(parents=True)
    focal = float(read_camera(truth / CAMERA_NPZ).K[0, 0])
    stage.run(planned_config(stage, {"focal": focal}), {"frames": SimpleNamespace(path=artifacts["frames"]),
                                          "masks": SimpleNamespace(path=artifacts["masks"])}, out)
    return out


def scale_error(keypoints: Path, camera: Path, truth: Path, out: Path) -> float:
    """The scale stage's signed scale error (%) on a keypoints folder and a camera folder."""
    stage = load_stage("scale")
    out.mkdir(parents=True)
    stage.run(planned_config(stage, {}), {"keypoints": SimpleNamespace(path=keypoints),
                               "camera": SimpleNamespace(path=camera)}, out)
    run, gt = read_camera(out / CAMERA_NPZ), read_camera(truth / CAMERA_NPZ)
    return 100.0 * (1.0 / camera_errors(run.R_wc, run.t_wc, gt.R_wc, gt.t_wc).sim3_scale - 1.0)


def size_ratio(artifacts: dict, truth: Path, out: Path) -> float:
    """`vidcli eval`'s size ratio of the keypoints stage's people, paired with the truth's by their tracks."""
    out.mkdir(parents=True)
    for stage in ("keypoints", "track"):
        shutil.copy(Path(artifacts[stage]) / STAGE_FILES[stage], out)
    return evaluate(out, truth)["stages"]["keypoints"]["metrics"]["size_ratio"]


def body_length(keypoints_dir: Path) -> float:
    """Median over detections of the shoulder-to-ankle length along the limbs (m), both sides averaged."""
    world3d = read_keypoints(keypoints_dir / KEYPOINTS_NPZ).world3d
    sides = [np.linalg.norm(np.diff(world3d[:, chain], axis=1), axis=-1).sum(-1) for chain in SIDE_CHAINS]
    return float(np.nanmedian(np.mean(sides, axis=0)))


def main() -> None:
    args, config, clips = benchmark_arguments(__doc__.splitlines()[0], [])
    rows = []
    for name, spec, artifacts, truth in mocap_runs(args, config, clips):
        if np.ptp(read_camera(truth / CAMERA_NPZ).t_wc, axis=0).max() == 0:
            continue  # a camera that does not change position needs no scale
        with tempfile.TemporaryDirectory() as scratch:
            cameras = {"run": artifacts["camera"],
                       "true focal": camera_with_true_focal(artifacts, truth, Path(scratch) / "true-focal"),
                       "truth": true_camera(name, spec, config, truth, Path(scratch) / "true-camera")}
            keypoint_sources = {"run": artifacts["keypoints"], "truth": truth}
            errors = [scale_error(keypoint_sources[keypoints], cameras[camera], truth,
                                  Path(scratch) / f"{keypoints}-{camera}".replace(" ", "-"))
                      for keypoints, camera in SOURCES]
            ratio = size_ratio(artifacts, truth, Path(scratch) / "sizes")
        lengths = f"{body_length(truth):.2f} / {body_length(Path(artifacts['keypoints'])):.2f}"
        rows.append([name, f"{ratio:.3f}", lengths] + [f"{error:+.2f}" for error in errors])
        print(" ".join(rows[-1]), file=sys.stderr, flush=True)
    print("Scale error, %: keypoints (run: the keypoints stage's; truth: exact) with each camera.")
    titles = [f"{keypoints} kp, {camera} camera" for keypoints, camera in SOURCES]
    print_table(["clip", "size ratio", "length m, truth / run"] + titles, rows)


if __name__ == "__main__":
    main()
