"""Speed of the first half of the mocap pipeline (frames, track, masks, keypoints, camera, scale) on
720p video with one person: wall and CPU seconds of each stage, frames per second, and which stage
dominates.

Usage: python benchmarks/mocap_part1_speed.py [--workdir DIR] [--duration S] [--camera orbit]
                                              [--seed 7] [--video PATH ...] [--profile STAGE]

A one-person 1280x720 clip is rendered with `vidcli synth` into WORKDIR (default /tmp/vidcli-part1)
and reused; each --video (default: ../shared/data/videos/hiphop_clip1.mp4 when present) runs too.
The stages run one after the other in this process through their `run` functions, with their
default settings, into fresh folders. CPU seconds count this process and its children (ffmpeg);
on a shared machine they are the steadier measure, and frames / CPU second is the rate the chain
would reach on one otherwise idle core (stages that use a second core run faster than that).
With --profile STAGE, that stage's cProfile statistics (cumulative, top 30) are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from vidcli.engine.stage import Artifact, Source, load_stage, planned_config

SHARED_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "hiphop_clip1.mp4"
STAGES = ("frames", "track", "masks", "keypoints", "camera", "scale")
UPSTREAM = {"frames": {"video": "video"}, "track": {"frames": "frames"},
            "masks": {"frames": "frames", "track": "track"}, "keypoints": {"frames": "frames", "track": "track"},
            "camera": {"frames": "frames", "masks": "masks"}, "scale": {"camera": "camera", "keypoints": "keypoints"}}
TARGET_FPS = 10.0


def render(path: Path, camera: str, duration: float, seed: int) -> Path:
    """A one-person 1280x720 synthetic clip, rendered unless it exists."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "vidcli", "-q", "synth", str(path), "--people", "1", "--camera", camera,
                        "--size", "1280x720", "--duration", str(duration), "--fps", "30", "--seed", str(seed)],
                       check=True)
    return path


def cpu_seconds() -> float:
    """CPU time of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_chain(video: Path, work: Path, profile: str | None) -> tuple[int, dict[str, tuple[float, float]]]:
    """Run every stage on `video`; (frame count, stage -> (wall seconds, CPU seconds))."""
    artifacts = {"video": Source(video, "benchmark")}
    times = {}
    for name in STAGES:
        stage = load_stage(name)
        out_dir = work / name
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        inputs = {port: artifacts[upstream] for port, upstream in UPSTREAM[name].items()}
        config = planned_config(stage, {})
        profiler = cProfile.Profile() if name == profile else None
        wall, cpu = time.perf_counter(), cpu_seconds()
        if profiler:
            profiler.enable()
        stage.run(config, inputs, out_dir)
        if profiler:
            profiler.disable()
        times[name] = (time.perf_counter() - wall, cpu_seconds() - cpu)
        artifacts[name] = Artifact(out_dir)
        if profiler:
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    from vidcli.io.frames import FrameSequence

    return len(FrameSequence(work / "frames")), times


def report(label: str, frames: int, times: dict[str, tuple[float, float]]) -> None:
    total_wall = sum(wall for wall, _ in times.values())
    total_cpu = sum(cpu for _, cpu in times.values())
    print(f"\n{label}: {frames} frames; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'stage':>10} {'wall s':>7} {'CPU s':>7} {'CPU ms/f':>8} {'fps wall':>8} {'fps CPU':>8} {'share':>6}")
    for name, (wall, cpu) in times.items():
        print(f"{name:>10} {wall:7.2f} {cpu:7.2f} {1000 * cpu / frames:8.1f} {frames / wall:8.1f} "
              f"{frames / max(cpu, 1e-9):8.1f} {100 * cpu / total_cpu:5.1f}%")
    print(f"{'total':>10} {total_wall:7.2f} {total_cpu:7.2f} {1000 * total_cpu / frames:8.1f} "
          f"{frames / total_wall:8.1f} {frames / total_cpu:8.1f}   (target >= {TARGET_FPS:g} frames/s)")
    slowest = max(times, key=lambda name: times[name][1])
    print(f"dominant stage: {slowest} ({100 * times[slowest][1] / total_cpu:.0f}% of the CPU time)")


def main() -> None:
    import mediapipe  # noqa: F401  (imported up front, so that no stage's time includes it)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vidcli-part1"))
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--camera", default="orbit")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--video", type=Path, action="append", default=None, help="extra video (default: hiphop)")
    parser.add_argument("--profile", choices=STAGES, help="print this stage's cProfile statistics")
    args = parser.parse_args()
    clip = render(args.workdir / f"{args.camera}-1280x720-{args.duration:g}s-s{args.seed}.mp4", args.camera,
                  args.duration, args.seed)
    videos = [clip] + (args.video if args.video is not None else [SHARED_VIDEO] if SHARED_VIDEO.is_file() else [])
    for video in videos:
        frames, times = run_chain(video, args.workdir / "work" / video.stem, args.profile)
        report(video.name, frames, times)


if __name__ == "__main__":
    main()
