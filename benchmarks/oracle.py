"""Which input limits mocap accuracy: the body and world stages on true or pipeline keypoints and camera.

Usage: python benchmarks/oracle.py [--config SPLIT.yaml ...] [--workdir DIR] [--only NAME ...]
Clips are rendered and run as `benchmarks/synthetic.py` does (sharing its WORKDIR and cache). Then the
body and world stages' `run` is called with the ground truth's `keypoints.npz` (exact 2D keypoints and
metric 3D landmarks) in place of the keypoints stage's, with its `camera.npz` (exact intrinsics and
metric trajectory) in place of the scale stage's, and with both; each result is scored with
`vidcli eval`'s `evaluate` and printed beside the pipeline's own. `--smooth W` runs those world stages
with acceleration weight W instead of the preset's (the preset suits BlazePose's noise, and holds
back fast limbs drawn from noise-free keypoints)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the synthetic benchmark's helpers
from synthetic import benchmark_arguments, mocap_runs, print_table  # noqa: E402

from vidcli.engine.stage import load_stage, planned_config  # noqa: E402
from vidcli.evaluation.report import STAGE_FILES, evaluate  # noqa: E402

COLUMNS = [("pa_mpjpe_mm", "PA-MPJPE"), ("wa_mpjpe_mm", "WA-MPJPE"), ("w_mpjpe_mm", "W-MPJPE"),
           ("rte_pct", "RTE %"), ("jitter_10m_per_s3", "jitter"), ("foot_skating_mm_per_frame", "skate mm")]
SOURCES = [("run", "run"), ("truth", "run"), ("run", "truth"), ("truth", "truth")]  # (keypoints, camera)


def body_and_world(keypoints: Path, camera: Path, out: Path, world_settings: dict) -> Path:
    """Run the body and world stages on a keypoints folder and a metric camera folder; the world folder."""
    body_dir, world_dir = out / "body", out / "world"
    for directory in (body_dir, world_dir):
        directory.mkdir(parents=True)
    body, world = load_stage("body"), load_stage("world")
    body.run(planned_config(body, {}), {"keypoints": SimpleNamespace(path=keypoints),
                             "camera": SimpleNamespace(path=camera)}, body_dir)
    world.run(planned_config(world, world_settings), {"body": SimpleNamespace(path=body_dir),
                                               "scale": SimpleNamespace(path=camera),
                                               "keypoints": SimpleNamespace(path=keypoints)}, world_dir)
    return world_dir


def evaluate_world(world: Path, tracks: Path, truth: Path, out: Path) -> dict:
    """`evaluate`'s world metrics of a world folder, its people paired with the truth's through the
    tracks in folder `tracks`."""
    out.mkdir(parents=True)
    shutil.copy(world / STAGE_FILES["world"], out)
    shutil.copy(tracks / STAGE_FILES["track"], out)
    return evaluate(out, truth)["stages"]["world"]["metrics"]


def main() -> None:
    args, splits = benchmark_arguments(
        __doc__.splitlines()[0],
        [("--smooth", {"type": float, "help": "world-stage acceleration weight of the reruns"})])
    world_settings = {} if args.smooth is None else {"smooth": args.smooth}
    rows = []
    for split, _, name, _, artifacts, truth in mocap_runs(args, splits):
        with tempfile.TemporaryDirectory() as scratch:
            for keypoints, camera in SOURCES:
                out = Path(scratch) / f"{keypoints}-{camera}"
                world = artifacts["world"] if (keypoints, camera) == ("run", "run") else body_and_world(
                    truth if keypoints == "truth" else artifacts["keypoints"],
                    truth if camera == "truth" else artifacts["scale"], out, world_settings)
                metrics = evaluate_world(world, truth if keypoints == "truth" else artifacts["track"], truth,
                                         out / "scored")
                rows.append([split, name, keypoints, camera] + [f"{metrics[key]:.3g}" for key, _ in COLUMNS])
                print(" ".join(rows[-1]), file=sys.stderr, flush=True)
    print_table(["split", "clip", "keypoints", "camera"] + [title for _, title in COLUMNS], rows)


if __name__ == "__main__":
    main()
