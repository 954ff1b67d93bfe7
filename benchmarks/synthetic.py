"""The synthetic benchmark: render seeded clips with `vidcli synth`, run a pipeline on them, score
each with `vidcli eval`, and print a table of metrics and runtimes per split, with its means and targets.

Usage: python benchmarks/synthetic.py [--config SPLIT.yaml ...] [--workdir DIR] [--only NAME ...]
Without --config both splits run: benchmarks/synthetic.yaml (tuning: settings are chosen on it) and
benchmarks/heldout.yaml (held out: reported, never tuned on). Clips are rendered once into WORKDIR
(default ./vidcli-bench) and reused while their options match; pipeline stages are cached there too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

MOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "motion"
VIDCLI = [sys.executable, "-m", "vidcli"]
# `vidcli synth` options a clip may set (and shadow: true; size, else the config's)
SCENE_OPTIONS = ("scene", "noise", "loop", "crf", "height", "weight")
# (stage, metric key, column title, target) printed for each clip; a missing stage prints "-". The
# targets are issue #17's for the held-out split (docs/metrics.md); "" where a figure is context.
COLUMNS = [
    ("camera", "ate_pct", "ATE %", ""), ("scale", "scale_error_pct", "scale err %", "<=5"),
    ("camera", "focal_error_pct", "focal err %", "<=5"),
    ("track", "recall", "recall", ""), ("track", "recall_tall", "recall>=100px", ">=0.95"),
    ("track", "id_switches", "ID sw", "0"), ("track", "tracks_per_person", "tracks/person", "1"),
    ("track", "idf1", "IDF1", ""), ("keypoints", "error_px", "kp px", ""),
    ("keypoints", "size_ratio", "size ratio", ""),
    ("world", "pa_mpjpe_mm", "PA-MPJPE", "<=75"), ("world", "wa_mpjpe_mm", "WA-MPJPE", "<=110"),
    ("world", "w_mpjpe_mm", "W-MPJPE", "<=300"),
    ("world", "rte_pct", "RTE %", "<=3"), ("world", "jitter_10m_per_s3", "jitter", ""),
    ("world", "foot_skating_mm_per_frame", "skate mm", "<=8"), ("world", "gravity_deg", "gravity deg", "<=3"),
]
SPLITS = {"tuning": "synthetic.yaml", "held-out": "heldout.yaml"}
ORACLE_STAGES = {"track", "keypoints", "scale", "world"}  # the artifacts the oracle scripts read


def render(name: str, spec: dict, config: dict, workdir: Path) -> tuple[Path, float]:
    """The clip of one benchmark entry, rendered unless an identical render exists; (path, seconds)."""
    clip = workdir / "clips" / f"{name}.mp4"
    bvh = [str(MOTION / f) for f in spec.get("bvh", [])] if MOTION.is_dir() else []
    args = ["--people", str(spec["people"]), "--camera", spec["camera"], "--duration", str(spec["duration"]),
            "--size", spec.get("size", config["size"]), "--fps", str(config["fps"]),
            "--seed", str(spec["seed"])]
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
    directory, seconds each stage took when it ran, from the manifests, and each stage's artifact folder).
    A stage that fails raises a RuntimeError naming it."""
    from vidcli import console
    from vidcli.engine import run
    from vidcli.engine.pipeline import load_pipeline
    from vidcli.engine.store import Workspace

    console.setup(-1)
    report = run(load_pipeline(pipeline), [{"video": clip}], Workspace(workdir / "work"))
    if report.exit_code != 0:
        failed = [f"{o.stage}: {o.detail}" for o in report.outcomes if o.status != "ran" and o.detail]
        raise RuntimeError(f"{pipeline} failed on {clip.name}: {'; '.join(failed)}")
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


def value(report: dict, stage: str, key: str):
    """A metric of a `vidcli eval` report, None where the stage is missing or was not scored."""
    entry = report.get("stages", {}).get(stage, {})
    return entry.get("metrics", {}).get(key) if entry.get("status") == "ok" else None


def text(number) -> str:
    if number is None:
        return "-"
    return f"{number:.3g}" if isinstance(number, float) else str(number)


