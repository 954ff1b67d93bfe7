"""The synthetic benchmark: render seeded clips with `vidcli synth`, run a pipeline on them, score
each with `vidcli eval`, and print one table of metrics and runtimes.

Usage: python benchmarks/synthetic.py [--config benchmarks/synthetic.yaml] [--workdir DIR] [--only NAME ...]
Clips are rendered once into WORKDIR (default ./vidcli-bench) and reused while their options match.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

MOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "motion"
VIDCLI = [sys.executable, "-m", "vidcli"]
SCENE_OPTIONS = ("scene", "noise", "loop", "crf")  # `vidcli synth` options a clip may set (and shadow: true)
# (stage, metric key, column title) printed for each clip; a missing stage prints "-".
COLUMNS = [
    ("camera", "ate_pct", "ATE %"), ("scale", "scale_error_pct", "scale err %"),
    ("track", "recall", "recall"), ("track", "recall_tall", "recall>=100px"),
    ("track", "id_switches", "ID sw"), ("keypoints", "error_px", "kp px"),
    ("keypoints", "size_ratio", "size ratio"),
    ("world", "pa_mpjpe_mm", "PA-MPJPE"), ("world", "wa_mpjpe_mm", "WA-MPJPE"),
    ("world", "w_mpjpe_mm", "W-MPJPE"),
    ("world", "rte_pct", "RTE %"), ("world", "jitter_10m_per_s3", "jitter"),
    ("world", "foot_skating_mm_per_frame", "skate mm"),
]


def render(name: str, spec: dict, config: dict, workdir: Path) -> tuple[Path, float]:
    """The clip of one benchmark entry, rendered unless an identical render exists; (path, seconds)."""
    clip = workdir / "clips" / f"{name}.mp4"
    bvh = [str(MOTION / f) for f in spec.get("bvh", [])] if MOTION.is_dir() else []
    args = ["--people", str(spec["people"]), "--camera", spec["camera"], "--duration", str(spec["duration"]),
            "--size", config["size"], "--fps", str(config["fps"]), "--seed", str(spec["seed"])]
    args += [a for path in bvh for a in ("--bvh", path)]
    args += [a for key in SCENE_OPTIONS if key in spec for a in (f"--{key}", str(spec[key]))]
    args += ["--shadow"] if spec.get("shadow") else []
    stamp = clip.with_suffix(".args.json")
    if clip.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == args:
        return clip, 0.0
    clip.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run(VIDCLI + ["-q", "synth", str(clip)] + args, check=True)
    stamp.write_text(json.dumps(args))
    return clip, time.perf_counter() - start


def run_pipeline(pipeline: str, clip: Path, workdir: Path) -> tuple[Path, dict, dict]:
    """Run the pipeline on a clip through the engine (cached stages are reused); (its workspace input
    directory, seconds each stage took when it ran, from the manifests, and each stage's artifact folder)."""
    from vidcli import console
    from vidcli.engine import run
    from vidcli.engine.pipeline import load_pipeline
    from vidcli.engine.store import Workspace

    console.setup(-1)
    report = run(load_pipeline(pipeline), [{"video": clip}], Workspace(workdir / "work"))
    if report.exit_code != 0:
        failed = [f"{o.stage}: {o.detail}" for o in report.outcomes if o.status != "ran" and o.detail]
        raise SystemExit(f"{pipeline} failed on {clip}: {'; '.join(failed)}")
    artifacts = {o.stage: Path(o.artifact) for o in report.outcomes}
    input_dir = next(iter(artifacts.values())).parent.parent
    stages = {stage: json.loads((path / "manifest.json").read_text())["seconds"]
              for stage, path in artifacts.items()}
    return input_dir, stages, artifacts


def evaluate(input_dir: Path, clip: Path) -> dict:
    """`vidcli eval` of the run; {} when the run has none of the scored stages (eval exits 3)."""
    out = input_dir.with_name(input_dir.name + ".eval.json")
    proc = subprocess.run(VIDCLI + ["-q", "eval", str(input_dir), str(clip) + ".gt", "--json-out", str(out)],
                          capture_output=True, text=True)
    if proc.returncode == 3 and "holds no" in proc.stderr:
        return {}
    if proc.returncode != 0:
        raise SystemExit(f"vidcli eval failed:\n{proc.stderr}")
    return json.loads(out.read_text())


def cell(report: dict, stage: str, key: str) -> str:
    entry = report.get("stages", {}).get(stage, {})
    value = entry.get("metrics", {}).get(key) if entry.get("status") == "ok" else None
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def benchmark_arguments(description: str, extra: list[tuple[str, dict]] = ()
                        ) -> tuple[argparse.Namespace, dict, list[tuple[str, dict]]]:
    """The arguments the benchmark scripts share (--config, --workdir, --only) and a script's `extra`
    ones ((flag, add_argument keywords)): (arguments, the benchmark config, the (name, spec) of each
    clip to run)."""
    parser = argparse.ArgumentParser(description=description)
    for flag, keywords in extra:
        parser.add_argument(flag, **keywords)
    parser.add_argument("--config", type=Path, default=Path(__file__).with_name("synthetic.yaml"))
    parser.add_argument("--workdir", type=Path, default=Path("vidcli-bench"))
    parser.add_argument("--only", nargs="*", help="clip names to run")
    args = parser.parse_args()
    args.workdir = args.workdir.absolute()
    config = yaml.safe_load(args.config.read_text())
    if not MOTION.is_dir():
        print(f"note: {MOTION} is absent; every clip uses the built-in walk")
    clips = [(name, spec) for name, spec in config["clips"].items() if not args.only or name in args.only]
    return args, config, clips


def mocap_runs(args: argparse.Namespace, config: dict, clips: list[tuple[str, dict]]):
    """For the oracle scripts: each clip rendered and run through the mocap pipeline (cached), as
    (name, spec, each stage's artifact folder, the ground truth folder)."""
    if config["pipeline"] != "mocap":
        raise SystemExit(f"{args.config}: the oracle needs the mocap pipeline, not {config['pipeline']}")
    for name, spec in clips:
        clip, _ = render(name, spec, config, args.workdir)
        _, _, artifacts = run_pipeline(config["pipeline"], clip, args.workdir)
        yield name, spec, artifacts, Path(f"{clip}.gt")


def camera_motion(artifacts: dict) -> str:
    """What the camera stage made of the camera (its manifest's `motion` count), or "-"."""
    if "camera" not in artifacts:
        return "-"
    return json.loads((artifacts["camera"] / "manifest.json").read_text())["counts"].get("motion", "-")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths)))


def main() -> None:
    args, config, clips = benchmark_arguments(__doc__.splitlines()[0])
    rows = []
    for name, spec in clips:
        clip, synth_s = render(name, spec, config, args.workdir)
        input_dir, stages, artifacts = run_pipeline(config["pipeline"], clip, args.workdir)
        report = evaluate(input_dir, clip)
        frames = int(spec["duration"] * config["fps"])
        rows.append([name, f"{synth_s:.1f}", f"{frames / sum(stages.values()):.1f}", camera_motion(artifacts)]
                    + [cell(report, s, k) for s, k, _ in COLUMNS])
        print(f"{name}: stage seconds {json.dumps(stages)}", file=sys.stderr)
    print(f"pipeline: {config['pipeline']}   ('-': the stage is not in the pipeline or has no ground truth)")
    print_table(["clip", "synth s", "stages fps", "camera"] + [title for _, _, title in COLUMNS], rows)


if __name__ == "__main__":
    main()
