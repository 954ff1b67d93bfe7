"""Measure `vidcli animate` (embedded backend) on synthetic ground truth and on a real reference photo.

Synthetic: one Anny body doing jumping jacks (CMU BVH), rendered by `vidcli.synth` at 512x768 by a
static camera facing it. The reference is one rendered frame (arms out); the driving video is the
same body, same scene and camera, over later frames of the motion, so those renders are the
ground truth of the animation. Scores: PSNR and SSIM of the animation against the ground truth
(whole frame, and inside the box around the person), next to the do-nothing baseline (the
reference image repeated), and the keypoint error: BlazePose run on the animation against the
retargeted skeleton it was asked to show (OpenPose-18 joints, pixels and PCK@0.1 of the skeleton's
height).

Real: a person cropped from ultralytics' bus.jpg driven by /work/shared/data/videos/hiphop_clip1.mp4
(skipped when absent): the same keypoint error. Speed: frames/s of the embedded backend at 512x768
(puppet posing and drawing, without and with H.264 encoding). A few frames are saved as PNG under
docs/images/.

Usage: ANNY_CACHE_DIR=.cache/anny python benchmarks/animate.py [--workdir DIR] [--frames N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from vidcli.evaluation import images

ROOT = Path(__file__).resolve().parents[1]
MOTION = ROOT.parent / "shared" / "data" / "motion" / "jumping_jacks.bvh"
HIPHOP = ROOT.parent / "shared" / "data" / "videos" / "hiphop_clip1.mp4"
IMAGES = ROOT / "docs" / "images"
SIZE = (512, 768)
REFERENCE_FRAME = 15  # arms out to the sides
DRIVING_START = 30


def render_synthetic(workdir: Path, frames: int) -> tuple[Path, Path, np.ndarray]:
    """(reference PNG, driving mp4, ground-truth frames) of the jumping-jacks scene."""
    from vidcli.io.video import VideoWriter
    from vidcli.render.camera import intrinsics, look_at
    from vidcli.synth.generate import Synthesis, SynthOptions

    fps = 30.0
    options = SynthOptions(duration=(DRIVING_START + frames) / fps, fps=fps, width=SIZE[0], height=SIZE[1],
                           people=1, camera="static", seed=3, bvh=[MOTION])
    synthesis = Synthesis(options)
    heads = synthesis.people[0].heads
    names = synthesis.body.bone_names
    across = heads[:, names.index("LeftArm")].mean(0) - heads[:, names.index("RightArm")].mean(0)
    across[1] = 0
    facing = np.cross(across / np.linalg.norm(across), [0.0, 1.0, 0.0])
    centre = heads[:, 0].mean(0)
    target = np.array([centre[0], 0.9, centre[2]])
    eye = target + 3.6 * facing + [0.0, 0.15, 0.0]
    synthesis.K = intrinsics(*SIZE, 40.0)
    synthesis.R_wc[:] = look_at(eye, target)
    synthesis.t_wc[:] = eye

    reference = workdir / "synthetic_ref.png"
    cv2.imwrite(str(reference), cv2.cvtColor(synthesis.render(REFERENCE_FRAME).rgb, cv2.COLOR_RGB2BGR))
    driving = workdir / "synthetic_driving.mp4"
    truth = []
    with VideoWriter(driving, fps, SIZE) as writer:
        for index in range(DRIVING_START, DRIVING_START + frames):
            rgb = synthesis.render(index).rgb
            truth.append(rgb)
            writer.write(rgb)
    return reference, driving, np.array(truth)


def animate(reference: Path, driving: Path, workdir: Path) -> tuple[Path, dict]:
    """Run the animate pipeline (embedded) through the engine, the animation stages afresh (they are
    what is measured); (generate artifact, stage seconds)."""
    from vidcli import console
    from vidcli.engine import RunOptions, run
    from vidcli.engine.pipeline import load_pipeline
    from vidcli.engine.store import Workspace

    console.setup(-1)
    pipeline = load_pipeline("animate", {"generate": {"backend": "embedded"}})
    report = run(pipeline, [{"driving": driving, "ref": reference}], Workspace(workdir / "work"),
                 RunOptions(force=("pose",), force_downstream=True))
    if report.exit_code != 0:
        raise SystemExit(f"animate failed on {driving}: {[o.detail for o in report.outcomes if o.detail]}")
    artifacts = {o.stage: Path(o.artifact) for o in report.outcomes}
    seconds = {stage: json.loads((path / "manifest.json").read_text())["seconds"]
               for stage, path in artifacts.items()}
    return artifacts["generate"], seconds


def read_video(path: Path) -> np.ndarray:
    from vidcli.io.video import iter_frames

    return np.array([frame.rgb for frame in iter_frames(path)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return images.psnr(a, b, peak=255.0)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over grey images."""
    return images.ssim(*(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b)), peak=255.0)


