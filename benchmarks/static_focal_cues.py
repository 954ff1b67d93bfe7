"""What tells a still camera's focal length on the benchmark's static clips, and what the camera stage picks.

Usage: python benchmarks/static_focal_cues.py [--config SPLIT.yaml ...] [--workdir DIR] [--only NAME ...]
Clips are rendered as `benchmarks/synthetic.py` does (sharing its WORKDIR and cache) and run through the
pipeline's stages up to the camera stage; clips whose true camera moves are left out. Per static clip:

- how far the people move in depth and across (metres, their pelvis in the true camera frame): people
  seen at one depth leave the focal unobservable from them (weak perspective);
- the people fit (`vidcli.slam.people_focal`) on the keypoints stage's 2D keypoints, and on the exact
  projections of the true BlazePose joints (no keypoint noise: the fit's model alone): focal error %
  and the fit's own relative standard deviation %; and, as an upper bound for any gait-aware model, the
  same fit on exact hips alone over the true ground point straight below them (a runner's or walker's
  shoulders lean ahead of the hips, their soles lift and straddle: no model of them can beat this);
- scene lines (`vidcli.slam.lines_focal`) on the median of 15 frames: segments found, the three
  orthogonal vanishing points' fit (error %, std %, segments per direction), and the floor's square grid
  fitted on them (error %, std %, tile side in camera heights, how periodic the segments across and
  along the view are at it), with the CPU seconds of the lines and grid fits together;
- what `camera.focal=auto` gave: the camera stage's focal error % and its manifest's focal_source.

CPU seconds are `time.process_time()` of this process (all its threads) with the load average beside
them: the machine may be shared.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import benchmark_arguments, print_table, render  # noqa: E402

from vidcli.body.skeletons import BLAZEPOSE_33  # noqa: E402
from vidcli.io.camera import CAMERA_NPZ, read_camera  # noqa: E402
from vidcli.io.frames import FrameSequence  # noqa: E402
from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints  # noqa: E402
from vidcli.slam.lines_focal import (fit_floor_grid, fit_lines_focal, line_segments,  # noqa: E402
                                     median_background)
from vidcli.slam.people_focal import fit_people_focal, upright_points  # noqa: E402


def through_camera(pipeline_name: str, clip: Path, workdir: Path) -> dict[str, Path]:
    """Each stage's artifact folder, the pipeline run (cached) up to its camera stage only."""
    from vidcli import console
    from vidcli.engine import run
    from vidcli.engine.pipeline import load_pipeline
    from vidcli.engine.store import Workspace

    console.setup(-1)
    pipeline = load_pipeline(pipeline_name)
    upstream = {"camera"}
    for name in reversed(list(pipeline.stages)):  # dependency order reversed: users before their inputs
        if name in upstream:
            upstream.update(pipeline.upstream_stages(name))
    pipeline.stages = {name: spec for name, spec in pipeline.stages.items() if name in upstream}
    report = run(pipeline, [{"video": clip}], Workspace(workdir / "work"))
    if report.exit_code != 0:
        raise RuntimeError(f"{clip.name}: " + "; ".join(f"{o.stage}: {o.detail}" for o in report.outcomes
                                                         if o.status != "ran" and o.detail))
    return {o.stage: Path(o.artifact) for o in report.outcomes}


def error(focal: float, truth: float) -> str:
    return f"{100 * (focal / truth - 1):+.1f}"


def people_cells(keypoints2d: np.ndarray, track: np.ndarray, width: int, height: int, truth: float):
    points, usable = upright_points(keypoints2d)
    fit = fit_people_focal(points[usable], track[usable], width, height)
    return ["-", "-"] if fit is None else [error(fit.focal, truth), f"{100 * fit.relative_std:.0f}"]


def gait_bound_cells(motion, camera, truth: float) -> list[str]:
    """The people fit on the exact hips' midpoint over the true ground point below it (world y = 0)."""
    hips = motion["blazepose_world"][:, [BLAZEPOSE_33.index("left_hip"), BLAZEPOSE_33.index("right_hip")]]
    hips = hips.mean(axis=1)
    ground = hips * [1.0, 0.0, 1.0]
    in_camera = (np.stack([ground, hips], axis=1) - camera.t_wc[0]) @ camera.R_wc[0]
    points = in_camera[..., :2] / in_camera[..., 2:] * truth + camera.K[:2, 2]
    fit = fit_people_focal(points, motion["track_id"], camera.width, camera.height)
    return ["-", "-"] if fit is None else [error(fit.focal, truth), f"{100 * fit.relative_std:.0f}"]


def lines_cells(frames: FrameSequence, truth: float) -> list[str]:
    width, height = frames.size
    start = time.process_time()
    segments = line_segments(median_background(frames))
    lines = fit_lines_focal(segments, width, height)
    grid = None if lines is None else fit_floor_grid(segments, lines, width, height)
    seconds = f"{time.process_time() - start:.1f}"
    cells = [str(len(segments))]
    cells += ["-"] * 3 if lines is None else [error(lines.focal, truth), f"{100 * lines.relative_std:.1f}",
                                              "/".join(map(str, lines.inliers))]
    cells += ["-"] * 4 if grid is None else [error(grid.focal, truth), f"{100 * grid.relative_std:.1f}",
                                             f"{grid.tile:.3f}", "/".join(f"{p:.2f}" for p in grid.power)]
    return cells + [seconds]


def main() -> None:
    args, splits = benchmark_arguments(__doc__.splitlines()[0])
    rows = []
    for split, config, clips in splits:
        for name, spec in clips:
            if spec["camera"] != "static":
                continue
            clip, _ = render(name, spec, config, args.workdir)
            truth_dir = Path(f"{clip}.gt")
            artifacts = through_camera(config["pipeline"], clip, args.workdir)
            camera = read_camera(truth_dir / CAMERA_NPZ)
            truth, width, height = float(camera.K[0, 0]), camera.width, camera.height
            motion = np.load(truth_dir / "motion.npz")
            pelvis, track = motion["joints_cam"][:, 0], motion["track_id"]
            depth = max(np.ptp(pelvis[track == t, 2]) for t in np.unique(track))
            across = max(np.ptp(pelvis[track == t, 0]) for t in np.unique(track))
            run = read_keypoints(artifacts["keypoints"] / KEYPOINTS_NPZ).as_blazepose33()
            joints = motion["blazepose_cam"]
            projected = joints[..., :2] / joints[..., 2:3] * truth + camera.K[:2, 2]
            exact = np.concatenate([projected, np.ones(projected.shape[:2] + (1,))], axis=-1)
            chosen = json.loads((artifacts["camera"] / "manifest.json").read_text())["counts"]
            rows.append([split, name, f"{depth:.1f}", f"{across:.1f}"]
                        + people_cells(run.keypoints2d, run.track_id, width, height, truth)
                        + people_cells(exact, track, width, height, truth)
                        + gait_bound_cells(motion, camera, truth)
                        + lines_cells(FrameSequence(artifacts["frames"]), truth)
                        + [f"{os.getloadavg()[0]:.1f}", error(chosen["fx"], truth), chosen["focal_source"]])
            print(" ".join(rows[-1]), file=sys.stderr, flush=True)
    print("Static clips: focal error % of each cue (the default, max(width, height), is +15.5 on all)")
    print_table(["split", "clip", "depth m", "across m", "people kp %", "std %", "people exact %", "std %",
                 "hips over ground %", "std %", "segments", "vanishing %", "std %", "per direction",
                 "floor grid %", "std %", "tile", "power", "lines CPU-s", "load", "auto %", "source"], rows)


if __name__ == "__main__":
    main()
