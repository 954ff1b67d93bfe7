"""Speed and memory of the mocap pipeline: frames per second of each stage and of the whole chain, and
the peak resident memory, on a synthetic 720p clip of one walking person.

Usage: python benchmarks/mocap_speed.py [--workdir DIR] [--duration S] [--size WxH] [--camera PATH]
    [--scene SCENE] [--loop S] [--noise SIGMA]
The clip (default 10 s: long enough that loading the models, about 4 s, does not decide the figure;
`--duration 4` shows it) is rendered once into WORKDIR (default ./vidcli-speed) and reused (the
render is not timed). The minute-long clips of docs/mocap.md: `--duration 60 --loop 6` with
`--camera static --scene plain --noise 2` (a walker going back and forth before a plain studio
backdrop) or the default handheld camera in the textured scene. Every run uses a fresh workspace, so
every stage is timed. Stage times come from the manifests; the engine runs in this process (one Luigi
worker runs the stages in-process), so the peak memory is this process's largest resident set, and
its CPU time is reported beside the wall time. Each stage's CPU seconds (this process's threads and
the subprocesses it waited for, ffmpeg's encoder included) are measured around its `run`: on a shared
machine the wall time depends on the load, the CPU time much less; the 1-minute load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

VIDCLI = [sys.executable, "-m", "vidcli"]
TARGET_FPS = 6.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("vidcli-speed"))
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--camera", default="handheld", help="vidcli synth's camera path")
    parser.add_argument("--scene", default="textured", help="vidcli synth's scene")
    parser.add_argument("--loop", type=float, default=0.0, help="vidcli synth's --loop (seconds)")
    parser.add_argument("--noise", type=float, default=0.0, help="vidcli synth's sensor noise")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    clip = args.workdir / (f"walk-{args.size}-{args.duration:g}s.mp4" if args.scene == "textured" and
                           args.camera == "handheld" and not args.loop and not args.noise else
                           f"{args.scene}-{args.camera}-{args.size}-{args.duration:g}s-loop{args.loop:g}"
                           f"-noise{args.noise:g}.mp4")
    if not clip.is_file():
        clip.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(VIDCLI + ["-q", "synth", str(clip), "--people", "1", "--camera", args.camera,
                                 "--size", args.size, "--duration", str(args.duration), "--fps", "30",
                                 "--seed", "7", "--scene", args.scene, "--loop", str(args.loop),
                                 "--noise", str(args.noise)], check=True)
    from vidcli import console
    from vidcli.engine import run
    from vidcli.engine.pipeline import load_pipeline
    from vidcli.engine.store import Workspace

    workspace = args.workdir / "work"
    shutil.rmtree(workspace, ignore_errors=True)
    console.setup(-1)
    pipeline = load_pipeline("mocap")
    cpu_seconds: dict[str, float] = {}
    for name, spec in pipeline.stages.items():
        spec.module.run = _cpu_timed(spec.module.run, name, cpu_seconds)
    load_before, cpu_start = os.getloadavg()[0], _cpu_now()  # after the clip's render, which is not timed
    start = time.perf_counter()
    report = run(pipeline, [{"video": clip}], Workspace(workspace))
    wall = time.perf_counter() - start
    if report.exit_code != 0:
        raise SystemExit(f"the mocap pipeline failed: {[o.detail for o in report.outcomes if o.detail]}")
    peak_mib, cpu = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _cpu_now() - cpu_start
    artifacts = {o.stage: Path(o.artifact) for o in report.outcomes}
    frames = json.loads((artifacts["frames"] / "index.json").read_text())["count"]
    manifests = {stage: json.loads((path / "manifest.json").read_text()) for stage, path in artifacts.items()}
    seconds = {stage: manifest["seconds"] for stage, manifest in manifests.items()}

    print(f"clip: {clip.name}, {frames} frames")
    print(f"{'stage':>10}  {'seconds':>8}  {'frames/s':>8}  {'CPU s':>8}")
    for stage, value in seconds.items():
        print(f"{stage:>10}  {value:8.2f}  {frames / max(value, 1e-9):8.1f}  {cpu_seconds[stage]:8.2f}")
    total = sum(seconds.values())
    print(f"{'stages':>10}  {total:8.2f}  {frames / total:8.1f}  {sum(cpu_seconds.values()):8.2f}   "
          f"(target >= {TARGET_FPS:g} frames/s)")
    print(f"{'wall':>10}  {wall:8.2f}  {frames / wall:8.1f}   (with planning and scheduling)")
    print(f"{'cpu':>10}  {cpu:8.2f}  {frames / cpu:8.1f}   (with ffmpeg's: at most 2 a wall second on 2 cores)")
    print(f"peak resident memory: {peak_mib:.0f} MiB; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (2 cores: above 2, other jobs share them)")
    camera = manifests["camera"]["counts"]
    print(f"camera: {camera['motion']}, {camera['keyframes']} keyframes, {camera['textured_frames']} of "
          f"{frames} frames with a textured background; {seconds['camera'] / seconds['track']:.2f} times "
          f"the track stage's time")


def _cpu_timed(run_stage, name: str, cpu_seconds: dict[str, float]):
    """`run_stage` recording its CPU seconds into `cpu_seconds[name]`."""
    def timed(*args, **kwargs):
        start = _cpu_now()
        try:
            return run_stage(*args, **kwargs)
        finally:
            cpu_seconds[name] = _cpu_now() - start
    return timed


def _cpu_now() -> float:
    """CPU seconds of this process's threads and of the subprocesses it has waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