def image_scores(video: np.ndarray, truth: np.ndarray, box: tuple[int, int, int, int]) -> dict:
    x1, y1, x2, y2 = box
    return {"psnr": np.mean([psnr(v, t) for v, t in zip(video, truth)]),
            "ssim": np.mean([ssim(v, t) for v, t in zip(video, truth)]),
            "psnr_person": np.mean([psnr(v[y1:y2, x1:x2], t[y1:y2, x1:x2]) for v, t in zip(video, truth)]),
            "ssim_person": np.mean([ssim(v[y1:y2, x1:x2], t[y1:y2, x1:x2]) for v, t in zip(video, truth)])}


def person_box(masks: np.ndarray, margin: int = 16) -> tuple[int, int, int, int]:
    """The box around where the person is in any of the frames (H, W bool masks)."""
    ys, xs = np.nonzero(masks.any(axis=0))
    height, width = masks.shape[1:]
    return (int(max(0, xs.min() - margin)), int(max(0, ys.min() - margin)),
            int(min(width, xs.max() + margin)), int(min(height, ys.max() + margin)))


def retargeted_keypoints(generate: Path, size: tuple[int, int]) -> np.ndarray:
    """The retargeted skeletons (F, 18, 3) of an animation, in the pixels of its video."""
    from vidcli.animate import files

    retargeting = files.read_retargeting(next(generate.parent.parent.glob("retarget/*/retarget.npz")).parent)
    scale = np.array([size[0] / retargeting.ref_size[0], size[1] / retargeting.ref_size[1], 1.0])
    return retargeting.keypoints * scale


def blazepose(video: np.ndarray, around: np.ndarray) -> np.ndarray:
    """OpenPose-18 keypoints (F, 18, 3) that BlazePose finds in each frame, cropped to the box of the
    skeleton `around` (F, 18, 3) grown by half, so that other people in the scene do not count."""
    import mediapipe as mp

    from vidcli.animate import skeleton

    height, width = video.shape[1:3]
    found = np.zeros((len(video), 18, 3))
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for index, rgb in enumerate(video):
            points = around[index][skeleton.visible(around[index]), :2]
            centre, half = (points.min(0) + points.max(0)) / 2, (points.max(0) - points.min(0)).max() * 0.75
            x1, y1 = np.maximum(0, np.round(centre - half)).astype(int)
            x2, y2 = np.minimum([width, height], np.round(centre + half)).astype(int)
            crop = np.ascontiguousarray(rgb[y1:y2, x1:x2])
            result = pose.process(crop)
            if result.pose_landmarks is not None:
                landmarks = np.array([(p.x * crop.shape[1] + x1, p.y * crop.shape[0] + y1, p.visibility)
                                      for p in result.pose_landmarks.landmark])
                found[index] = skeleton.from_blazepose(landmarks)
    return found


def keypoint_scores(found: np.ndarray, wanted: np.ndarray) -> dict:
    """Pixel error and PCK@0.1 (of the skeleton's height) of the body joints (not eyes and ears)."""
    from vidcli.animate import skeleton
    from vidcli.evaluation.metrics import keypoint_errors

    visible = skeleton.visible(found) & skeleton.visible(wanted)
    visible[:, 14:] = False
    errors, within = keypoint_errors(found[:, :, :2], wanted[:, :, :2], visible)
    return {"error_px": round(float(np.mean(errors)), 2), "pck_0.1": round(float(np.mean(within)), 3),
            "frames_found": int(skeleton.visible(found)[:, 1].sum()), "frames": len(found)}


def speed(reference: Path, generate: Path, frames: int = 60) -> dict:
    """Frames/s of the embedded backend at 512x768: puppet build, then posing and drawing per frame."""
    from vidcli.animate import files
    from vidcli.animate.puppet import Puppet
    from vidcli.animate.reference import read_reference
    from vidcli.stages.generate import Config

    ref = read_reference(reference)
    retargeting = files.read_retargeting(next(generate.parent.parent.glob("retarget/*/retarget.npz")).parent)
    rgb = cv2.resize(ref.rgb, SIZE, interpolation=cv2.INTER_AREA)
    mask_path = next(generate.parent.parent.glob("pose/*/" + files.REFERENCE_MASK))
    mask = cv2.resize(cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE), SIZE).astype(np.float32) / 255
    scale = np.array([SIZE[0] / ref.size[0], SIZE[1] / ref.size[1], 1.0])
    start = time.perf_counter()
    puppet = Puppet(rgb, mask, retargeting.ref_keypoints * scale, Config().mesh_spacing)
    build = time.perf_counter() - start
    keypoints = retargeting.keypoints * scale
    start = time.perf_counter()
    for index in range(frames):
        t = index % len(keypoints)
        puppet.render(puppet.pose(keypoints[t, :, :2]), retargeting.depth[t])
    return {"build_s": build, "fps": frames / (time.perf_counter() - start)}


