"""Camera poses and intrinsics of a monocular video, up to scale: dense flow-based SLAM with people masked.

DROID-SLAM-style, as TRAM uses it: keyframes by flow magnitude, a frame graph of nearby keyframes,
dense correspondences from optical flow weighted by forward-backward consistency and zero on the
people of the masks artifact, dense bundle adjustment of keyframe poses and 1/8-resolution inverse
depths (local while tracking, global at the end), motion-only poses for the other frames. Without
given intrinsics, the focal length is the one of lowest reprojection cost over a sweep around
max(width, height). A camera that only turns (no parallax) is solved for rotations only; one that
does not move is reported static, with identity poses. So is one whose motion cannot be observed:
a background (people masked) with too few textured cells, as a plain studio backdrop, shows
neither parallax nor rotation; frames like that get no flow. The world frame is the first camera
of a textured frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vidcli.console import log, progress
from vidcli.engine.stage import RunInfo, setting
from vidcli.errors import ConfigError, InputError
from vidcli.io import masks as mask_files

VERSION = 5
INPUTS = ("frames", "masks")

# Relative inverse-depth uncertainty at which a depth cell's confidence is 1/2, and the residual
# noise (grid pixels) assumed to turn the bundle adjustment's curvature into that uncertainty.
DEPTH_CONFIDENCE_REL = 0.1
RESIDUAL_NOISE_GRID_PX = 0.125
MAX_DIS_FINEST_SCALE = 4  # DIS's coarsest levels: a 512-pixel image is 32 pixels wide at level 4


@dataclass
class Config:
    focal: float = setting(0.0, "focal length in pixels (fx = fy); 0 = fx/fy if given, else calibrate")
    fx: float = setting(0.0, "focal length along x in pixels; 0 = not given")
    fy: float = setting(0.0, "focal length along y in pixels; 0 = fx")
    cx: float = setting(0.0, "principal point x in pixels; 0 = the image centre")
    cy: float = setting(0.0, "principal point y in pixels; 0 = the image centre")
    calibrate: bool = setting(True, "without a given focal: pick the focal of lowest reprojection error "
                                    "from a sweep around max(width, height); false: use max(width, height)")
    max_size: int = setting(512, "longest side, in pixels, of the images flow and tracking work on")
    backend: str = setting("dis", "flow backend: auto | dis | raft; auto: RAFT when its checkpoint is "
                                  "installed")
    dis_preset: str = setting("fast", "DIS speed/quality preset: ultrafast | fast | medium (5 times slower)")
    dis_finest_scale: int = setting(1, "finest pyramid level (0 = the working image) DIS refines its flow "
                                       "on, instead of the preset's (2 for fast, whose flow then falls a "
                                       "few % short; 1 takes 1.3 times as long)")
    keyframe_flow: float = setting(2.5, "flow (75th percentile of the background) from the last keyframe "
                                        "that starts a new one, in % of the image's longest side")
    static_flow: float = setting(0.3, "a video whose background flow (75th percentile) from the first frame "
                                      "stays below this (% of the longest side) is static")
    radius: int = setting(2, "keyframes this close in keyframe order are linked by correspondences")
    window: int = setting(6, "keyframes the local bundle adjustment moves while tracking")
    max_keyframe_rate: float = setting(10.0, "keyframes per second of video at most (bounds the time and "
                                             "memory of a shaky or untrackable video)")
    min_textured: float = setting(5.0, "share (%) of a frame's cells whose background (people masked) must "
                                       "be textured to measure the camera by; a video without such frames "
                                       "(a plain backdrop) has an unobservable camera, reported static")
    iterations: int = setting(12, "Gauss-Newton iterations of each global bundle adjustment")
    mask_dilation: int = setting(4, "pixels (working images) by which person masks grow before use")
    device: str = setting("auto", "auto | cpu | cuda, for RAFT", significant=False)
    static: bool = setting(False, "the camera is known not to move (a tripod): skip tracking, identity poses")


def resolve_config(config: Config) -> Config:
    """Check the settings and make the flow backend concrete."""
    from vidcli.models.flow import resolve_backend

    backend, device = resolve_backend("camera", config.backend, config.dis_preset, config.device)
    if min(config.focal, config.fx, config.fy, config.cx, config.cy) < 0:
        raise ConfigError("camera: focal, fx, fy, cx and cy must not be negative")
    if config.focal and (config.fx or config.fy):
        raise ConfigError("camera: give either focal or fx/fy, not both")
    if config.fy and not config.fx:
        raise ConfigError("camera: fy needs fx")
    if not 0 <= config.dis_finest_scale <= MAX_DIS_FINEST_SCALE:
        raise ConfigError(f"camera: dis_finest_scale must lie in [0, {MAX_DIS_FINEST_SCALE}]")
    if config.max_size < 64 or config.radius < 1 or config.window < 2 or config.iterations < 1:
        raise ConfigError("camera: max_size must be at least 64, radius at least 1, window at least 2, "
                          "iterations at least 1")
    if config.keyframe_flow <= config.static_flow or config.static_flow < 0 or config.mask_dilation < 0:
        raise ConfigError("camera: keyframe_flow must exceed static_flow, both and mask_dilation not "
                          "negative")
    if config.max_keyframe_rate <= 0 or not 0 <= config.min_textured <= 100:
        raise ConfigError("camera: max_keyframe_rate must be positive and min_textured lie in [0, 100]")
    return replace(config, backend=backend, device=device)


def intrinsics(config: Config, width: int, height: int) -> tuple[np.ndarray, bool]:
    """K from the settings (the default focal is max(width, height)) and whether it is to be calibrated."""
    fx = config.focal or config.fx or float(max(width, height))
    fy = config.focal or config.fy or fx
    K = np.array([[fx, 0.0, config.cx or width / 2], [0.0, fy, config.cy or height / 2], [0.0, 0.0, 1.0]])
    return K, config.calibrate and not (config.focal or config.fx)


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from threadpoolctl import threadpool_limits

    from vidcli.io.camera import DEPTH_NPZ, CameraTrack, write_camera
    from vidcli.io.frames import FrameSequence
    from vidcli.io.video import scaled_size
    from vidcli.models.flow import make_estimator
    from vidcli.slam.correspondence import CELL, grid_shape
    from vidcli.slam.tracker import SlamSettings, static_result, track

    config = resolve_config(config)
    frames = FrameSequence(inputs["frames"].path)
    width, height = frames.size
    if len(frames) < 2:
        raise InputError(f"camera: the video has {len(frames)} frame; tracking needs at least 2")
    people = _people_masks(Path(inputs["masks"].path) / mask_files.UNION_JSON, width, height)
    work_width, work_height = scaled_size(width, height, config.max_size)
    to_work = np.diag([work_width / width, work_height / height, 1.0])
    K, calibrate = intrinsics(config, width, height)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.mask_dilation + 1,) * 2)

    def read(index: int):
        rgb = frames.read_resized(index, (work_width, work_height))
        if index not in people:
            return rgb, None
        mask = np.any([mask_files.decode(rle) for rle in people[index]], axis=0).astype(np.uint8)
        mask = cv2.resize(mask, (work_width, work_height), interpolation=cv2.INTER_NEAREST)
        return rgb, cv2.dilate(mask, kernel) > 0

    estimator = make_estimator(config.backend, config.dis_preset, config.device, config.dis_finest_scale)
    percent = max(work_width, work_height) / 100.0
    settings = SlamSettings(keyframe_flow=config.keyframe_flow * percent,
                            static_flow=config.static_flow * percent,
                            radius=config.radius, window=config.window, global_iterations=config.iterations,
                            min_keyframe_gap=max(1, math.ceil(frames.fps / config.max_keyframe_rate - 1e-9)),
                            min_textured_share=config.min_textured / 100)
    # One BLAS thread: its matrices are small, and more threads only spin (on two busy cores, they
    # doubled the CPU time and the wall time of the bundle adjustments).
    if config.static:
        result = static_result(len(frames), to_work @ K, grid_shape(work_width, work_height))
    else:
        with progress(f"camera ({estimator.name})", len(frames)) as bar, \
                threadpool_limits(1, user_api="blas"):
            result = track(read, len(frames), estimator, to_work @ K, settings, calibrate, bar.advance)
    K = np.linalg.inv(to_work) @ result.K
    poses_wc = np.linalg.inv(result.poses)
    if not result.observable:
        log.warning("camera: no frame shows %g%% of textured background cells (a plain backdrop?): the "
                    "camera's motion cannot be measured; reported static (--static-camera says so up front)",
                    config.min_textured)
    elif result.static and not config.static:
        log.info("camera: the background moves less than %.2f%% of the image: static camera",
                 config.static_flow)
    elif result.textured_frames < len(frames) and not config.static:
        log.info("camera: %d of %d frames show less than %g%% of textured background cells: their poses "
                 "are interpolated", len(frames) - result.textured_frames, len(frames), config.min_textured)
    timestamps = np.asarray(frames.timestamps)
    write_camera(out_dir, CameraTrack(K, poses_wc[:, :3, :3], poses_wc[:, :3, 3], timestamps,
                                      width, height, frames.fps, result.static, result.keyframes))
    rows, columns = result.grid
    # Relative inverse-depth variance noise^2 / (curvature rho^2);
    # confidence 1 / (1 + variance / reference^2).
    precision = result.information * result.inv_depth**2
    confidence = precision / (precision + (RESIDUAL_NOISE_GRID_PX / DEPTH_CONFIDENCE_REL) ** 2)
    np.savez(out_dir / DEPTH_NPZ, keyframes=result.keyframes,
             inv_depth=result.inv_depth.reshape(-1, rows, columns).astype(np.float32),
             confidence=confidence.reshape(-1, rows, columns).astype(np.float32),
             K=np.diag([1.0 / CELL, 1.0 / CELL, 1.0]) @ result.K)
    counts = {"frames": len(frames), "keyframes": len(result.keyframes), "static": result.static,
              "rotation_only": result.rotation_only, "motion": result.motion,
              "textured_frames": None if config.static else result.textured_frames,
              "fx": round(float(K[0, 0]), 2), "fy": round(float(K[1, 1]), 2), "masked_frames": len(people)}
    return RunInfo(backend=estimator.name, model=estimator.model, checksum=estimator.checksum, counts=counts)


def _people_masks(path: Path, width: int, height: int) -> dict[int, list[dict]]:
    """Frame -> the COCO RLEs of its people, from a masks artifact's union file (decoded when read)."""
    if not path.is_file():
        raise InputError(f"camera: {path} is missing; the masks input must be a masks artifact")
    data = mask_files.read_masks(path)
    if (data["width"], data["height"]) != (width, height):
        raise InputError(f"camera: masks are {data['width']}x{data['height']}, frames {width}x{height}")
    people: dict[int, list[dict]] = {}
    for entry in data["masks"]:
        people.setdefault(int(entry["frame"]), []).append(entry["rle"])
    return people
