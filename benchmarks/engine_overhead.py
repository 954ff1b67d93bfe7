"""Engine overhead: a no-op rerun of a finished three-stage pipeline (whole `vidcli` process), and
`vidcli plan` over a workflow of 1,000 inputs whose artifacts are complete.

Goals: no-op rerun under 1.5 s; plan of 1,000 inputs under 10 s.
Usage: python benchmarks/engine_overhead.py [--inputs 1000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

from vidcli.engine.pipeline import load_pipeline
from vidcli.engine.plan import build_plan
from vidcli.engine.store import Workspace, write_json_durably

VIDCLI = [sys.executable, "-m", "vidcli"]


def timed(command: list[str], repeats: int = 5) -> float:
    """Best wall time of a command over a few runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def fake_complete_workspace(root: Path, videos: list[Path]) -> None:
    """Mark every node of the flow pipeline complete for each video (manifest only, no payload)."""
    workspace = Workspace(root)
    for plan in build_plan(load_pipeline("flow"), [{"video": v} for v in videos], workspace):
        for node in plan.nodes.values():
            artifact = root / node.rel
            artifact.mkdir(parents=True, exist_ok=True)
            write_json_durably(artifact / "manifest.json", {"stage": node.stage, "upstream": node.upstream_ids})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vidcli-bench-"))
    try:
        clip = tmp / "clip.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        "testsrc2=size=320x240:rate=25:duration=2", "-pix_fmt", "yuv420p", str(clip)], check=True)
        work = tmp / "work"
        subprocess.run(VIDCLI + ["--workspace", str(work), "-q", "flow", str(clip)], check=True)
        noop = timed(VIDCLI + ["--workspace", str(work), "-q", "flow", str(clip)])
        startup = timed(VIDCLI + ["--version"])

        folder = tmp / "videos"
        folder.mkdir()
        for i in range(args.inputs):
            (folder / f"v{i:04d}.mp4").write_bytes(f"video {i}".encode() * 100)
        plan_work = tmp / "plan-work"
        fake_complete_workspace(plan_work, sorted(folder.iterdir()))
        workflow = tmp / "wf.yaml"
        workflow.write_text(f"pipeline: flow\ninputs: [videos/]\nworkspace: {plan_work}\n")
        plan = timed(VIDCLI + ["--json", "plan", str(workflow)], repeats=3)
        shutil.rmtree(plan_work / ".vidcli" / "hashes")
        cold = timed(VIDCLI + ["--json", "plan", str(workflow)], repeats=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'measure':44s} {'seconds':>8s} {'goal':>6s}")
    print(f"{'python -m vidcli --version (startup)':44s} {startup:8.2f}")
    print(f"{'no-op rerun, 3-stage flow pipeline':44s} {noop:8.2f} {'< 1.5':>6s}")
    print(f"{f'plan, {args.inputs} complete inputs (hashes cached)':44s} {plan:8.2f} {'< 10':>6s}")
    print(f"{f'plan, {args.inputs} complete inputs (cold hash cache)':44s} {cold:8.2f}")


if __name__ == "__main__":
    main()
