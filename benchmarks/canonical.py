"""CoDeF canonical fields: reconstruction PSNR and fit time, and the temporal consistency of a propagated
edit against per-frame editing.

Usage: python benchmarks/canonical.py [--clips pan,synth,synth-layers,hiphop,hiphop-one-layer]
       [--iterations N] [--threads N] [--work DIR] [--png DIR]

Clips (3 s, fitted at 480 px on the longest side, settings otherwise the stage's defaults):
- `pan` (tuning split: settings were chosen on it): `examples/make_demo_clip.py`, a camera panning over a
  street photo;
- `synth` (held out): `vidcli synth --camera pan --size 480x270 --duration 3 --people 1 --flow --seed 3`,
  with its exact forward flow;
- `hiphop` (held out): ../shared/data/videos/hiphop_clip1.mp4, 1280x720 decoded at 480x270, the dancer in a
  layer of his own as docs/canonical.md recommends for a moving person, found by vidcli's perception
  (workflow `canonical_people`: the track and masks stages on the 480x270 frames);
- `hiphop-one-layer` (held out): the same clip fitted as one layer;
- `synth-layers` (held out): the synth clip fitted with its true masks, the person in a layer of its own
  (CoDeF's multi-layer variant, workflow `canonical_masks`).
Figures: the fit's PSNR over the whole reconstructed video (mean of frames, worst frame), the training
batches' PSNR along the fit (mean of each tenth of the iterations), the CPU seconds of the fit and of what
follows it (reconstructing every frame, the canonical images, the files), the fit's wall-clock seconds and
the load average beside them (the budget is counted in CPU seconds: see docs/canonical.md). Flow for the
flow-consistency term comes from vidcli's flow stage (DIS).
Temporal consistency (`synth` and `synth-layers`, whose true flow is known): every frame stylised
independently (`propagate.EDITS`, OpenCV's stylization) versus the canonical images stylised once and
propagated. The
warping error is mean |O_t(p) - O_t+1(p + F(p))| in 0-255 levels over the pixels p whose true flow F is
defined (not hidden in the next frame, landing inside it); the input video's own warping error is printed
beside it. `--png DIR` writes frames of both stylised videos side by side with the input.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CLIPS = ("pan", "synth", "synth-layers", "hiphop", "hiphop-one-layer")
SPLIT = {name: "tuning" if name == "pan" else "held out" for name in CLIPS}
CLIP_OF = {"synth-layers": "synth", "hiphop-one-layer": "hiphop"}
WORKFLOW = {"synth-layers": "canonical_masks", "hiphop": "canonical_people"}


def make_clip(name: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.mp4"
    if name == "hiphop":
        return DATA / "videos" / "hiphop_clip1.mp4"
    if path.is_file():
        return path
    if name == "pan":
        command = [sys.executable, str(ROOT / "examples" / "make_demo_clip.py"), str(path), "--seconds", "3"]
    else:
        command = [
            sys.executable,
            "-m",
            "vidcli",
            "synth",
            str(path),
            "--camera",
            "pan",
            "--size",
            "480x270",
            "--duration",
            "3",
            "--people",
            "1",
            "--flow",
            "--seed",
            "3",
        ]
    subprocess.run(command, check=True)
    return path


def fit(clip: Path, work: Path, iterations: int | None, workflow: str, masks: Path | None = None) -> Path:
    from vidcli.engine import run
    from vidcli.engine.pipeline import load_pipeline
    from vidcli.engine.store import Workspace

    overrides = {"frames": {"max_size": 480}}
    if iterations:
        overrides["canonical"] = {"iterations": iterations}
    sources = {"video": clip} if masks is None else {"video": clip, "masks": masks}
    pipeline = load_pipeline(workflow, overrides)
    report = run(pipeline, [sources], Workspace(work))
    if report.exit_code != 0:
        raise SystemExit(f"canonical failed on {clip}: {[o.detail for o in report.outcomes if o.detail]}")
    return Path(next(o.artifact for o in report.outcomes if o.stage == "canonical"))


def fit_figures(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    with open(folder / "psnr.csv") as f:
        per_frame = [float(row["psnr"]) for row in csv.DictReader(f)]
    with open(folder / "curve.csv") as f:
        batch = [float(row["batch_psnr"]) for row in csv.DictReader(f)]
    tenth = max(1, len(batch) // 10)
    counts = manifest["counts"]
    return {
        "psnr": float(np.mean(per_frame)),
        "worst": min(per_frame),
        "frames": len(per_frame),
        "fit_s": counts["fit_seconds"],
        "fit_cpu_s": counts["fit_cpu_seconds"],
        "render_cpu_s": counts["render_cpu_seconds"],
        "iterations": counts["iterations"],
        "curve": [round(float(np.mean(batch[i : i + tenth])), 1) for i in range(0, len(batch), tenth)][:10],
    }


def warping_error(video: np.ndarray, flows: list[np.ndarray]) -> float:
    """Mean |O_t(p) - O_t+1(p + F(p))| (0-255) over the pixels whose flow is defined and lands inside."""
    height, width = video.shape[1:3]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    errors = []
    for t, flow in enumerate(flows):
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        valid = (
            np.isfinite(flow).all(-1)
            & (map_x >= 0)
            & (map_x <= width - 1)
            & (map_y >= 0)
            & (map_y <= height - 1)
        )
        following = cv2.remap(
            video[t + 1].astype(np.float32), np.nan_to_num(map_x), np.nan_to_num(map_y), cv2.INTER_LINEAR
        )
        errors.append(np.abs(video[t].astype(np.float32) - following).mean(-1)[valid])
    return float(np.concatenate(errors).mean())


def consistency(folder: Path, clip: Path, png: Path | None) -> dict:
    from vidcli.canonical.propagate import EDITS, Propagation, builtin_edit, upstream_artifact
    from vidcli.io.flow import read_flo
    from vidcli.io.frames import FrameSequence

    frames = FrameSequence(upstream_artifact(folder, "frames"))
    size = frames.size
    video = np.stack([frames.read(t) for t in range(len(frames))])
    truth = sorted((clip.parent / f"{clip.name}.gt" / "flow").glob("*.flo"))
    flows = [read_flo(path) for path in truth][: len(video) - 1]
    if flows[0].shape[1::-1] != size:
        raise SystemExit(f"the true flow is {flows[0].shape[1::-1]}, the frames {size}")
    per_frame = np.stack([EDITS["stylize"](image) for image in video])
    propagation = Propagation(folder)
    edits = {i: builtin_edit(folder, "stylize", i) for i in range(propagation.layers)}
    propagated = np.stack([propagation.frame(video[t], edits, t) for t in range(len(video))])
    if png:
        png.mkdir(parents=True, exist_ok=True)
        tag = f"{propagation.layers}layer"
        for t in (0, len(video) // 2, len(video) - 1):
            row = np.hstack([video[t], per_frame[t], propagated[t]])
            cv2.imwrite(str(png / f"stylize_{tag}_{t:03d}.png"), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))
        for layer, edit in edits.items():
            cv2.imwrite(
                str(png / f"canonical_stylized_{tag}_{layer}.png"),
                cv2.cvtColor((edit[..., :3] * 255).astype(np.uint8), cv2.COLOR_RGB2BGR),
            )
    return {
        "input": warping_error(video, flows),
        "per_frame": warping_error(per_frame, flows),
        "propagated": warping_error(propagated, flows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--iterations", type=int, default=None, help="default: the stage's")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vidcli-canonical-bench"))
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("ANNY_CACHE_DIR", str(ROOT.parent / "main" / ".cache" / "anny"))
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # compiling in this process: counted in CPU-s
    import torch

    torch.set_num_threads(args.threads)
    print(
        f"torch threads {args.threads}; CPU-s count every thread of this process (time.process_time)\n"
        "| clip | split | frames | PSNR dB (mean / worst frame) | fit CPU-s | render CPU-s | fit wall s | "
        "load avg | iterations | batch PSNR by tenth of the fit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.clips.split(","):
        clip = make_clip(CLIP_OF.get(name, name), args.work / "clips")
        masks = clip.parent / f"{clip.name}.gt" / "masks.json" if name == "synth-layers" else None
        folder = fit(clip, args.work / "work", args.iterations, WORKFLOW.get(name, "canonical"), masks)
        r = fit_figures(folder)
        print(
            f"| {name} | {SPLIT[name]} | {r['frames']} | {r['psnr']:.2f} / {r['worst']:.2f} | "
            f"{r['fit_cpu_s']:.0f} | {r['render_cpu_s']:.0f} | {r['fit_s']:.0f} | {os.getloadavg()[0]:.1f} | "
            f"{r['iterations']} | {' '.join(map(str, r['curve']))} |",
            flush=True,
        )
        if name in ("synth", "synth-layers"):
            c = consistency(folder, clip, args.png)
            print(
                f"warping error under the true flow ({name}, 0-255 levels): input {c['input']:.2f}, "
                f"stylised per frame {c['per_frame']:.2f}, stylised canonical propagated "
                f"{c['propagated']:.2f} (ratio {c['propagated'] / c['per_frame']:.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
