"""The perception benchmark: the `perception` pipeline (frames, track, masks, keypoints) on seeded
`vidcli synth` clips with exact ground truth, and on ../shared/data/videos/hiphop_clip1.mp4 when present.

Usage: python benchmarks/perception.py [--workdir DIR] [--images DIR]

Clips are rendered and run through `vidcli run` the way benchmarks/synthetic.py does (its helpers,
so cached renders and stages are reused) and scored with `vidcli eval`'s code: detection recall
(GT boxes matched at IoU >= 0.5; and of GT boxes at least 100 px tall), precision, ID switches,
2D keypoint error and PCK. Mask IoU pairs each ground-truth mask with the mask of the run track
that `vidcli eval` paired with its person, in the same frame. Speeds are frames per second of each
stage's run in the pipeline (manifest seconds, model loading included), which depend on the
machine's load (the 1-minute load average is printed), and the CPU milliseconds per frame of each
stage run again here on the same inputs, which depend on it much less. With --images, overlay
frames (boxes, masks, keypoints) are written as PNG files into DIR.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import evaluate, render, run_pipeline  # noqa: E402  (the synthetic benchmark's helpers)

from vidcli.engine.stage import Artifact, planned_config  # noqa: E402
from vidcli.engine.store import complete_artifacts, read_manifest  # noqa: E402
from vidcli.io import masks as mask_files  # noqa: E402
from vidcli.io.frames import FrameSequence  # noqa: E402
from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints  # noqa: E402
from vidcli.io.tracks import read_tracks  # noqa: E402
from vidcli.io.video import ffmpeg_exe  # noqa: E402
from vidcli.stages import keypoints as keypoints_stage  # noqa: E402
from vidcli.stages import masks as masks_stage  # noqa: E402
from vidcli.stages import track as track_stage  # noqa: E402

HIPHOP = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "hiphop_clip1.mp4"
PHOTO = "zidane.jpg"  # from ultralytics' bundled assets
STAGES = ("track", "masks", "keypoints")  # timed
RENDER = {"size": "640x360", "fps": 30}
CLIPS = {  # `vidcli synth` options of each synthetic clip
    "one-orbit": {"people": 1, "camera": "orbit", "duration": 3, "seed": 3},
    "two-crossing": {"people": 2, "camera": "handheld", "duration": 3, "seed": 3},
    "two-pan": {"people": 2, "camera": "pan", "duration": 4, "seed": 5},
}
OVERLAYS = {"hiphop": 45, "two-crossing": 45, "photo": 0}  # clip -> frame of each image written with --images
_COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


def artifact(input_dir: Path, stage: str) -> Path:
    """The most recently finished artifact of `stage` in a workspace input directory."""
    return complete_artifacts(input_dir / stage)[-1]


def stage_fps(input_dir: Path) -> dict[str, float]:
    frames = len(FrameSequence(artifact(input_dir, "frames")))
    return {stage: frames / read_manifest(artifact(input_dir, stage))["seconds"] for stage in STAGES}


def cpu_ms_per_frame(input_dir: Path) -> dict[str, float]:
    """CPU milliseconds per frame that the timed stages take, run here on the pipeline's frames."""
    frames = Artifact(artifact(input_dir, "frames"))
    count = len(FrameSequence(frames.path))
    used = {}
    with tempfile.TemporaryDirectory() as scratch:
        track = Artifact(Path(scratch) / "track")
        for stage, module in zip(STAGES, (track_stage, masks_stage, keypoints_stage)):
            out_dir = Path(scratch) / stage
            out_dir.mkdir()
            inputs = {"frames": frames} if stage == "track" else {"frames": frames, "track": track}
            start = _cpu_seconds()
            module.run(planned_config(module, {}), inputs, out_dir)
            used[stage] = (_cpu_seconds() - start) / count * 1000
    return used


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def mask_iou(input_dir: Path, gt_dir: Path, pairs: dict[str, int]) -> float | None:
    """Mean IoU of each GT mask with its paired run track's mask in the same frame (pairs: GT id -> run
    id)."""
    run = {(m["frame"], m["track_id"]): m["rle"]
           for m in mask_files.read_masks(artifact(input_dir, "masks") / mask_files.MASKS_JSON)["masks"]}
    ious = []
    for entry in mask_files.read_masks(gt_dir / mask_files.MASKS_JSON)["masks"]:
        rle = run.get((entry["frame"], pairs.get(str(entry["track_id"]))))
        if rle is not None:
            pair = [_coco(entry["rle"]), _coco(rle)]
            ious.append(float(mask_utils.iou(pair[:1], pair[1:], [False])[0, 0]))
    return float(np.mean(ious)) if ious else None


def _coco(rle: dict) -> dict:
    return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}


