"""Seconds per frame of the `droid` camera backend's network on this machine (random weights: the speed
does not depend on them): the encoders once per frame, then the 8 update iterations on both directions
of a pair (what each tracked frame costs), at working sizes of the camera stage's `max_size`.

Usage: python benchmarks/droid_speed.py [--sizes 256 512] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from vidcli.backends.droid import ITERATIONS, DroidCorrespondences
    from vidcli.slam.droid_net import DroidNet

    torch.manual_seed(0)
    estimator = DroidCorrespondences(DroidNet(), args.device, ITERATIONS)
    rng = np.random.default_rng(0)
    print(f"torch threads: {torch.get_num_threads()}, device: {args.device}")
    print("| working size | grid | encoders s/frame | match s/pair | s per tracked frame |")
    print("| --- | --- | --- | --- | --- |")
    for size in args.sizes:
        width, height = size, size * 9 // 16
        frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2)]
        estimator.prepare(frames[0])  # warm-up
        prepare, match = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            prepared = [estimator.prepare(f) for f in frames]
            prepare.append((time.perf_counter() - start) / 2)
            old, new = (SimpleNamespace(prepared=p, mask=None) for p in prepared)
            start = time.perf_counter()
            estimator.match(old, new)
            match.append(time.perf_counter() - start)
        p, m = min(prepare), min(match)
        print(f"| {width}x{height} | {height // 8}x{width // 8} | {p:.2f} | {m:.2f} | {p + m:.2f} |")


if __name__ == "__main__":
    main()
