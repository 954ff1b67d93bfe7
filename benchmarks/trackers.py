"""Trackers on identical detections: the embedded ByteTrack-style tracker against ultralytics' ByteTrack
and BoT-SORT, fed the ground-truth boxes of synthetic clips with simulated detector noise, misses,
occlusions and false boxes (`vidcli.evaluation.detections`). Prints ID switches, fragmentations, IDF1,
MOTA and recall per split (summed over clips and noise seeds); no setting is tuned here, every tracker
runs with its defaults and the same memory for lost people (1 s) and confirmation (3 detections); the
ultralytics trackers start tracks at the track stage's `min_score`, as the yolo backend does.

Usage: python benchmarks/trackers.py [--workdir DIR] [--seeds N]
Clips are rendered once with `vidcli synth` into WORKDIR/clips (default ./vidcli-bench/trackers).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcli.evaluation import metrics  # noqa: E402
from vidcli.evaluation.detections import noisy_detections, tracked_boxes  # noqa: E402
from vidcli.io.tracks import read_tracks  # noqa: E402
from vidcli.perception.box_trackers import BoxTracker  # noqa: E402
from vidcli.perception.tracker import Tracker, TrackerSettings  # noqa: E402
from vidcli.settings import settings_of  # noqa: E402
from vidcli.stages import track  # noqa: E402

MOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "motion"
FPS, SIZE, LOST_S, MIN_HITS = 30, (640, 360), 1.0, 3
# split -> clip -> `vidcli synth` arguments; "held-out": the synthetic benchmark's two-person clips.
SPLITS = {
    "A": {"pan3": ["--people", "3", "--camera", "pan", "--duration", "5", "--seed", "21"],
          "orbit3": ["--people", "3", "--camera", "orbit", "--duration", "5", "--seed", "22"]},
    "held-out": {"occlusion": ["--people", "2", "--camera", "pan", "--duration", "5", "--seed", "5",
                               "--bvh", str(MOTION / "02_01.bvh"), "--bvh", str(MOTION / "02_01.bvh")],
                 "fast": ["--people", "2", "--camera", "pan", "--duration", "4", "--seed", "6",
                          "--bvh", str(MOTION / "cmu_run_fragment.bvh"),
                          "--bvh", str(MOTION / "jumping_jacks.bvh")]},
}
TRACKERS = ("embedded", "bytetrack", "botsort")


def render(name: str, args: list[str], workdir: Path) -> Path:
    clip = workdir / "clips" / f"{name}.mp4"
    if not (clip.with_name(clip.name + ".gt") / "tracks.npz").is_file():
        clip.parent.mkdir(parents=True, exist_ok=True)
        size = f"{SIZE[0]}x{SIZE[1]}"
        subprocess.run([sys.executable, "-m", "vidcli", "synth", str(clip), *args, "--size", size,
                        "--fps", str(FPS)], check=True, stdout=subprocess.DEVNULL)
    return clip.with_name(clip.name + ".gt")


def run_tracker(name: str, detections) -> metrics.Boxes:
    """The confirmed tracks (at least MIN_HITS rows, ids renumbered) of one tracker over the detections."""
    lost = round(LOST_S * FPS)
    if name == "embedded":
        tracker = Tracker(TrackerSettings(max_lost=lost, min_hits=MIN_HITS))
        update = lambda boxes, scores: tracker.update(boxes, scores)  # noqa: E731
    else:
        tracker = BoxTracker(name, lost, settings_of(track.Config)["min_score"].default)
        update = tracker.update
    return tracked_boxes(update, detections, MIN_HITS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("vidcli-bench/trackers"))
    parser.add_argument("--seeds", type=int, default=3, help="noise seeds per clip")
    args = parser.parse_args()
    print("| split | tracker | ID switches | fragmentations | IDF1 | MOTA | recall |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for split, clips in SPLITS.items():
        totals = {name: np.zeros(6) for name in TRACKERS}  # switches, frags, IDTP, GT, pred, matched
        for clip, synth_args in clips.items():
            gt_tracks = read_tracks(render(clip, synth_args, args.workdir))
            gt = metrics.Boxes(gt_tracks.frame, gt_tracks.track_id, gt_tracks.box)
            frames = int(gt.frame.max()) + 1
            for seed in range(args.seeds):
                detections = noisy_detections(gt, frames, SIZE, np.random.default_rng(seed))
                for name in TRACKERS:
                    e = metrics.tracking_errors(gt, run_tracker(name, detections))
                    totals[name] += [e.id_switches, e.fragmentations, e.identity_matches, e.gt_boxes,
                                     e.pred_boxes, e.matched_boxes]
        for name, (switches, frags, idtp, gt_boxes, pred_boxes, matched) in totals.items():
            mota = 1 - ((gt_boxes - matched) + (pred_boxes - matched) + switches) / gt_boxes
            idf1 = 2 * idtp / (gt_boxes + pred_boxes)
            print(f"| {split} | {name} | {int(switches)} | {int(frags)} | {idf1:.3f} | {mota:.3f} "
                  f"| {matched / gt_boxes:.3f} |")


if __name__ == "__main__":
    main()