def benchmark_arguments(description: str, extra: list[tuple[str, dict]] = ()
                        ) -> tuple[argparse.Namespace, list[tuple[str, dict, list[tuple[str, dict]]]]]:
    """The arguments the benchmark scripts share (--config, repeatable, both splits by default;
    --workdir, --only) and a script's `extra` ones ((flag, add_argument keywords)): (arguments, and per
    split its name, its config and the (name, spec) of each clip to run)."""
    parser = argparse.ArgumentParser(description=description)
    for flag, keywords in extra:
        parser.add_argument(flag, **keywords)
    parser.add_argument("--config", type=Path, action="append",
                        help="a split's clip list [default: both, synthetic.yaml and heldout.yaml]")
    parser.add_argument("--workdir", type=Path, default=Path("vidcli-bench"))
    parser.add_argument("--only", nargs="*", help="clip names to run")
    args = parser.parse_args()
    args.workdir = args.workdir.absolute()
    paths = args.config or [Path(__file__).with_name(name) for name in SPLITS.values()]
    if not MOTION.is_dir():
        print(f"note: {MOTION} is absent; every clip uses the built-in walk")
    splits = []
    for path in paths:
        config = yaml.safe_load(path.read_text())
        clips = [(name, spec) for name, spec in config["clips"].items() if not args.only or name in args.only]
        split = next((name for name, file in SPLITS.items() if path.name == file), path.stem)
        splits.append((split, config, clips))
    return args, splits


def mocap_runs(args: argparse.Namespace, splits: list[tuple[str, dict, list[tuple[str, dict]]]]):
    """For the oracle scripts: each clip of each split rendered and run through the mocap pipeline, or
    another that reaches its world stage (as one without the export stage does), cached, as (split,
    config, name, spec, each stage's artifact folder, the ground truth folder)."""
    from vidcli.engine.pipeline import load_pipeline

    for split, config, clips in splits:
        if not ORACLE_STAGES <= set(load_pipeline(config["pipeline"]).stages):
            raise SystemExit(f"{split}: the oracle needs the stages {', '.join(sorted(ORACLE_STAGES))}; "
                             f"pipeline {config['pipeline']} lacks some")
        for name, spec in clips:
            clip, _ = render(name, spec, config, args.workdir)
            _, _, artifacts = run_pipeline(config["pipeline"], clip, args.workdir)
            yield split, config, name, spec, artifacts, Path(f"{clip}.gt")


def camera_motion(artifacts: dict) -> str:
    """What the camera stage made of the camera (its manifest's `motion` count), or "-"."""
    if "camera" not in artifacts:
        return "-"
    return json.loads((artifacts["camera"] / "manifest.json").read_text())["counts"].get("motion", "-")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths)))


def clip_row(name: str, spec: dict, config: dict, workdir: Path) -> tuple[list[str], list]:
    """One clip rendered, run and scored: (its leading cells, its COLUMNS values); a failed run leaves
    the values None and says why in the camera cell."""
    clip, synth_s = render(name, spec, config, workdir)
    try:
        input_dir, stages, artifacts = run_pipeline(config["pipeline"], clip, workdir)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return [name, f"{synth_s:.1f}", "-", "FAILED"], [None] * len(COLUMNS)
    report = evaluate(input_dir, clip)
    frames = int(spec["duration"] * config["fps"])
    print(f"{name}: stage seconds {json.dumps(stages)}", file=sys.stderr, flush=True)
    return ([name, f"{synth_s:.1f}", f"{frames / sum(stages.values()):.1f}", camera_motion(artifacts)],
            [value(report, stage, key) for stage, key, _, _ in COLUMNS])


def split_summary(values: list[list]) -> tuple[list[str], list[str]]:
    """The mean over the clips of each column (of those that have it), and how many clips meet each
    column's target."""
    means, meeting = [], []
    for column, (_, _, _, target) in enumerate(COLUMNS):
        numbers = [row[column] for row in values if isinstance(row[column], (int, float))]
        means.append(text(float(np.mean(numbers))) if numbers else "-")
        met = sum(meets(n, target) for n in numbers) if target else 0
        meeting.append(f"{met}/{len(numbers)}" if target and numbers else "")
    return means, meeting


def meets(number: float, target: str) -> bool:
    """Whether `number` meets a target written "<=5", ">=0.95" or "1" (exactly)."""
    if target.startswith("<="):
        return number <= float(target[2:])
    if target.startswith(">="):
        return number >= float(target[2:])
    return number == float(target)


def main() -> None:
    args, splits = benchmark_arguments(__doc__.splitlines()[0])
    header = ["clip", "synth s", "stages fps", "camera"] + [title for _, _, title, _ in COLUMNS]
    for split, config, clips in splits:
        scored = [clip_row(name, spec, config, args.workdir) for name, spec in clips]
        means, meeting = split_summary([values for _, values in scored])
        print(f"\n{split} split: {len(clips)} clips, pipeline {config['pipeline']}   ('-': the stage is not "
              "in the pipeline, has no ground truth, or the figure is undefined, e.g. a scale without camera "
              "motion)")
        rows = [cells + [text(v) for v in values] for cells, values in scored]
        rows += [["mean", "", "", ""] + means, ["clips meeting", "", "", ""] + meeting,
                 ["target", "", "", ""] + [target for _, _, _, target in COLUMNS]]
        print_table(header, rows)


if __name__ == "__main__":
    main()
