"""Video inpainting on known content: holes pasted over videos whose pixels behind them are known.

Usage: python benchmarks/inpaint.py [--frames N] [--settings JSON] [--tune] [--memory] [--diagnose]
    [--flows [NAMES]] [--spatial] [--png DIR]
(ANNY_CACHE_DIR or VIDCLI_HOME as for `vidcli synth`, which renders the synthetic clips.)

Protocol. The 80 object masks of ../shared/data/inpaint/schoolgirls (dilated 4 px, as STTN does),
scaled and shifted per video and drifting sideways over time, are pasted (black) over videos at 432x240:
- tuning split: `pan-kitti`, a camera pan over the KITTI photo of ../shared/data/flow (exact true
  flow); `synth-pan`, `synth-room` and `synth-static`, `vidcli synth` renders (two people on the
  textured scene under a panning camera; one person in the pale room under an orbiting camera; two
  people on the textured scene under a still camera), exact flow from `--flow`;
- held-out split: `pan-chairs`, a diagonal pan over a FlyingChairs image enlarged 1.5x (exact true
  flow); `synth-handheld`, two people on the textured scene under a handheld camera (exact flow);
  `hiphop`, ../shared/data/videos/hiphop_clip1.mp4, whose reference flow for the warping error is DIS
  (medium) of the clean video, not a ground truth.
Every method reads the holed frames as the pipeline stores them (the frames artifact, JPEG quality 100)
and is scored against the clean frames.
Scores inside the holes: PSNR, SSIM (11x11 Gaussian window, averaged over hole pixels), and the
warping error: mean |O_t(p) - O_t+1(p + F(p))| over hole pixels p of frame t, F the flow t -> t+1.
The ground truth's own warping error (lighting, occlusion, resampling) is printed beside it.
Methods in the same run: the embedded backend through the flow and inpaint stages; per-frame OpenCV
Telea inpainting; copying each hole pixel from the nearest frame where it is not in a hole.
Speed: frames per second of the flow and inpaint stages together, by the wall clock (2 CPU cores
shared with other work) and per second of this process's CPU time (all its threads).
`--tune` scores settings of the embedded backend on the tuning split; `--diagnose` runs the embedded
backend on the synthetic clips with their exact flow, to tell what limits it; `--memory` measures the
inpaint stage's peak memory on the pan video at three lengths; `--flows` compares flow estimators
(end-point error outside the holes and of the completed flow inside them, CPU cost, and the fill with
some of them); `--spatial` compares spatial fills on the hole pixels no window frame shows;
`--png DIR` writes comparison frames;
`--settings` runs the embedded backend with other settings than the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import cv2
import numpy as np

from vidcli.engine.stage import Artifact, planned_config
from vidcli.inpaint import flow_guided
from vidcli.inpaint.masks import mask_images, read_mask_image
from vidcli.inpaint.video import FILLED_DIR, HOLES_JSON, HoleVideo, filled_filename
from vidcli.io import masks as mask_files
from vidcli.io.flow import read_flo
from vidcli.io.frames import FrameSequence, write_frames
from vidcli.io.video import iter_frames
from vidcli.stages import flow as flow_stage
from vidcli.stages import inpaint as inpaint_stage

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = (432, 240)


def schoolgirls_masks() -> list[np.ndarray]:
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    return [
        cv2.dilate(read_mask_image(p).astype(np.uint8), kernel, iterations=4).astype(bool)
        for p in mask_images(DATA / "inpaint" / "schoolgirls" / "masks")
    ]


def moved_masks(masks, count: int, scale: float, shift: tuple[int, int], drift: float) -> list[np.ndarray]:
    """masks[t % 80] scaled about the centre, shifted, and drifting `drift` px per frame sideways."""
    width, height = SIZE
    out = []
    for t in range(count):
        dx = shift[0] + drift * t
        matrix = np.array(
            [[scale, 0, (1 - scale) * width / 2 + dx], [0, scale, (1 - scale) * height / 2 + shift[1]]]
        )
        warped = cv2.warpAffine(masks[t % len(masks)].astype(np.uint8), matrix, SIZE, flags=cv2.INTER_NEAREST)
        out.append(warped.astype(bool))
    return out


def pan(image: np.ndarray, count: int, step: tuple[int, int], wobble: int) -> tuple[list, list]:
    """Crops of `image` at SIZE moving `step` px a frame (plus a vertical wobble); the exact flows."""
    width, height = SIZE
    offsets = [(step[0] * t, step[1] * t + int(round(wobble * np.sin(t / 8)))) for t in range(count)]
    y0 = -min(o[1] for o in offsets)
    frames = [np.ascontiguousarray(image[y0 + oy : y0 + oy + height, ox : ox + width]) for ox, oy in offsets]
    flows = [
        np.broadcast_to(-np.array([b[0] - a[0], b[1] - a[1]], np.float32), (height, width, 2))
        for a, b in zip(offsets, offsets[1:])
    ]
    return frames, flows


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


SYNTH_CLIPS = {  # name: (split, `vidcli synth` options)
    "synth-pan": ("tuning", ["--camera", "pan", "--people", "2", "--seed", "1"]),
    "synth-room": ("tuning", ["--camera", "orbit", "--people", "1", "--scene", "room", "--seed", "2"]),
    "synth-static": ("tuning", ["--camera", "static", "--people", "2", "--seed", "4"]),
    "synth-handheld": ("held out", ["--camera", "handheld", "--people", "2", "--seed", "3"]),
}


def synth_clip(options: list[str], count: int, work: Path) -> tuple[list, list]:
    """A `vidcli synth` render of `count` frames at SIZE and 24 frames/s: (frames, exact flows, NaN
    where hidden)."""
    video = work / "synth.mp4"
    subprocess.run(
        [sys.executable, "-m", "vidcli", "synth", str(video), "--size", f"{SIZE[0]}x{SIZE[1]}", "--fps", "24",
         "--duration", str((count + 0.5) / 24), "--flow", *options],
        check=True, capture_output=True,
    )
    frames = [f.rgb for f in iter_frames(video)][:count]
    flows = [read_flo(path) for path in sorted((work / "synth.mp4.gt" / "flow").glob("*.flo"))]
    return frames, flows[: len(frames) - 1]


def videos(count: int, splits=("tuning", "held out")):
    """(name, frames, true flows t -> t+1, masks, split) of the clips in `splits`."""
    masks = schoolgirls_masks()
    if "tuning" in splits:
        kitti = read_rgb(DATA / "flow" / "kitti" / "frame1.png")
        frames, flows = pan(kitti, count, (4, 0), 20)
        yield "pan-kitti", frames, flows, moved_masks(masks, count, 0.9, (0, 10), 0.5), "tuning"
    for name, (split, options) in SYNTH_CLIPS.items():
        if split in splits:
            with tempfile.TemporaryDirectory() as tmp:
                frames, flows = synth_clip(options, count, Path(tmp))
            yield name, frames, flows, moved_masks(masks, len(frames), 1.0, (0, 0), 1.0), split
    if "held out" not in splits:
        return
    chairs = read_rgb(DATA / "flow" / "chairs" / "0000002-img0.png")
    chairs = cv2.resize(chairs, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    frames, flows = pan(chairs, min(count, 80), (3, 2), 0)
    yield "pan-chairs", frames, flows, moved_masks(masks, len(frames), 0.8, (20, 0), -0.5), "held out"
    clip = [
        cv2.resize(f.rgb, SIZE, interpolation=cv2.INTER_AREA)
        for f in iter_frames(DATA / "videos" / "hiphop_clip1.mp4", max_size=480)
    ][:count]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip]
    flows = [dis.calc(a, b, None) for a, b in zip(grey, grey[1:])]
    yield "hiphop", clip, flows, moved_masks(masks, len(clip), 1.0, (-60, 0), 1.0), "held out"


def stored_holed_frames(frames, holes, work: Path) -> list[np.ndarray]:
    """The frames with black holes and the holes written as the frames and holes artifacts in `work`;
    the frames as read back."""
    holed = [np.where(h[..., None], np.uint8(0), f) for f, h in zip(frames, holes)]
    stored = FrameSequence(write_frames(work / "frames", holed, fps=24.0))
    (work / "holes").mkdir()
    entries = [{"frame": k, "area": int(h.sum()), "rle": mask_files.encode(h)} for k, h in enumerate(holes)]
    mask_files.write_masks(work / "holes" / HOLES_JSON, *SIZE, entries)
    return [stored.read(k) for k in range(len(frames))]


def embedded(holes, work: Path, settings: dict) -> tuple[list[np.ndarray], tuple[float, float]]:
    """The flow and inpaint stages on the holed frames artifact in `work`: (filled frames, (wall, CPU)
    seconds of both)."""
    frames_art = Artifact(work / "frames")
    start, cpu_start = time.perf_counter(), time.process_time()
    (work / "flow").mkdir()
    flow_stage.run(planned_config(flow_stage, {"backward": True}), {"frames": frames_art}, work / "flow")
    (work / "inpaint").mkdir()
    inpaint_stage.run(
        planned_config(inpaint_stage, {"backend": "embedded", **settings}),
        {"frames": frames_art, "holes": Artifact(work / "holes"), "flow": Artifact(work / "flow")},
        work / "inpaint",
    )
    seconds = (time.perf_counter() - start, time.process_time() - cpu_start)
    out = [read_rgb(work / "inpaint" / FILLED_DIR / filled_filename(k)) for k in range(len(holes))]
    return out, seconds


def telea(frames, holes) -> list[np.ndarray]:
    return [cv2.inpaint(f, h.astype(np.uint8), 5, cv2.INPAINT_TELEA) for f, h in zip(frames, holes)]


def nearest_frame(frames, holes) -> list[np.ndarray]:
    """Each hole pixel copied from the nearest frame in time where that pixel is not in a hole."""
    out = []
    for t, (frame, hole) in enumerate(zip(frames, holes)):
        result, todo = frame.copy(), hole.copy()
        for distance in range(1, len(frames)):
            for s in (t - distance, t + distance):
                if 0 <= s < len(frames) and todo.any():
                    take = todo & ~holes[s]
                    result[take] = frames[s][take]
                    todo &= ~take
        if todo.any():
            result = cv2.inpaint(result, todo.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        out.append(result)
    return out


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5), averaged over channels."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim.mean(axis=2)


def warping_error(out, holes, flows) -> float:
    width, height = SIZE
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    errors = []
    for t, flow in enumerate(flows):
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        warped = cv2.remap(out[t + 1].astype(np.float32), map_x, map_y, cv2.INTER_LINEAR)
        valid = holes[t] & (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        if valid.any():
            errors.append(np.abs(out[t].astype(np.float32) - warped)[valid].mean())
    return float(np.mean(errors))


def scores(out, truth, holes, flows) -> dict:
    squared = np.concatenate([(o[h].astype(float) - g[h]).ravel() ** 2 for o, g, h in zip(out, truth, holes)])
    ssim = np.concatenate([ssim_map(o, g)[h] for o, g, h in zip(out, truth, holes)])
    return {
        "psnr": psnr(squared),
        "ssim": float(ssim.mean()),
        "warp": warping_error(out, holes, flows),
    }


def write_png(path: Path, rows) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack([np.hstack(r) for r in rows]), cv2.COLOR_RGB2BGR))


def benchmark(count: int, png: Path | None, settings: dict) -> None:
    print(
        f"{'video':14} {'split':9} {'method':14} {'PSNR dB':>8} {'SSIM':>6} {'warp err':>8} {'frames/s':>8} "
        f"{'frames/CPU-s':>12}"
    )
    gains = {}
    for name, frames, flows, holes, split in videos(count):
        with tempfile.TemporaryDirectory() as tmp:
            holed = stored_holed_frames(frames, holes, Path(tmp))
            filled, seconds = embedded(holes, Path(tmp), settings)
        results = {
            "embedded": filled,
            "telea": telea(holed, holes),
            "nearest frame": nearest_frame(holed, holes),
        }
        truth_warp = warping_error(frames, holes, flows)
        print(f"{name:14} {split:9} {'ground truth':14} {'':>8} {'':>6} {truth_warp:8.2f}")
        psnr = {}
        for method, out in results.items():
            s = scores(out, frames, holes, flows)
            psnr[method] = s["psnr"]
            speed = (
                f"{len(frames) / seconds[0]:8.1f} {len(frames) / seconds[1]:12.1f}"
                if method == "embedded"
                else ""
            )
            print(
                f"{name:14} {split:9} {method:14} {s['psnr']:8.2f} {s['ssim']:6.3f} {s['warp']:8.2f} {speed}"
            )
        gains.setdefault(split, []).append(psnr["embedded"] - psnr["telea"])
        if png:
            png.mkdir(parents=True, exist_ok=True)
            for t in (len(frames) // 4, 3 * len(frames) // 4):
                write_png(
                    png / f"{name}_{t:03d}.png",
                    [[frames[t], holed[t]], [results["telea"][t], results["nearest frame"][t]],
                     [results["embedded"][t], np.zeros_like(frames[t])]],
                )
    for split, values in gains.items():
        print(f"{split}: embedded over Telea, mean {np.mean(values):+.2f} dB, least {min(values):+.2f} dB")


def tune(count: int) -> None:
    """Each setting's PSNR, SSIM and warping error on every tuning clip, and its mean PSNR there."""
    clips = list(videos(count, splits=("tuning",)))
    print("tuning on " + ", ".join(clip[0] for clip in clips))
    grid = [{}] + [{"unseen_refresh": r} for r in (0, 0.15, 0.25, 0.5)]
    grid += [{"flow_margin": m} for m in (16, 32)] + [{"temporal_blend": 0.25}, {"context": 10}]
    grid += [{"background_frames": n} for n in (0, 80)] + [{"background_scope": "holes"}]
    grid += [{"background_spread": s} for s in (2, 10, 255)]
    grid += [{"flow_check": c} for c in (0, 0.2)] + [{"consistency": 2}]
    for settings in grid:
        row = []
        for name, frames, flows, holes, _ in clips:
            with tempfile.TemporaryDirectory() as tmp:
                stored_holed_frames(frames, holes, Path(tmp))
                out, _ = embedded(holes, Path(tmp), settings)
            row.append(scores(out, frames, holes, flows))
        cells = "  ".join(f"{s['psnr']:6.2f} {s['ssim']:.3f} {s['warp']:5.2f}" for s in row)
        print(f"{json.dumps(settings):34} mean PSNR {np.mean([s['psnr'] for s in row]):6.2f}  |  {cells}")


