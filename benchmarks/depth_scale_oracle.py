"""The `depth` scale backend's fit with rendered depth standing in for the metric depth network.

Usage: python benchmarks/depth_scale_oracle.py [--config FILE ...] [--draws N]
For each clip of the synthetic benchmark files (benchmarks/synthetic.yaml: the tuning clips,
benchmarks/heldout.yaml: the held-out ones) whose camera moves, the scene is re-created and every
KEYFRAME_STEP-th frame rendered. The reconstruction is exact but in units TRUE_CAMERA_SHRINK times larger
than metres: its inverse depths are the rendered ones averaged over GRID_CELL-pixel cells (people and sky
left out), as the camera stage's depth.npz holds them. The network is the true depth on that grid degraded
to a published error: noise model d * exp(b + e), b ~ N(0, s) one per keyframe (the network's scale
error on that image) and e ~ N(0, s) one per cell, with s = AbsRel / (sqrt(2) * sqrt(2 / pi)) so that the
expected |d_hat - d| / d is the AbsRel. Each keyframe gives TRAM's fit (`vidcli.slam.metric_scale`),
combined as the scale stage combines samples. Printed per clip and error level: the mean absolute scale
error (%) over N noise draws, and the stage's spread (robust std of the log samples, its confidence
input) of the first draw. The reconstruction's own errors (focal, drift) are not part of this oracle."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import MOTION, print_table  # noqa: E402

from vidcli.slam.metric_scale import fit_depth_scale  # noqa: E402
from vidcli.stages.scale import robust_scale  # noqa: E402

TRUE_CAMERA_SHRINK = 10.0
KEYFRAME_STEP = 5
GRID_CELL = 8
# AbsRel levels: ZoeDepth ZoeD-M12-N on NYU Depth v2 0.075 (Bhat et al. 2023, Table 1), Depth Anything
# (V1, fine-tuned on NYU) 0.056 (Yang et al. 2024, Table 3); 0.10 and 0.15 for scenes unlike the training data
LEVELS = (("DA NYU 0.056", 0.056), ("ZoeD NYU 0.075", 0.075), ("0.10", 0.10), ("0.15", 0.15))
HERE = Path(__file__).resolve().parent


def keyframe_grids(spec: dict, config: dict):
    """(inverse depth grids in reconstruction units, confidence grids) of a clip's keyframes."""
    from vidcli.synth.generate import Synthesis, SynthOptions
    from vidcli.synth.groundtruth import inverse_depth_grid

    width, height = (int(v) for v in config["size"].lower().split("x"))
    bvh = [MOTION / f for f in spec.get("bvh", [])] if MOTION.is_dir() else []
    scene = Synthesis(SynthOptions(duration=spec["duration"], width=width, height=height, fps=config["fps"],
                                   seed=spec["seed"], people=spec["people"], camera=spec["camera"], bvh=bvh))
    if np.ptp(scene.t_wc, axis=0).max() == 0:
        return None
    grids = [inverse_depth_grid(scene.render(frame), GRID_CELL)
             for frame in range(0, len(scene.t_wc), KEYFRAME_STEP)]
    return [inverse * TRUE_CAMERA_SHRINK for inverse, _ in grids], [confidence for _, confidence in grids]


def oracle_scale(inverse, confidence, abs_rel: float, rng) -> tuple[float, float] | None:
    """(scale error %, spread) of one noise draw."""
    sigma = abs_rel / (math.sqrt(2) * math.sqrt(2 / math.pi))
    samples = []
    for inv, conf in zip(inverse, confidence):
        usable = (conf >= 0.5) & (inv > 0)
        slam = np.where(usable, 1 / np.where(usable, inv, 1), 0)
        metric = slam * TRUE_CAMERA_SHRINK * np.exp(rng.normal(0, sigma) + rng.normal(0, sigma, inv.shape))
        scale = fit_depth_scale(slam, metric, usable)
        if scale is not None:
            samples.append(scale)
    if not samples:
        return None
    scale, spread = robust_scale(np.log(samples))
    return 100 * (scale / TRUE_CAMERA_SHRINK - 1), spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", type=Path,
                        default=[HERE / "synthetic.yaml", HERE / "heldout.yaml"])
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    rows = []
    for path in args.config:
        config = yaml.safe_load(path.read_text())
        for name, spec in config["clips"].items():
            grids = keyframe_grids(spec, config)
            if grids is None:
                continue  # a camera that does not change position needs no scale
            cells = []
            for _, abs_rel in LEVELS:
                rng = np.random.default_rng(0)
                draws = [oracle_scale(*grids, abs_rel, rng) for _ in range(args.draws)]
                errors = [abs(d[0]) for d in draws if d is not None]
                spread = draws[0][1] if draws[0] else float("nan")
                cells.append(f"{np.mean(errors):.2f} ({spread:.3f})")
            rows.append([f"{name} ({path.stem})", str(len(grids[0]))] + cells)
            print(" ".join(rows[-1]), file=sys.stderr, flush=True)
    print(f"Mean |scale error| % over {args.draws} draws (spread of the first draw), per AbsRel level")
    print_table(["clip", "keyframes"] + [title for title, _ in LEVELS], rows)


if __name__ == "__main__":
    main()