def still_clip(image: Path, out: Path) -> Path:
    """A 1 s, 10 fps clip showing `image`."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-loop", "1", "-framerate", "10", "-i", str(image),
                    "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def overlay(input_dir: Path, frame: int, out: Path, width: int = 640) -> None:
    """Frame `frame` with every person's mask tinted, box, track id and keypoints, as a palette PNG."""
    from mediapipe.python.solutions.pose_connections import POSE_CONNECTIONS
    from PIL import Image

    rgb = FrameSequence(artifact(input_dir, "frames")).read(frame).astype(np.float32)
    tracks = read_tracks(artifact(input_dir, "track"))
    keypoints = read_keypoints(artifact(input_dir, "keypoints") / KEYPOINTS_NPZ)
    masks = mask_files.read_masks(artifact(input_dir, "masks") / mask_files.MASKS_JSON)["masks"]
    rows = np.flatnonzero(tracks.frame == frame)
    for row in rows:
        colour = np.array(_COLOURS[(tracks.track_id[row] - 1) % len(_COLOURS)], np.float32)
        tint = mask_files.decode(masks[row]["rle"])
        rgb[tint] = 0.55 * rgb[tint] + 0.45 * colour
    scale = width / rgb.shape[1]
    image = cv2.resize(rgb.clip(0, 255).astype(np.uint8), (width, round(rgb.shape[0] * scale)),
                       interpolation=cv2.INTER_AREA)
    for row in rows:
        colour = _COLOURS[(tracks.track_id[row] - 1) % len(_COLOURS)]
        x1, y1, x2, y2 = np.round(tracks.box[row] * scale).astype(int)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(image, str(tracks.track_id[row]), (x1 + 3, y1 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    colour, 2)
        points = keypoints.keypoints2d[row]
        for a, b in POSE_CONNECTIONS:
            if min(points[a, 2], points[b, 2]) > 0.5:
                cv2.line(image, tuple(np.round(points[a, :2] * scale).astype(int)),
                         tuple(np.round(points[b, :2] * scale).astype(int)), (255, 255, 255), 1, cv2.LINE_AA)
        for x, y, visibility in points:
            if visibility > 0.5:
                cv2.circle(image, (round(x * scale), round(y * scale)), 2, (255, 255, 0), -1)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).quantize(colors=192).save(out, optimize=True)


def main() -> None:
    import importlib.util

    import mediapipe  # noqa: F401  (imported once up front, so that no CPU time below includes it)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("vidcli-bench"))
    parser.add_argument("--images", type=Path, help="write overlay PNGs into this folder")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()  # the workflow files name the clips by these paths

    header = ["clip", "frames", "recall", ">=100px", "precision", "ID sw", "kp px", "PCK", "mask IoU",
              "tracked frames", "tracks", "fps track", "fps masks", "fps keypoints", "CPU ms/f track",
              "CPU ms/f masks"]
    rows, input_dirs = [], {}
    for name, spec in CLIPS.items():
        clip, _ = render(name, spec, RENDER, args.workdir)
        input_dir, _, _ = run_pipeline("perception", clip, args.workdir)
        input_dirs[name] = input_dir
        report = evaluate(input_dir, clip)["stages"]
        track, keypoints = report["track"]["metrics"], report["keypoints"].get("metrics", {})
        iou = mask_iou(input_dir, Path(str(clip) + ".gt"), report["track"]["track_pairs"])
        scores = [track["recall"], track["recall_tall"], track["precision"], track["id_switches"],
                  keypoints.get("error_px"), keypoints.get("pck"), iou]
        frames = len(FrameSequence(artifact(input_dir, "frames")))
        rows.append([name, frames] + scores + _coverage(input_dir) + _speeds(input_dir))
    photo = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets" / PHOTO
    extra = {"photo": still_clip(photo, args.workdir / "clips" / "photo.mp4")}
    if HIPHOP.is_file():
        extra["hiphop"] = HIPHOP
    else:
        print(f"note: {HIPHOP} is absent; no real-video row")
    for name, clip in extra.items():
        input_dir, _, _ = run_pipeline("perception", clip, args.workdir)
        input_dirs[name] = input_dir
        frames = FrameSequence(artifact(input_dir, "frames"))
        label = f"{name} ({frames.size[0]}x{frames.size[1]})"
        rows.append([label, len(frames)] + [None] * 7 + _coverage(input_dir) + _speeds(input_dir))

    widths = [max(len(_text(r[i])) for r in rows + [header]) for i in range(len(header))]
    load = os.getloadavg()[0]
    print(f"perception pipeline, embedded backends; load average {load:.1f} on {os.cpu_count()} CPUs")
    for row in [header] + rows:
        print("  ".join(_text(v).rjust(w) for v, w in zip(row, widths)))
    if args.images:
        for name, frame in OVERLAYS.items():
            if name in input_dirs:
                path = args.images / f"perception_{name}.png"
                overlay(input_dirs[name], frame, path)
                print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def _speeds(input_dir: Path) -> list:
    """Frames per second of the timed stages in the pipeline; CPU ms per frame of track and masks."""
    fps, cpu = stage_fps(input_dir), cpu_ms_per_frame(input_dir)
    return [fps["track"], fps["masks"], fps["keypoints"], cpu["track"], cpu["masks"]]


def _coverage(input_dir: Path) -> list:
    """["frames with a person / frames", number of tracks] of a run."""
    tracks = read_tracks(artifact(input_dir, "track"))
    frames = len(FrameSequence(artifact(input_dir, "frames")))
    return [f"{len(np.unique(tracks.frame))}/{frames}", len(np.unique(tracks.track_id))]


def _text(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