def inverse_flow(flow: np.ndarray) -> np.ndarray:
    """The flow back from the second frame to the first, of an exact forward flow (NaN where hidden):
    each known vector splatted bilinearly at its end point, negated; what nothing lands on (what the
    second frame uncovers) interpolated smoothly."""
    height, width = flow.shape[:2]
    rows, columns = np.nonzero(np.isfinite(flow).all(-1))
    vectors = flow[rows, columns]
    x, y = columns + vectors[:, 0], rows + vectors[:, 1]
    total, weight = np.zeros((height, width, 2)), np.zeros((height, width))
    for dx in (0, 1):
        for dy in (0, 1):
            column, row = np.floor(x).astype(int) + dx, np.floor(y).astype(int) + dy
            share = (1 - np.abs(x - column)) * (1 - np.abs(y - row))
            ok = (column >= 0) & (column < width) & (row >= 0) & (row < height) & (share > 0)
            np.add.at(total, (row[ok], column[ok]), -vectors[ok] * share[ok, None])
            np.add.at(weight, (row[ok], column[ok]), share[ok])
    back = (total / np.maximum(weight, 1e-9)[..., None]).astype(np.float32)
    return flow_guided.smooth_fill(back, weight < 0.3)


class ExactFlowVideo(HoleVideo):
    """A `HoleVideo` whose flow is a synthetic clip's exact flow (hidden points interpolated smoothly)."""

    def __init__(self, work: Path, flows: list[np.ndarray]):
        super().__init__(work / "frames", work / "holes", work / "flow")
        self.forward = [flow_guided.smooth_fill(np.nan_to_num(f), ~np.isfinite(f).all(-1)) for f in flows]
        self.backward = [inverse_flow(f) for f in flows]

    def flow(self, i: int, j: int) -> np.ndarray:
        return self.forward[i] if j == i + 1 else self.backward[j]


