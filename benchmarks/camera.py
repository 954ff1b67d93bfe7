"""Accuracy and speed of the camera and scale stages on synthetic clips with exact ground truth.

Usage: python benchmarks/camera.py [--workdir DIR] [--paths static,pan,orbit,dolly,handheld]
                                   [--seconds 4] [--size 640x360] [--people 2] [--seed 3]
                                   [--perception] [--video PATH ...]

For each camera path a seeded clip is rendered with `vidcli synth` (reused when already in the work
folder), decoded by the frames stage, and run through the camera stage (people masked with the union
of the ground truth's masks) and the scale stage (with the ground truth's keypoints); with
--perception, masks and keypoints come from the track, masks and keypoints stages instead. Reported: keyframes, static detection, focal length
against the truth, ATE after a Sim(3) fit (metres and % of the path length), rotation error, RPE
over one frame, the scale stage's scale error and confidence, and the camera stage's frames per
second. Each --video (default: ../shared/data/videos/hiphop_clip1.mp4 when present, a static
camera) runs through frames, track and masks (when those stages run here) and camera, and reports
its static detection.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from vidcli.engine.stage import Artifact, Source, load_stage, planned_config
from vidcli.evaluation import metrics
from vidcli.io import masks as mask_files
from vidcli.io.camera import read_camera
from vidcli.stages import camera as camera_stage
from vidcli.stages import frames as frames_stage
from vidcli.stages import scale as scale_stage

SHARED_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "hiphop_clip1.mp4"


def stage_dir(work: Path, name: str) -> Path:
    path = work / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def render(path: Path, camera: str, args) -> Path:
    """The clip `path` and its ground truth, rendered unless both exist."""
    from vidcli.synth.generate import SynthOptions, synthesize

    gt_dir = path.with_name(path.name + ".gt")
    if not (path.is_file() and gt_dir.is_dir()):
        width, height = (int(v) for v in args.size.split("x"))
        synthesize(path, SynthOptions(duration=args.seconds, width=width, height=height, seed=args.seed,
                                      people=args.people, camera=camera))
    return gt_dir


def ground_truth_masks(gt_dir: Path, out_dir: Path) -> Artifact:
    """A masks artifact whose union.json is every ground-truth person of each frame."""
    data = mask_files.read_masks(gt_dir / mask_files.MASKS_JSON)
    union: dict[int, np.ndarray] = {}
    for entry in data["masks"]:
        mask = mask_files.decode(entry["rle"])
        union[entry["frame"]] = union[entry["frame"]] | mask if entry["frame"] in union else mask
    mask_files.write_masks(out_dir / mask_files.UNION_JSON, data["width"], data["height"],
                           [{"frame": f, "rle": mask_files.encode(m)} for f, m in sorted(union.items())])
    return Artifact(out_dir)


def perception(frames: Artifact, work: Path) -> tuple[Artifact, Artifact | None, str]:
    """Masks and keypoints from the track, masks and keypoints stages; without those stages (or
    their models) an empty union of masks, no keypoints, and why."""
    try:
        track, masks, keypoints = load_stage("track"), load_stage("masks"), load_stage("keypoints")
        track_dir = stage_dir(work, "track")
        track.run(planned_config(track, {}), {"frames": frames}, track_dir)
        masks_dir, keypoints_dir = stage_dir(work, "masks"), stage_dir(work, "keypoints")
        masks.run(planned_config(masks, {}), {"frames": frames, "track": Artifact(track_dir)}, masks_dir)
        keypoints.run(planned_config(keypoints, {}), {"frames": frames, "track": Artifact(track_dir)},
                      keypoints_dir)
        return Artifact(masks_dir), Artifact(keypoints_dir), "perception stages"
    except Exception as exc:  # the perception stages are optional here: report, and track without masks
        index = json.loads((frames.path / "index.json").read_text())
        empty = stage_dir(work, "masks")
        mask_files.write_masks(empty / mask_files.UNION_JSON, index["width"], index["height"], [])
        return Artifact(empty), None, f"no masks ({type(exc).__name__}: {str(exc).splitlines()[0][:60]})"


def run_camera(video: Path, work: Path, use_perception: bool, gt_dir: Path | None):
    """The camera stage on `video`: (run info, camera artifact, seconds, keypoints artifact, masks source)."""
    frames_dir = work / "frames"
    if not (frames_dir / "index.json").is_file():
        frames_stage.run(planned_config(frames_stage, {}), {"video": Source(video, "benchmark")},
                         stage_dir(work, "frames"))
    frames = Artifact(frames_dir)
    if gt_dir is not None and not use_perception:
        masks, masks_source = ground_truth_masks(gt_dir, stage_dir(work, "masks")), "ground truth"
        keypoints_dir = stage_dir(work, "keypoints")
        shutil.copy(gt_dir / "keypoints.npz", keypoints_dir)
        keypoints = Artifact(keypoints_dir)
    else:
        masks, keypoints, masks_source = perception(frames, work)
    camera_dir = stage_dir(work, "camera")
    start = time.perf_counter()
    info = camera_stage.run(planned_config(camera_stage, {}), {"frames": frames, "masks": masks}, camera_dir)
    seconds = time.perf_counter() - start
    return info, Artifact(camera_dir), seconds, keypoints, masks_source


def run_scale(camera: Artifact, keypoints: Artifact, work: Path) -> dict:
    scale_dir = stage_dir(work, "scale")
    scale_stage.run(planned_config(scale_stage, {}), {"camera": camera, "keypoints": keypoints}, scale_dir)
    return json.loads((scale_dir / "scale.json").read_text()) | {"camera": read_camera(scale_dir / "camera.npz")}


def fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vidcli-camera-bench"))
    parser.add_argument("--paths", default="static,pan,orbit,dolly,handheld")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--perception", action="store_true",
                        help="masks and keypoints from the track, masks and keypoints stages")
    parser.add_argument("--video", type=Path, action="append", default=None, help="extra video without ground truth")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    videos = args.video if args.video is not None else [SHARED_VIDEO] if SHARED_VIDEO.is_file() else []

    header = ("clip", "frames", "keyframes", "static", "focal/GT", "ATE m", "ATE %", "rot deg", "RPE m", "RPE deg",
              "scale err %", "scale conf", "camera fps")
    rows = []
    for path in args.paths.split(","):
        clip = args.workdir / f"{path}_{args.size}_s{args.seed}.mp4"
        gt_dir = render(clip, path, args)
        work = args.workdir / clip.stem
        info, camera_dir, seconds, keypoints, masks_source = run_camera(clip, work, args.perception, gt_dir)
        camera, gt = read_camera(camera_dir.path / "camera.npz"), read_camera(gt_dir / "camera.npz")
        errors = metrics.camera_errors(camera.R_wc, camera.t_wc, gt.R_wc, gt.t_wc)
        moving = metrics.path_length(gt.t_wc) > 0
        scale = run_scale(camera_dir, keypoints, work) if keypoints else {"confidence": None, "camera": camera}
        scale_error = None
        if moving and not camera.static and keypoints:
            scale_error = metrics.camera_errors(scale["camera"].R_wc, scale["camera"].t_wc, gt.R_wc,
                                                gt.t_wc).scale_error_pct
        expected_static = path == "static"
        detected = f"{'yes' if camera.static else 'no'} ({'ok' if camera.static == expected_static else 'WRONG'})"
        rows.append((path, str(len(gt.t_wc)), str(len(camera.keyframes)), detected,
                     fmt(camera.K[0, 0] / gt.K[0, 0]), fmt(errors.ate_m if moving else None, 4),
                     fmt(errors.ate_pct, 2), fmt(errors.rotation_deg, 2),
                     fmt(errors.rpe_trans_m if moving else None, 4), fmt(errors.rpe_rot_deg), fmt(scale_error, 1),
                     fmt(scale["confidence"], 2), fmt(len(gt.t_wc) / seconds, 1)))
        print(f"{path}: {info.counts}; masks: {masks_source}; "
              f"scale {json.dumps({k: v for k, v in scale.items() if k != 'camera'})}", flush=True)
    for video in videos:
        work = args.workdir / video.stem
        info, camera_dir, seconds, _, masks_source = run_camera(video, work, True, None)
        camera = read_camera(camera_dir.path / "camera.npz")
        rows.append((video.name, str(len(camera.t_wc)), str(len(camera.keyframes)),
                     "yes" if camera.static else "no", "-", "-", "-", "-", "-", "-", "-", "-",
                     fmt(len(camera.t_wc) / seconds, 1)))
        print(f"{video.name}: {info.counts}; masks: {masks_source}", flush=True)

    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths)))


if __name__ == "__main__":
    main()
