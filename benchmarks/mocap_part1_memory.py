"""Peak memory of the first half of the mocap pipeline (frames, track, masks, keypoints, camera, scale)
on a one-minute 1080p clip: each stage runs in its own process, and its peak resident set is reported.

Usage: python benchmarks/mocap_part1_memory.py [--workdir DIR] [--seconds 60] [--source PATH]

The clip is made cheaply with the bundled ffmpeg: a one-person synthetic 1280x720 orbit clip (rendered
with `vidcli synth` unless --source names a video) played forwards then backwards, so that the camera
moves on without a cut, looped to --seconds and scaled to 1920x1080. It is made once into WORKDIR
(default /tmp/vidcli-part1-memory) and reused. Each stage runs through its `run` function with
default settings in a child process (`python THIS --stage NAME`); the peak resident set comes from
the child's resource usage (os.wait4). The target is below 2 GB for every stage. The camera stage's
verdict (moving, rotation, static or unobservable) and keyframes are printed as it ends; `--source` with
a `vidcli synth --scene plain` clip measures a plain studio backdrop.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("frames", "track", "masks", "keypoints", "camera", "scale")
UPSTREAM = {"frames": {"video": "video"}, "track": {"frames": "frames"},
            "masks": {"frames": "frames", "track": "track"}, "keypoints": {"frames": "frames", "track": "track"},
            "camera": {"frames": "frames", "masks": "masks"}, "scale": {"camera": "camera", "keypoints": "keypoints"}}
TARGET_GIB = 2.0


def make_clip(out: Path, source: Path | None, seconds: float) -> Path:
    """A `seconds` long 1920x1080 clip: `source` (or a synthetic orbit) forwards and backwards, looped."""
    from vidcli.io.video import ffmpeg_exe

    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        source = out.with_name("orbit-1280x720-8s.mp4")
        if not source.is_file():
            subprocess.run([sys.executable, "-m", "vidcli", "-q", "synth", str(source), "--people", "1", "--camera",
                            "orbit", "--size", "1280x720", "--duration", "8", "--fps", "30", "--seed", "7"], check=True)
    there_and_back = out.with_name("there-and-back.mp4")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-filter_complex",
                    "[0:v]scale=1920:1080,split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1:a=0",
                    "-an", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(there_and_back)], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(there_and_back),
                    "-t", str(seconds), "-c", "copy", str(out)], check=True)
    there_and_back.unlink()
    return out


def run_stage(name: str, work: Path, video: Path) -> None:
    """Run one stage on the artifacts of the stages before it (child process side)."""
    from vidcli.engine.stage import Artifact, Source, load_stage, planned_config

    stage = load_stage(name)
    inputs = {port: Source(video, "benchmark") if upstream == "video" else Artifact(work / upstream)
              for port, upstream in UPSTREAM[name].items()}
    config = planned_config(stage, {})
    info = stage.run(config, inputs, work / name)
    if name == "camera":
        counts = info.counts
        print(f"{'':>10} camera: {counts['motion']}, {counts['keyframes']} keyframes, "
              f"{counts['textured_frames']} of {counts['frames']} frames with a textured background", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vidcli-part1-memory"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--source", type=Path, help="video to loop instead of a synthetic orbit clip")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # child process: run this stage
    parser.add_argument("--video", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.workdir / "work"
    if args.stage:
        run_stage(args.stage, work, args.video)
        return

    video = make_clip(args.workdir / f"loop-1920x1080-{args.seconds:g}s.mp4", args.source, args.seconds)
    print(f"clip: {video} ({args.seconds:g} s, 1920x1080)")
    print(f"{'stage':>10} {'seconds':>8} {'peak RSS MiB':>12}")
    peaks = {}
    for name in STAGES:
        out_dir = work / name
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, __file__, "--workdir", str(args.workdir), "--stage", name,
                                  "--video", str(video)], stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"the {name} stage failed (exit {os.waitstatus_to_exitcode(status)})")
        peaks[name] = usage.ru_maxrss / 1024  # KiB on Linux
        print(f"{name:>10} {time.perf_counter() - start:8.1f} {peaks[name]:12.0f}", flush=True)
    worst = max(peaks, key=peaks.get)
    verdict = "within" if peaks[worst] < TARGET_GIB * 1024 else "OVER"
    print(f"largest: {worst}, {peaks[worst] / 1024:.2f} GiB ({verdict} the {TARGET_GIB:g} GB target)")


if __name__ == "__main__":
    main()