def save_images(name: str, video: np.ndarray, driving: np.ndarray, indices: list[int]) -> Path:
    """A strip of animation frames, each with its driving frame inset, at 0.4 of their size."""
    tiles = []
    for index in indices:
        tile = video[index].copy()
        inset_w = tile.shape[1] // 3
        inset = cv2.resize(driving[index], (inset_w, round(driving.shape[1] * inset_w / driving.shape[2])))
        tile[:inset.shape[0], -inset_w:] = inset
        size = (round(tile.shape[1] * 0.4), round(tile.shape[0] * 0.4))
        tiles.append(cv2.resize(tile, size, interpolation=cv2.INTER_AREA))
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"animate_{name}.png"
    cv2.imwrite(str(path), cv2.cvtColor(np.hstack(tiles), cv2.COLOR_RGB2BGR))
    return path


def real_reference(workdir: Path) -> Path:
    """A person cropped from ultralytics' bus.jpg."""
    assets = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets"
    crop = cv2.imread(str(assets / "bus.jpg"))[250:960, 20:300]
    path = workdir / "bus_person.png"
    cv2.imwrite(str(path), crop)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("vidcli-bench/animate"))
    parser.add_argument("--frames", type=int, default=60, help="driving frames of the synthetic clip")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()  # the workflow file names the clips by these paths
    os.environ.setdefault("ANNY_CACHE_DIR", str(ROOT / ".cache" / "anny"))
    args.workdir.mkdir(parents=True, exist_ok=True)

    reference, driving, truth = render_synthetic(args.workdir, args.frames)
    generate, seconds = animate(reference, driving, args.workdir)
    video = read_video(generate / "animation.mp4")
    ref_rgb = cv2.cvtColor(cv2.imread(str(reference)), cv2.COLOR_BGR2RGB)
    background = np.median(truth, axis=0)
    box = person_box(np.abs(truth.astype(int) - background).sum(-1) > 40)
    rows = {"animation": image_scores(video, truth, box),
            "baseline (reference repeated)": image_scores(np.repeat(ref_rgb[None], len(truth), 0), truth,
                                                          box)}
    print(f"synthetic jumping jacks, {len(truth)} frames at {SIZE[0]}x{SIZE[1]} (person box {box})")
    print(f"{'':32s} {'PSNR':>7s} {'SSIM':>6s} {'PSNR person':>12s} {'SSIM person':>12s}")
    for name, s in rows.items():
        print(f"{name:32s} {s['psnr']:7.2f} {s['ssim']:6.3f} {s['psnr_person']:12.2f} "
              f"{s['ssim_person']:12.3f}")
    wanted = retargeted_keypoints(generate, SIZE)
    found = blazepose(video, wanted)
    print("keypoints, BlazePose on the animation vs the retargeted skeleton:",
          json.dumps(keypoint_scores(found, wanted)))
    print("keypoints, BlazePose on the animation vs BlazePose on the ground truth:",
          json.dumps(keypoint_scores(found, blazepose(truth, wanted))))
    print("stage seconds:", json.dumps({k: round(v, 2) for k, v in seconds.items()}))
    print("speed at 512x768:", json.dumps({k: round(v, 2) for k, v in speed(reference, generate).items()}),
          f"with encoding: {len(video) / seconds['generate']:.1f} frames/s (generate stage)")
    print("saved", save_images("synthetic", video, truth, [0, 12, 24]))

    if not HIPHOP.is_file():
        print(f"real reference: skipped ({HIPHOP} is absent)")
        return
    reference = real_reference(args.workdir)
    generate, seconds = animate(reference, HIPHOP, args.workdir)
    video = read_video(generate / "animation.mp4")
    wanted = retargeted_keypoints(generate, (video.shape[2], video.shape[1]))
    print("real reference (bus.jpg crop) driven by hiphop_clip1.mp4; keypoints, BlazePose on the animation "
          "vs the retargeted skeleton:", json.dumps(keypoint_scores(blazepose(video, wanted), wanted)))
    print("stage seconds:", json.dumps({k: round(v, 2) for k, v in seconds.items()}))
    print("saved", save_images("real", video, read_video(HIPHOP), [10, 40, 70]))


if __name__ == "__main__":
    main()
