"""The embedded tracker's BlazePose landmark models, `full` (default) against `heavy`, on synthetic clips
with exact ground truth: median and mean 2D keypoint error (px) of the visible ground-truth keypoints
of matched tracks, and CPU seconds of the track stage (detector included).

Usage: python benchmarks/blazepose_heavy.py CLIP.mp4 [CLIP.mp4 ...]   (each rendered by `vidcli synth`,
its ground truth in CLIP.mp4.gt/; needs `vidcli models download blazepose_heavy`, and writes the verified
heavy model into mediapipe's package folder as the heavy option does)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcli.engine.stage import Artifact, Source, planned_config  # noqa: E402
from vidcli.evaluation import metrics  # noqa: E402
from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints  # noqa: E402
from vidcli.io.tracks import read_tracks  # noqa: E402
from vidcli.stages import frames as frames_stage  # noqa: E402
from vidcli.stages import keypoints as keypoints_stage  # noqa: E402
from vidcli.stages import track as track_stage  # noqa: E402


def keypoint_errors(gt_dir: Path, track_dir: Path, keypoints_dir: Path) -> np.ndarray:
    """Pixel distances of every visible ground-truth keypoint from the run's, over matched tracks."""
    truth, gt_tracks = read_keypoints(gt_dir / KEYPOINTS_NPZ), read_tracks(gt_dir)
    found, tracks = read_keypoints(keypoints_dir / KEYPOINTS_NPZ), read_tracks(track_dir)
    pairs = metrics.match_tracks(metrics.Boxes(gt_tracks.frame, gt_tracks.track_id, gt_tracks.box),
                                 metrics.Boxes(tracks.frame, tracks.track_id, tracks.box))
    errors = [np.zeros(0)]
    for gt_id, run_id in pairs.items():
        for row in np.flatnonzero(truth.track_id == gt_id):
            match = np.flatnonzero((found.track_id == run_id) & (found.frame == truth.frame[row]))
            visible = truth.keypoints2d[row, :, 2] > 0.5
            if len(match):
                errors.append(np.linalg.norm(found.keypoints2d[match[0], visible, :2]
                                             - truth.keypoints2d[row, visible, :2], axis=1))
    return np.concatenate(errors)


def main() -> None:
    print("| clip | model | median px | mean px | keypoints | track CPU s | CPU ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for clip in map(Path, sys.argv[1:]):
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            (work / "frames").mkdir()
            frames_stage.run(planned_config(frames_stage, {}), {"video": Source(clip, "clip")},
                             work / "frames")
            frames = Artifact(work / "frames")
            baseline = None
            for model in ("full", "heavy"):
                track_dir, keypoints_dir = work / model / "track", work / model / "keypoints"
                track_dir.mkdir(parents=True)
                keypoints_dir.mkdir()
                start = time.process_time()
                track_stage.run(planned_config(track_stage, {"landmark_model": model}), {"frames": frames},
                                track_dir)
                cpu = time.process_time() - start
                baseline = baseline or cpu
                keypoints_stage.run(planned_config(keypoints_stage, {}),
                                    {"frames": frames, "track": Artifact(track_dir)}, keypoints_dir)
                errors = keypoint_errors(Path(f"{clip}.gt"), track_dir, keypoints_dir)
                print(f"| {clip.stem} | {model} | {np.median(errors):.2f} | {errors.mean():.2f} "
                      f"| {len(errors)} | {cpu:.1f} | {cpu / baseline:.2f} |", flush=True)


if __name__ == "__main__":
    main()
