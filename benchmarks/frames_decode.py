"""Decode speed of the frames stage against plain `ffmpeg -i clip.mp4 %05d.jpg` on the same clip.

Usage: python benchmarks/frames_decode.py [CLIP] [--synthetic] [--repeat N]

Without CLIP it uses ../shared/data/videos/hiphop_clip1.mp4 when present, else (or with
--synthetic) a 10 s 1280x720 testsrc2 clip made with the bundled ffmpeg. Prints frames/s of both
and their ratio (the goal is at least 0.8x), and the CPU time each used.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from vidcli.engine.stage import Source, planned_config
from vidcli.io.video import ffmpeg_exe, probe
from vidcli.stages import frames as frames_stage

SHARED_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "hiphop_clip1.mp4"


def make_synthetic_clip(path: Path) -> Path:
    pattern = "testsrc2=size=1280x720:rate=30:duration=10"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", pattern,
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def measure(work) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children) of `work(run_dir)` in a new directory."""
    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    with tempfile.TemporaryDirectory() as run_dir:
        start_wall, start_cpu = time.perf_counter(), cpu()
        work(Path(run_dir))
        return time.perf_counter() - start_wall, cpu() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path, nargs="?")
    parser.add_argument("--synthetic", action="store_true", help="use a generated 720p testsrc2 clip")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        clip = args.clip
        if clip is None:
            use_shared = SHARED_CLIP.is_file() and not args.synthetic
            clip = SHARED_CLIP if use_shared else make_synthetic_clip(Path(scratch) / "clip.mp4")
        info = probe(clip)
        print(f"clip: {clip} ({info.width}x{info.height}, {info.codec}, {info.fps:.3f} fps, "
              f"~{info.frame_count} frames)")

        counts = {}

        def stage(run_dir: Path) -> None:
            result = frames_stage.run(planned_config(frames_stage, {}), {"video": Source(clip, "benchmark")},
                                      run_dir)
            counts["stage"] = result.counts["frames"]

        def ffmpeg(run_dir: Path, *quality: str) -> None:
            command = [ffmpeg_exe(), "-v", "error", "-i", str(clip), *quality, str(run_dir / "%05d.jpg")]
            subprocess.run(command, check=True)
            counts["ffmpeg"] = len(list(run_dir.glob("*.jpg")))

        contenders = {
            "vidcli frames (default -q:v 2)": ("stage", stage),
            "ffmpeg -i clip %05d.jpg": ("ffmpeg", ffmpeg),
            "ffmpeg ... -q:v 2 (high quality)": ("ffmpeg", lambda d: ffmpeg(d, "-q:v", "2")),
        }
        runs = {name: [] for name in contenders}
        for _ in range(args.repeat):  # interleaved, so that load from other processes hits all alike
            for name, (_, work) in contenders.items():
                runs[name].append(measure(work))
    best = {name: min(times) for name, times in runs.items()}  # fastest wall time, with its CPU time
    baseline = counts["ffmpeg"] / best["ffmpeg -i clip %05d.jpg"][0]
    print(f"{'':34} {'frames':>7} {'wall s':>7} {'CPU s':>6} {'frames/s':>9} {'vs ffmpeg':>10}")
    for name, (kind, _) in contenders.items():
        wall, cpu = best[name]
        rate = counts[kind] / wall
        print(f"{name:34} {counts[kind]:7d} {wall:7.2f} {cpu:6.2f} {rate:9.1f} {rate / baseline:9.2f}x")


if __name__ == "__main__":
    main()
