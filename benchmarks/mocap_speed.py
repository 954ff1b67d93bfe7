"""Speed and memory of the mocap pipeline: frames per second of each stage and of the whole chain, and
the peak resident memory, on a synthetic 720p clip of one walking person.

Usage: python benchmarks/mocap_speed.py [--workdir DIR] [--duration S] [--size WxH] [--camera PATH]
    [--scene SCENE] [--loop S] [--noise SIGMA]
The clip (default 10 s: long enough that loading the models, about 4 s, does not decide the figure;
`--duration 4` shows it) is rendered once into WORKDIR (default ./vidcli-speed) and reused (the
render is not timed). The minute-long clips of docs/mocap.md: `--duration 60 --loop 6` with
`--camera static --scene plain --noise 2` (a walker going back and forth before a plain studio
backdrop) or the default handheld camera in the textured scene. Every run uses a fresh workspace, so
every stage is timed. Stage times come from the manifests; the peak memory is the largest resident
set of the `vidcli run` process (one Luigi worker runs the stages in-process), and its CPU time is
reported beside the wall time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

VIDCLI = [sys.executable, "-m", "vidcli"]
TARGET_FPS = 6.0
# Runs a command and prints, after its output, its peak resident memory (MiB) and CPU seconds: the
# only child of this wrapper is the command, so the children's usage is the command's.
_MEASURE = """
import json, resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(); print(json.dumps([usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime]))
sys.exit(code)
"""


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
    args.workdir = args.workdir.resolve()  # the workflow file names the clip by this path
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
    workspace = args.workdir / "work"
    shutil.rmtree(workspace, ignore_errors=True)
    workflow = args.workdir / "speed.workflow.yaml"
    workflow.write_text(yaml.safe_dump({"pipeline": "mocap", "inputs": [str(clip)],
                                        "workspace": str(workspace)}))

    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *VIDCLI, "--json", "run", str(workflow)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the mocap pipeline failed:\n{proc.stderr}")
    output, usage = proc.stdout.rsplit("\n", 2)[:2]
    peak_mib, cpu = json.loads(usage)
    results = json.loads(output)["results"]
    frames = json.loads((Path(next(r["artifact"] for r in results if r["stage"] == "frames")) / "index.json")
                        .read_text())["count"]
    manifests = {r["stage"]: json.loads((Path(r["artifact"]) / "manifest.json").read_text()) for r in results}
    seconds = {stage: manifest["seconds"] for stage, manifest in manifests.items()}

    print(f"clip: {clip.name}, {frames} frames")
    print(f"{'stage':>10}  {'seconds':>8}  {'frames/s':>8}")
    for stage, value in seconds.items():
        print(f"{stage:>10}  {value:8.2f}  {frames / max(value, 1e-9):8.1f}")
    total = sum(seconds.values())
    print(f"{'stages':>10}  {total:8.2f}  {frames / total:8.1f}   (target >= {TARGET_FPS:g} frames/s)")
    print(f"{'wall':>10}  {wall:8.2f}  {frames / wall:8.1f}   (with process start and scheduling)")
    print(f"{'cpu':>10}  {cpu:8.2f}  {frames / cpu:8.1f}   (CPU seconds: about the wall time when idle)")
    print(f"peak resident memory: {peak_mib:.0f} MiB")
    camera = manifests["camera"]["counts"]
    print(f"camera: {camera['motion']}, {camera['keyframes']} keyframes, {camera['textured_frames']} of "
          f"{frames} frames with a textured background; {seconds['camera'] / seconds['track']:.2f} times "
          f"the track stage's time")


if __name__ == "__main__":
    main()
