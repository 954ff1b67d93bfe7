"""CPU (or GPU) cost of the `droid` camera backend's parts on this machine, with the full-size network at
random weights (the cost does not depend on them), on the first frames of a real clip resized to
640x360 (an 80x45 grid): the motion filter per frame, the context encoder per keyframe, one
update-operator iteration per edge, the trajectory filler per frame, two bundle-adjustment steps on a
small graph, and then one whole run of DROID's tracking (`vidcli.slam.droid_frontend.track`) on those
frames with every frame made a keyframe (filter threshold 0, the costliest case; the warm-up
shortened to the frames given).

Usage: python benchmarks/droid_speed.py [--video ../shared/data/videos/hiphop_clip1.mp4] [--frames 6]
       [--threads 1] [--device cpu] [--parts-only]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "hiphop_clip1.mp4"
SIZE = (640, 360)


def clip(path: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(bgr, SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    if len(frames) < count:
        raise SystemExit(f"{path}: fewer than {count} frames")
    return frames


def timed(function, repeats: int = 2) -> float:
    """The best of `repeats` wall times of function() (seconds)."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--parts-only", action="store_true", help="skip the whole run (minutes on a CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from threadpoolctl import threadpool_limits

    from vidcli.slam import droid_frontend as droid
    from vidcli.slam.droid_net import DroidNet
    from vidcli.slam.tracker import SlamSettings

    torch.manual_seed(0)
    frames = clip(args.video, args.frames)
    K = np.array([[640.0, 0, 320], [0, 640.0, 180], [0, 0, 1]])
    motion = droid.MotionFilter(DroidNet(), args.device, thresh=0.0)
    print(f"torch threads: {torch.get_num_threads()}, device: {args.device}, {SIZE[0]}x{SIZE[1]}, "
          f"{args.frames} frames of {args.video.name}")
    features = [motion.features(f) for f in frames]
    keyframe = motion.with_context(features[0], frames[0])
    video = droid.Keyframes(K, (SIZE[1] // 8, SIZE[0] // 8))
    for k, f in enumerate(frames[:4]):  # as frames 0, 2, 4, 6, so that the filler has frames between
        video.append(2 * k, motion.with_context(features[k], f), None, np.eye(4), np.ones(len(video.rays)))
    graph = droid.FactorGraph(video, motion.operator, droid.DroidSettings())
    graph.add_neighborhood_factors(0, 4, radius=3)  # 12 edges
    with threadpool_limits(1, user_api="blas"):
        parts = {
            "motion filter, per frame (feature encoder + 1 update step)":
                timed(lambda: motion.flow(keyframe, None, motion.features(frames[1]))),
            "context encoder, per keyframe": timed(lambda: motion.with_context(features[1], frames[1])),
            "update operator, per edge and iteration (8 edges at once)":
                timed(graph.revise_edges) / 12,
            "trajectory filler, per frame (feature encoder + 6 iterations on 2 edges)":
                timed(lambda: droid.fill_trajectory(video, motion.operator, [1], lambda _: (
                    motion.features(frames[1]), None), 0.125)),
            "bundle adjustment, 2 steps on 4 keyframes and 12 edges":
                timed(lambda: video.adjust(droid.Edges(graph.ii, graph.jj, graph.target, graph.weight), 1,
                                           0.125)),
        }
        print("| part | seconds |")
        print("| --- | --- |")
        for name, seconds in parts.items():
            print(f"| {name} | {seconds:.2f} |")
        if args.parts_only:
            return
        settings = droid.DroidSettings(filter_thresh=0.0, warmup=min(8, args.frames))
        start = time.perf_counter()
        result = droid.track(lambda i: (frames[i], None), args.frames, motion.network, args.device, K,
                             settings, False, SlamSettings())
        total = time.perf_counter() - start
    print(f"whole run, every frame a keyframe: {total:.0f} s for {args.frames} frames "
          f"({total / args.frames:.0f} s per frame), {len(result.keyframes)} keyframes kept")


if __name__ == "__main__":
    main()