def fill_in_memory(video, settings: dict) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The embedded fill of `video`: (filled frames, per frame the hole pixels propagated from another
    frame, per frame the window's fill before anything fills what it left unseen, as uint8)."""
    filled, propagated, windowed = [None] * len(video), [None] * len(video), [None] * len(video)
    window_fill = flow_guided._Window.fill

    def recording_fill(window, k):
        frame, unseen = window_fill(window, k)
        propagated[window.lo + k] = window.holes[k] & ~unseen
        windowed[window.lo + k] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        return frame, unseen

    options = flow_guided.FlowGuidedOptions(**settings)
    with mock.patch.object(flow_guided._Window, "fill", recording_fill):
        flow_guided.FlowGuidedFill(options).run(video, lambda i, rgb: filled.__setitem__(i, rgb))
    return filled, propagated, windowed


def dis_video(work: Path) -> HoleVideo:
    """The stored holed frames in `work` with their flow from the flow stage (DIS medium, both ways)."""
    (work / "flow").mkdir()
    flow_stage.run(
        planned_config(flow_stage, {"backward": True}), {"frames": Artifact(work / "frames")}, work / "flow"
    )
    return HoleVideo(work / "frames", work / "holes", work / "flow")


def xphoto_fill(method: int, lab: bool = False) -> Callable:
    """cv2.xphoto.inpaint with `method` as a fill(RGB, hole) (SHIFTMAP wants CIE Lab)."""
    def fill(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        source = np.where(hole[..., None], np.uint8(0), rgb)
        source = cv2.cvtColor(source, cv2.COLOR_RGB2Lab) if lab else source
        out = np.zeros_like(source)
        cv2.xphoto.inpaint(source, (~hole).astype(np.uint8), out, method)  # its mask marks the known pixels
        return cv2.cvtColor(out, cv2.COLOR_Lab2RGB) if lab else out
    return fill


SPATIAL_CANDIDATES = {  # name: fill(RGB uint8, hole) -> RGB uint8
    "telea": lambda rgb, hole: cv2.inpaint(rgb, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA),
    "ns": lambda rgb, hole: cv2.inpaint(rgb, hole.astype(np.uint8), 5, cv2.INPAINT_NS),
    "fsr-fast": xphoto_fill(cv2.xphoto.INPAINT_FSR_FAST),
    "fsr-best": xphoto_fill(cv2.xphoto.INPAINT_FSR_BEST),
    "shiftmap": xphoto_fill(cv2.xphoto.INPAINT_SHIFTMAP, lab=True),
}
SPATIAL_HELD_OUT = ("telea", "fsr-fast")  # FSR_BEST and SHIFTMAP: 1-6 CPU-s a frame, not better on tuning


def compare_spatial(count: int) -> None:
    """Spatial fills on exactly the hole pixels no frame of the propagation window shows (DIS flow,
    defaults), every 8th frame, each given the frame with the window's propagated pixels in its hole:
    PSNR there, and what the embedded fill's output (carried from the previous frame, a share refilled
    by Telea; the background model on a still camera) scores on the same pixels; CPU-s per frame."""
    cv2.setNumThreads(1)
    print(f"{'video':14} {'split':9} {'fill':22} {'PSNR dB':>8} {'CPU-s/frame':>11} {'load':>5}")
    for name, frames, _, holes, split in videos(count):
        with tempfile.TemporaryDirectory() as tmp:
            stored_holed_frames(frames, holes, Path(tmp))
            out, propagated, windowed = fill_in_memory(dis_video(Path(tmp)), {})
        unseen = {t: holes[t] & ~propagated[t] for t in range(0, len(frames), 8)}
        unseen = {t: u for t, u in unseen.items() if u.any()}
        share = sum((h & ~p).sum() for h, p in zip(holes, propagated)) / sum(h.sum() for h in holes)
        label = f"embedded ({share:.0%} unseen)"
        figure = f"{unseen_psnr(out, frames, unseen):8.2f}" if unseen else f"{'-':>8}"
        print(f"{name:14} {split:9} {label:22} {figure}")
        if not unseen:
            continue
        for method, fill in SPATIAL_CANDIDATES.items():
            if split == "held out" and method not in SPATIAL_HELD_OUT:
                continue
            start = time.process_time()
            spatial = {t: fill(windowed[t], u) for t, u in unseen.items()}
            cpu = (time.process_time() - start) / len(unseen)
            print(f"{name:14} {split:9} {method:22} {unseen_psnr(spatial, frames, unseen):8.2f} {cpu:11.3f} "
                  f"{os.getloadavg()[0]:5.1f}", flush=True)


def unseen_psnr(images, frames, unseen: dict) -> float:
    """PSNR of `images` against `frames` on the pixels `unseen` (by frame index)."""
    return psnr(np.concatenate([np.square(images[t][u].astype(float) - frames[t][u]).ravel()
                                for t, u in unseen.items()]))


def diagnose(count: int, settings: dict) -> None:
    """What limits the embedded fill on the synthetic clips (exact flow known): PSNR in the holes with
    the estimated flow (DIS, completed inside the holes), with the exact flow outside the holes
    (completed inside, `flow_margin` 0 as nothing near a hole is wrong), and with the exact flow
    everywhere (no completion); each split into the pixels propagated from another frame and the rest."""
    print(f"{'video':14} {'flow':30} {'PSNR dB':>8} {'propagated':>10} {'its PSNR':>8} {'rest PSNR':>9}")
    for name, frames, flows, holes, _ in videos(count):
        if name not in SYNTH_CLIPS:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            holed = stored_holed_frames(frames, holes, work)
            estimated = dis_video(work)  # the flow stage's files first: ExactFlowVideo opens them too
            exact = ExactFlowVideo(work, flows)
            runs = {  # label: (video, settings changed, flow completion)
                "estimated (DIS, completed)": (estimated, {}, flow_guided.complete_flow),
                "exact outside the holes": (exact, {"flow_margin": 0}, flow_guided.complete_flow),
                "exact everywhere": (exact, {"flow_margin": 0}, uncompleted),
            }
            for label, (video, changes, completion) in runs.items():
                with mock.patch.object(flow_guided, "complete_flow", completion):
                    out, propagated, _ = fill_in_memory(video, {**settings, **changes})
                error = [np.square(o.astype(float) - f) for o, f in zip(out, frames)]
                inside = np.concatenate([e[p].ravel() for e, p in zip(error, propagated)])
                rest = np.concatenate([e[h & ~p].ravel() for e, h, p in zip(error, holes, propagated)])
                whole = np.concatenate([inside, rest])
                print(
                    f"{name:14} {label:30} {psnr(whole):8.2f} {inside.size / whole.size:10.0%} "
                    f"{psnr(inside):8.2f} {psnr(rest):9.2f}"
                )
        telea_error = np.concatenate([np.square(o[h].astype(float) - f[h]).ravel()
                                      for o, f, h in zip(telea(holed, holes), frames, holes)])
        print(f"{name:14} {'Telea per frame':30} {psnr(telea_error):8.2f}")


def dis(**parameters) -> Callable:
    """DIS medium with some of its parameters changed (`setFinestScale` for FinestScale=...), on grey."""
    def make():
        estimator = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        for name, value in parameters.items():
            getattr(estimator, "set" + name)(value)
        return on_grey(estimator)
    return make


def on_grey(estimator) -> Callable:
    def flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return estimator.calc(*(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in (first, second)), None)
    return flow


def farneback(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    grey = [cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in (first, second)]
    return cv2.calcOpticalFlowFarneback(*grey, None, 0.5, 5, 15, 5, 7, 1.5, 0)


def dense_rlof() -> Callable:
    estimator = cv2.optflow.DenseRLOFOpticalFlow_create()

    def flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return estimator.calc(*(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) for rgb in (first, second)), None)
    return flow


FLOW_CANDIDATES = {  # name: a function that makes flow(first RGB, second RGB); dis-medium is the default
    "dis-medium": dis(),
    "dis-medium-finest0": dis(FinestScale=0),
    "dis-medium-refine20": dis(VariationalRefinementIterations=20),
    "dis-medium-finest0-refine20": dis(FinestScale=0, VariationalRefinementIterations=20),
    "dis-medium-patch12": dis(PatchSize=12, PatchStride=4),
    "dis-medium-alpha40": dis(VariationalRefinementAlpha=40.0),
    "farneback": lambda: farneback,
    "dense-rlof": dense_rlof,
    "pcaflow": lambda: on_grey(cv2.optflow.createOptFlow_PCAFlow()),
    "sparse-to-dense": lambda: on_grey(cv2.optflow.createOptFlow_SparseToDense()),
    "dual-tvl1": lambda: on_grey(cv2.optflow.DualTVL1OpticalFlow_create()),
    "deepflow": lambda: on_grey(cv2.optflow.createOptFlow_DeepFlow()),
}
FILL_CANDIDATES = ("dis-medium", "dis-medium-refine20", "dis-medium-patch12", "deepflow")


class MemoryFlowVideo(HoleVideo):
    """A `HoleVideo` whose flow is given by pair, in memory, at the frames' size."""

    def __init__(self, work: Path, flows: dict):
        super().__init__(work / "frames", work / "holes", None)
        self.flows, self.flow_size = flows, self.size

    def flow(self, i: int, j: int) -> np.ndarray:
        return self.flows[(i, j)]


def compare_flows(count: int, fill_candidates: list[str]) -> None:
    """Flow candidates on the stored holed frames (one thread): end-point error against the exact flow
    outside the holes and of the completed flow inside them (`completed_pair`, defaults), every 8th pair
    of the clips with an exact flow, and CPU-s per flow; then, for `fill_candidates`, the embedded fill
    (defaults) with that flow for every pair in both directions, given in memory (not through the flow
    stage's 16-bit PNG files), on every clip."""
    cv2.setNumThreads(1)
    print(f"{'video':14} {'split':9} {'flow':27} {'EPE out':>7} {'EPE in':>6} {'CPU-s/flow':>10} "
          f"{'PSNR dB':>8} {'SSIM':>6} {'warp err':>8} {'load':>5}")
    options = flow_guided.FlowGuidedOptions()
    for name, frames, true_flows, holes, split in videos(count):
        with tempfile.TemporaryDirectory() as tmp:
            holed = stored_holed_frames(frames, holes, Path(tmp))
            for candidate, make in FLOW_CANDIDATES.items():
                fill = candidate in fill_candidates
                if split == "held out" and not fill:
                    continue  # end-point errors choose a flow on the tuning split only
                estimate, cpu, outside, inside, pairs = make(), 0.0, [], [], {}
                video = MemoryFlowVideo(Path(tmp), pairs)
                for i in range(0, len(frames) - 1, 1 if fill else 8):
                    start = time.process_time()
                    pairs[(i, i + 1)] = estimate(holed[i], holed[i + 1])
                    pairs[(i + 1, i)] = estimate(holed[i + 1], holed[i])
                    cpu += time.process_time() - start
                    if i % 8 == 0 and name != "hiphop":  # hiphop's reference flow is DIS's, not the truth
                        completed = flow_guided.completed_pair(video, i, holes[i], holes[i + 1], options)[0]
                        true, known = np.nan_to_num(true_flows[i]), np.isfinite(true_flows[i]).all(-1)
                        outside.append(np.linalg.norm(pairs[(i, i + 1)] - true, axis=-1)[known & ~holes[i]])
                        inside.append(np.linalg.norm(completed - true, axis=-1)[known & holes[i]])
                epe = (
                    f"{np.concatenate(outside).mean():7.2f} {np.concatenate(inside).mean():6.2f}"
                    if outside else f"{'-':>7} {'-':>6}"
                )
                row = f"{name:14} {split:9} {candidate:27} {epe} {cpu / len(pairs):10.3f}"
                if fill:
                    s = scores(fill_in_memory(video, {})[0], frames, holes, true_flows)
                    row += f" {s['psnr']:8.2f} {s['ssim']:6.3f} {s['warp']:8.2f}"
                else:
                    row += f" {'':8} {'':6} {'':8}"
                print(f"{row} {os.getloadavg()[0]:5.1f}", flush=True)


def uncompleted(flow: np.ndarray, hole: np.ndarray, margin: int) -> np.ndarray:
    """`flow_guided.complete_flow` for an exact flow: it is kept inside the holes too."""
    return flow


def psnr(squared: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / squared.mean())) if squared.size else float("nan")


def memory() -> None:
    """Peak resident memory of the inpaint stage alone, in a fresh process, on pans of three lengths
    (frames, holes and flow written beforehand)."""
    kitti = np.concatenate([read_rgb(DATA / "flow" / "kitti" / "frame1.png")] * 3, axis=1)
    masks = schoolgirls_masks()
    for count in (60, 240, 480):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            frames, _ = pan(kitti, count, (4, 0), 20)
            holes = moved_masks(masks, count, 0.9, (0, 10), 0.5)
            stored_holed_frames(frames, holes, work)
            (work / "flow").mkdir()
            flow_stage.run(
                planned_config(flow_stage, {"backward": True}),
                {"frames": Artifact(work / "frames")},
                work / "flow",
            )
            del frames, holes
            code = (
                "import re, sys; from pathlib import Path; from vidcli.engine.stage import Artifact, "
                "planned_config; from vidcli.stages import inpaint as s; w = Path(sys.argv[1]); "
                "(w / 'inpaint').mkdir(); s.run(planned_config(s, {'backend': 'embedded'}), "
                "{n: Artifact(w / n) for n in ('frames', 'holes', 'flow')}, w / 'inpaint'); "
                "print(re.search(r'VmHWM:\\s*(\\d+)', Path('/proc/self/status').read_text())[1])"
            )  # VmHWM, not getrusage's ru_maxrss: that keeps the parent's resident size across fork and exec
            peak = subprocess.run(
                [sys.executable, "-c", code, tmp], capture_output=True, text=True, check=True
            )
            print(
                f"{count} frames at 432x240: inpaint stage peak RSS "
                f"{int(peak.stdout.split()[-1]) / 1024:.0f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--diagnose", action="store_true", help="the synthetic clips with their exact flow")
    parser.add_argument("--flows", nargs="?", const=",".join(FILL_CANDIDATES), metavar="NAMES",
                        help="flow candidates' end-point errors and cost; the fill with NAMES' flows "
                             "(comma-separated; default: %(const)s)")
    parser.add_argument("--spatial", action="store_true", help="spatial fills of what no window frame shows")
    parser.add_argument("--png", type=Path)
    parser.add_argument("--settings", type=json.loads, default={}, help="inpaint stage settings, as JSON")
    args = parser.parse_args()
    if args.tune:
        tune(args.frames)
    elif args.memory:
        memory()
    elif args.spatial:
        compare_spatial(args.frames)
    elif args.flows:
        compare_flows(args.frames, args.flows.split(","))
    elif args.diagnose:
        diagnose(args.frames, args.settings)
    else:
        benchmark(args.frames, args.png, args.settings)


if __name__ == "__main__":
    main()
