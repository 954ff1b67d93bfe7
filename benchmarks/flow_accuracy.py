"""Accuracy and speed of the flow stage's backends: DIS presets, and RAFT when its checkpoint is installed.

Usage: python benchmarks/flow_accuracy.py [--speed-pairs N]

Accuracy: mean end-point error (EPE, pixels) on the FlyingChairs samples (dense .flo ground truth)
and on the KITTI sample (sparse ground truth; also Fl-all, the share of pixels off by more than
3 px and 5 %), from ../shared/data/flow. Flow runs through the stage at its default max_size (512)
and is resampled to the ground truth's size. Speed: flow pairs per second at 640x360.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vidcli.backends.raft import CHECKPOINT as RAFT_CHECKPOINT
from vidcli.engine.stage import Artifact, planned_config
from vidcli.io.flow import FlowArtifact, endpoint_error, read_flo, read_kitti_flow, resize_flow
from vidcli.io.frames import write_frames
from vidcli.models import registry
from vidcli.stages import flow as flow_stage

FLOW_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "flow"


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def stage_flow(images, work: Path, settings: dict) -> np.ndarray:
    """Flow from images[0] to images[1] through the flow stage, resampled to the images' size."""
    frames = Artifact(write_frames(work / "frames", images, fps=10.0))
    out_dir = work / "flow"
    out_dir.mkdir()
    flow_stage.run(planned_config(flow_stage, settings), {"frames": frames}, out_dir)
    flow = FlowArtifact(out_dir)
    return resize_flow(flow.read(0, 1), tuple(flow.index["frame_size"]))


def chairs_epe(settings: dict) -> float | None:
    pairs = sorted((FLOW_DATA / "chairs").glob("*-gt.flo"))
    errors = []
    for gt in pairs:
        stem = gt.name.removesuffix("-gt.flo")
        with tempfile.TemporaryDirectory() as work:
            images = [read_rgb(gt.parent / f"{stem}-img{k}.png") for k in (0, 1)]
            flow = stage_flow(images, Path(work), settings)
        errors.append(endpoint_error(flow, read_flo(gt)))
    return float(np.mean(errors)) if errors else None


def kitti_errors(settings: dict) -> tuple[float, float] | None:
    kitti = FLOW_DATA / "kitti"
    if not (kitti / "flow_gt.png").is_file():
        return None
    gt, valid = read_kitti_flow(kitti / "flow_gt.png")
    with tempfile.TemporaryDirectory() as work:
        images = [read_rgb(kitti / "frame1.png"), read_rgb(kitti / "frame2.png")]
        flow = stage_flow(images, Path(work), settings)
    error = np.linalg.norm(flow - gt, axis=-1)[valid]
    outliers = (error > 3.0) & (error > 0.05 * np.linalg.norm(gt, axis=-1)[valid])
    return float(error.mean()), float(outliers.mean())


def pairs_per_second(settings: dict, pairs: int) -> float:
    """Flow pairs per second on 640x360 frames of a moving texture."""
    rng = np.random.default_rng(0)
    noise = rng.random((460, 840, 3)).astype(np.float32)
    texture = (cv2.GaussianBlur(noise, (0, 0), 3.0) * 255).astype(np.uint8)
    images = [np.ascontiguousarray(texture[k * 2:k * 2 + 360, k * 3:k * 3 + 640]) for k in range(pairs + 1)]
    with tempfile.TemporaryDirectory() as work:
        frames = Artifact(write_frames(Path(work) / "frames", images, fps=30.0))
        out_dir = Path(work) / "flow"
        out_dir.mkdir()
        start = time.perf_counter()
        flow_stage.run(planned_config(flow_stage, {**settings, "max_size": 640}), {"frames": frames}, out_dir)
        return pairs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-pairs", type=int, default=30, help="pairs timed per backend (RAFT: a fifth)")
    args = parser.parse_args()
    presets = ("ultrafast", "fast", "medium")
    backends = {f"dis {preset}": {"backend": "dis", "dis_preset": preset} for preset in presets}
    if registry.is_present(RAFT_CHECKPOINT):
        backends["raft"] = {"backend": "raft"}
    else:
        print(f"RAFT skipped: checkpoint {RAFT_CHECKPOINT} is not installed")

    def cell(value, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    print(f"{'backend':14} {'chairs EPE':>10} {'KITTI EPE':>10} {'KITTI Fl':>9} {'pairs/s 640x360':>16}")
    for name, settings in backends.items():
        kitti = kitti_errors(settings) or (None, None)
        speed_pairs = max(2, args.speed_pairs // 5) if settings["backend"] == "raft" else args.speed_pairs
        print(f"{name:14} {cell(chairs_epe(settings), '10.2f')} {cell(kitti[0], '10.2f')} "
              f"{cell(kitti[1], '9.1%')} {pairs_per_second(settings, speed_pairs):16.1f}")


if __name__ == "__main__":
    main()
