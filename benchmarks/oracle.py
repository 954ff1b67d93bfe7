"""Which input limits mocap accuracy: the body and world stages on true or pipeline keypoints and camera.

Usage: python benchmarks/oracle.py [--config SPLIT.yaml ...] [--workdir DIR] [--only NAME ...]
Clips are rendered and run as `benchmarks/synthetic.py` does (sharing its WORKDIR and cache). Then the
body and world stages' `run` is called with the ground truth's `keypoints.npz` (exact 2D keypoints and
metric 3D landmarks) in place of the keypoints stage's, with its `camera.npz` (exact intrinsics and
metric trajectory) in place of the scale stage's, and with both; each result is scored with
`vidcli eval`'s `evaluate` and printed beside the pipeline's own. `--smooth W` runs those world stages
with acceleration weight W instead of the preset's (the preset suits BlazePose's noise, and holds
back fast limbs drawn from noise-free keypoints).

`--keypoints2d LAYOUT` (coco17 or wholebody133) measures the 2D-only body fit instead: the ground
truth's 2D keypoints in that layout, with ViTPose-like noise (`noisy_keypoints`), no 3D, through the
body and world stages with the pipeline's and with the true camera, beside the pipeline's own rows."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the synthetic benchmark's helpers
from synthetic import benchmark_arguments, mocap_runs, print_table, text  # noqa: E402

import numpy as np  # noqa: E402

from vidcli.body.skeletons import blazepose_sources, layout_names  # noqa: E402
from vidcli.engine.stage import load_stage, planned_config  # noqa: E402
from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, read_keypoints, write_keypoints  # noqa: E402
from vidcli.evaluation.report import STAGE_FILES, evaluate  # noqa: E402

COLUMNS = [("pa_mpjpe_mm", "PA-MPJPE"), ("wa_mpjpe_mm", "WA-MPJPE"), ("w_mpjpe_mm", "W-MPJPE"),
           ("rte_pct", "RTE %"), ("jitter_10m_per_s3", "jitter"), ("foot_skating_mm_per_frame", "skate mm"),
           ("gravity_deg", "gravity deg")]
SOURCES = [("run", "run"), ("truth", "run"), ("run", "truth"), ("truth", "truth")]  # (keypoints, camera)
SOURCES_2D = [("run", "run"), ("2d", "run"), ("2d", "truth")]
# The noise of `noisy_keypoints`: ViTPose-B's error on COCO people of this benchmark's size (about 100-250 px
# tall at 640x360) is a few pixels; hidden points are guessed worse and scored lower.
VISIBLE_SIGMA_PX, HIDDEN_SIGMA_PX = 4.0, 8.0
VISIBLE_SCORE, HIDDEN_SCORE, OUTLIER_SCORE = 0.9, 0.4, 0.3
OUTLIER_RATE, OUTLIER_PX = 0.03, (20.0, 60.0)


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


def noisy_keypoints(truth: Path, out: Path, layout: str, seed: int) -> Path:
    """A keypoints folder with the truth's 2D keypoints in `layout` (2D only): each point in the image off
    by isotropic Gaussian noise (VISIBLE_SIGMA_PX where the truth sees it, HIDDEN_SIGMA_PX where the body
    hides it) scored VISIBLE_SCORE or HIDDEN_SCORE; OUTLIER_RATE of them moved OUTLIER_PX in a random
    direction instead, scored OUTLIER_SCORE; points behind the camera or outside the image missing."""
    rng = np.random.default_rng(seed)
    true = read_keypoints(truth / KEYPOINTS_NPZ).as_blazepose33()
    width, height = _frame_size(truth)
    names = layout_names(layout)
    points = np.full((len(true), len(names), 3), np.nan)
    sources = blazepose_sources(layout)  # (33,) index in `layout` of each BlazePose point
    points[:, sources[sources >= 0]] = true.keypoints2d[:, sources >= 0]
    uv, seen = points[..., :2], points[..., 2] > 0
    inside = np.isfinite(uv).all(-1) & (uv[..., 0] >= 0) & (uv[..., 0] < width) & (uv[..., 1] >= 0) & (
        uv[..., 1] < height)
    sigma = np.where(seen, VISIBLE_SIGMA_PX, HIDDEN_SIGMA_PX)
    uv = uv + rng.normal(size=uv.shape) * sigma[..., None]
    score = np.where(seen, VISIBLE_SCORE, HIDDEN_SCORE)
    outlier = rng.uniform(size=score.shape) < OUTLIER_RATE
    angle = rng.uniform(0, 2 * np.pi, score.shape)
    distance = rng.uniform(*OUTLIER_PX, score.shape)
    away = distance[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    uv = np.where(outlier[..., None], uv + away, uv)
    score = np.where(outlier, OUTLIER_SCORE, score)
    noisy = np.concatenate([np.where(inside[..., None], uv, np.nan), np.where(inside, score, 0.0)[..., None]],
                           -1)
    out.mkdir(parents=True)
    no_3d = np.full(noisy.shape, np.nan)
    write_keypoints(out / KEYPOINTS_NPZ, Keypoints(true.frame, true.track_id, noisy, no_3d, layout))
    return out


def _frame_size(truth: Path) -> tuple[int, int]:
    with np.load(truth / "camera.npz") as camera:
        return int(camera["width"]), int(camera["height"])


def evaluate_world(world: Path, tracks: Path, truth: Path, out: Path) -> dict:
    """`evaluate`'s world metrics of a world folder, its people paired with the truth's through the
    tracks in folder `tracks`; the world's camera beside its motion gives the gravity error."""
    out.mkdir(parents=True)
    shutil.copy(world / STAGE_FILES["world"], out)
    shutil.copy(world / STAGE_FILES["camera"], out)
    shutil.copy(tracks / STAGE_FILES["track"], out)
    return evaluate(out, truth)["stages"]["world"]["metrics"]


def main() -> None:
    args, splits = benchmark_arguments(
        __doc__.splitlines()[0],
        [("--smooth", {"type": float, "help": "world-stage acceleration weight of the reruns"}),
         ("--keypoints2d", {"choices": ("coco17", "wholebody133"),
                            "help": "measure the 2D-only fit on noisy true keypoints of this layout"})])
    world_settings = {} if args.smooth is None else {"smooth": args.smooth}
    rows = []
    for index, (split, _, name, _, artifacts, truth) in enumerate(mocap_runs(args, splits)):
        with tempfile.TemporaryDirectory() as scratch:
            for keypoints, camera in SOURCES_2D if args.keypoints2d else SOURCES:
                out = Path(scratch) / f"{keypoints}-{camera}"
                given = {"run": artifacts["keypoints"], "truth": truth}.get(keypoints)
                if keypoints == "2d":
                    given = noisy_keypoints(truth, out / "keypoints", args.keypoints2d, seed=index)
                world = artifacts["world"] if (keypoints, camera) == ("run", "run") else body_and_world(
                    given, truth if camera == "truth" else artifacts["scale"], out, world_settings)
                metrics = evaluate_world(world, artifacts["track"] if keypoints == "run" else truth, truth,
                                         out / "scored")
                rows.append([split, name, keypoints, camera] + [text(metrics[key]) for key, _ in COLUMNS])
                print(" ".join(rows[-1]), file=sys.stderr, flush=True)
    print_table(["split", "clip", "keypoints", "camera"] + [title for _, title in COLUMNS], rows)


if __name__ == "__main__":
    main()
