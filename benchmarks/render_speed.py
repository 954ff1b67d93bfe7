"""Print how many frames per second `vidcli synth` renders at 640x360 with two people (render only,
no encoding), after a warm-up frame. Run: python benchmarks/render_speed.py [--frames N]"""

from __future__ import annotations

import argparse
import time

from vidcli.synth.generate import Synthesis, SynthOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--camera", default="handheld")
    args = parser.parse_args()
    synthesis = Synthesis(SynthOptions(duration=args.frames / 30, fps=30, width=640, height=360, people=2,
                                       camera=args.camera, seed=0))
    synthesis.render(0)
    start = time.perf_counter()
    for index in range(synthesis.options.frames):
        synthesis.render(index)
    elapsed = time.perf_counter() - start
    print(f"{synthesis.options.frames / elapsed:.2f} frames/s at 640x360, 2 people "
          f"({1000 * elapsed / synthesis.options.frames:.0f} ms/frame)")


if __name__ == "__main__":
    main()
