"""Camera poses and intrinsics of a monocular video, up to scale: dense flow-based SLAM with people masked.

DROID-SLAM-style, as TRAM uses it: keyframes by flow magnitude, a frame graph of nearby keyframes,
dense correspondences from optical flow weighted by forward-backward consistency and zero on the
people of the masks artifact, dense bundle adjustment of keyframe poses and 1/8-resolution inverse
depths (local while tracking, global at the end), motion-only poses for the other frames. Without
given intrinsics, the focal length of a moving camera is the one of lowest reprojection cost over a
sweep around max(width, height); a still camera's comes from the people of the keypoints artifact
where they are seen at several depths (`vidcli.slam.people_focal`) or from a tiled floor's square grid
(`vidcli.slam.lines_focal`), whichever is surer, else it is max(width, height).
A camera that only turns (no parallax) is solved for rotations only; one that
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

from vidcli import backends
from vidcli.backends.dis import PRESETS
from vidcli.backends.raft import RaftSettings, resolve_raft_settings
from vidcli.console import log, progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError, InputError
from vidcli.io import masks as mask_files
from vidcli.settings import setting

VERSION = 7
INPUTS = ("frames", "masks", "keypoints")
COMPONENT = "camera"

# Relative inverse-depth uncertainty at which a depth cell's confidence is 1/2, and the residual
# noise (grid pixels) assumed to turn the bundle adjustment's curvature into that uncertainty.
DEPTH_CONFIDENCE_REL = 0.1
RESIDUAL_NOISE_GRID_PX = 0.125
FOCAL_FRAMES = 5  # frames Depth Pro estimates the focal length on (focal=depthpro)
FOCAL_METHODS = ("auto", "sweep", "people", "floor", "depthpro")
STILL_FOCAL_MAX_STD = 0.03  # a still camera's cue (people, floor) is used where its relative std is below


@dataclass
class Config(RaftSettings):
    backend: str = setting("auto", "camera solver; auto: a full backend whose checkpoints are installed, "
                                   "else embedded", choices=backends.choices(COMPONENT))
    focal: str = setting("auto", "focal length: a number of pixels (fx = fy); sweep = the focal of lowest "
                                 "reprojection error from a sweep around max(width, height) (a moving camera "
                                 "only); people = from the people standing at several depths; floor = from "
                                 "a tiled floor's square grid (assumes square tiles); depthpro = Depth Pro's "
                                 "estimate (median over up to 5 frames; checkpoint depth_pro); auto = fx/fy "
                                 "if given, else the sweep for a moving camera and the surer of people and "
                                 "floor for a static one; max(width, height) where none of these can tell "
                                 "(the manifest's focal_source says which)")
    fx: float = setting(0.0, "focal length along x in pixels; 0 = not given", bounds="[0, 1e6]")
    fy: float = setting(0.0, "focal length along y in pixels; 0 = fx", bounds="[0, 1e6]")
    cx: float = setting(0.0, "principal point x in pixels; 0 = the image centre", bounds="[0, 1e5]")
    cy: float = setting(0.0, "principal point y in pixels; 0 = the image centre", bounds="[0, 1e5]")
    max_size: int = setting(512, "longest side, in pixels, of the images flow and tracking work on",
                            bounds="[64, 4096]")
    flow: str = setting("dis", "optical flow the embedded solver tracks with; auto: RAFT when its checkpoint "
                               "is installed", choices=backends.choices("flow"))
    dis_preset: str = setting("fast", "DIS speed/quality preset (medium: 5 times slower than fast)",
                              choices=tuple(PRESETS))
    dis_finest_scale: int = setting(1, "finest pyramid level (0 = the working image) DIS refines its flow "
                                       "on, instead of the preset's (2 for fast, whose flow then falls a "
                                       "few % short; 1 takes 1.3 times as long); -1 = the preset's",
                                    bounds="[-1, 4]")
    keyframe_flow: float = setting(2.5, "flow (75th percentile of the background) from the last keyframe "
                                        "that starts a new one, in % of the image's longest side",
                                   bounds="(0, 100]")
    static_flow: float = setting(0.3, "a video whose background flow (75th percentile) from the first frame "
                                      "stays below this (% of the longest side) is static", bounds="[0, 100]")
    radius: int = setting(2, "keyframes this close in keyframe order are linked by correspondences",
                          bounds="[1, 100]")
    window: int = setting(6, "keyframes the local bundle adjustment moves while tracking", bounds="[2, 1000]")
    max_keyframe_rate: float = setting(10.0, "keyframes per second of video at most (bounds the time and "
                                             "memory of a shaky or untrackable video)", bounds="(0, 240]")
    min_textured: float = setting(5.0, "share (%) of a frame's cells whose background (people masked) must "
                                       "be textured to measure the camera by; a video without such frames "
                                       "(a plain backdrop) has an unobservable camera, reported static",
                                  bounds="[0, 100]")
    iterations: int = setting(12, "Gauss-Newton iterations of each global bundle adjustment",
                              bounds="[1, 1000]")
    droid_filter_thresh: float = setting(2.4, "backend droid: mean flow (1/8-resolution pixels) from the "
                                              "last keyframe, predicted by one update step, that makes a "
                                              "keyframe", bounds="(0, 1000]")
    droid_warmup: int = setting(8, "backend droid: keyframes before the frontend initialises",
                                bounds="[4, 1000]")
    droid_keyframe_thresh: float = setting(4.0, "backend droid: the keyframe before last is dropped when its "
                                                "neighbours are closer than twice this (1/8-res. pixels)",
                                           bounds="[0, 1000]")
    droid_frontend_thresh: float = setting(16.0, "backend droid: the frontend links keyframes closer than "
                                                 "this (1/8-res. pixels)", bounds="[0, 1000]")
    droid_frontend_window: int = setting(25, "backend droid: keyframes back the frontend links by proximity",
                                         bounds="[1, 1000]")
    droid_frontend_radius: int = setting(2, "backend droid: the frontend links each new keyframe to this "
                                            "many before it, and the one before those", bounds="[0, 100]")
    droid_frontend_nms: int = setting(1, "backend droid: proximity edges of the frontend this close to an "
                                         "existing one are suppressed", bounds="[0, 100]")
    droid_backend_thresh: float = setting(22.0, "backend droid: the final global adjustment links keyframes "
                                                "closer than this (1/8-res. pixels)", bounds="[0, 1000]")
    droid_backend_radius: int = setting(2, "backend droid: as droid_frontend_radius, for the global "
                                           "adjustment", bounds="[0, 100]")
    droid_backend_nms: int = setting(3, "backend droid: as droid_frontend_nms, for the global adjustment",
                                     bounds="[0, 100]")
    mask_dilation: int = setting(4, "pixels (working images) by which person masks grow before use",
                                 bounds="[0, 256]")
    device: str = setting("auto", "where RAFT or DROID's network runs; auto: cuda when a GPU is visible",
                          significant=False, choices=backends.DEVICES)
    static: bool = setting(False, "the camera is known not to move (a tripod): skip tracking, identity poses")

    def given_focal(self) -> float | None:
        """The focal in pixels `focal` gives, or None for one of its methods."""
        return None if self.focal in FOCAL_METHODS else float(self.focal)

    def check(self) -> None:
        if self.focal not in FOCAL_METHODS:
            try:
                value = float(self.focal)
            except ValueError:
                value = math.nan
            if not 0 < value <= 1e6:
                raise ConfigError(f"focal must be a number of pixels in (0, 1e6] or one of "
                                  f"{', '.join(FOCAL_METHODS)}; got {self.focal!r}")
        if self.focal != "auto" and (self.fx or self.fy):
            raise ConfigError("give either focal or fx/fy, not both")
        if self.fy and not self.fx:
            raise ConfigError("fy needs fx")
        if self.keyframe_flow <= self.static_flow:
            raise ConfigError("keyframe_flow must exceed static_flow")


def resolve_config(config: Config) -> Config:
    from vidcli.models import registry

    if config.focal == "depthpro" and not registry.is_present("depth_pro"):
        raise ConfigError("focal=depthpro needs checkpoint depth_pro (vidcli models download depth_pro)")
    flow = backends.resolve("flow", config.flow, own_checkpoint=bool(config.checkpoint))[0]
    config = resolve_raft_settings(config, flow)
    solver = backends.get(COMPONENT, config.backend)
    network = solver if solver.runs_on_gpu else backends.get("flow", flow)
    return replace(config, flow=flow, device=backends.device(network, config.device))


def intrinsics(config: Config, width: int, height: int, estimated: float | None = None
               ) -> tuple[np.ndarray, bool]:
    """K from the settings or an `estimated` focal (the default focal is max(width, height)) and whether
    the sweep is to calibrate it."""
    given = config.given_focal()
    fx = given or config.fx or estimated or float(max(width, height))
    fy = given or config.fy or fx
    K = np.array([[fx, 0.0, config.cx or width / 2], [0.0, fy, config.cy or height / 2], [0.0, 0.0, 1.0]])
    return K, config.focal in ("auto", "sweep") and not (config.fx or estimated)


def focal_source(config: Config, estimated: str | None, calibrated: bool) -> str:
    """Where the focal length came from, for the manifest (`estimated`: the cue that gave it, if one did)."""
    if config.given_focal() or config.fx:
        return "given"
    return estimated or ("sweep" if calibrated else "default")


def people_focal(source, width: int, height: int, principal: tuple[float, float]):
    """The people of the `keypoints` input's fit (`vidcli.slam.people_focal`), or None where there are
    too few upright rows or no input (a direct call)."""
    from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints
    from vidcli.slam.people_focal import fit_people_focal, upright_points

    if source is None:
        return None
    keypoints = read_keypoints(Path(source.path) / KEYPOINTS_NPZ).as_blazepose33()
    points, usable = upright_points(keypoints.keypoints2d)
    return fit_people_focal(points[usable], keypoints.track_id[usable], width, height, principal)


def still_focal(method: str, frames, keypoints, principal: tuple[float, float]
                ) -> tuple[float | None, str | None]:
    """A still camera's focal and its cue (`method`: people, floor, or auto for the surer of the two), or
    (None, None) where no cue's relative standard deviation is below STILL_FOCAL_MAX_STD."""
    from vidcli.slam.lines_focal import floor_grid_focal

    width, height = frames.size
    fits = {}
    if method in ("people", "auto"):
        fits["people"] = people_focal(keypoints, width, height, principal)
    if method in ("floor", "auto"):
        fits["floor"] = floor_grid_focal(frames, principal)
    for cue, fit in fits.items():
        if fit is not None:
            log.info("camera: %s focal %.0f px within %.1f%%", cue, fit.focal, 100 * fit.relative_std)
    sure = {cue: fit for cue, fit in fits.items() if fit and fit.relative_std < STILL_FOCAL_MAX_STD}
    if not sure:
        return None, None
    cue = min(sure, key=lambda c: sure[c].relative_std)
    return sure[cue].focal, cue


def depth_pro_focal(frames, count: int = FOCAL_FRAMES) -> float:
    """The median of Depth Pro's focal estimates (pixels) on up to `count` frames spread over the video;
    Depth Pro runs on the GPU where one is visible."""
    from vidcli.devices import visible_gpu_count
    from vidcli.slam.metric_depth import MetricDepth

    network = MetricDepth("depth_pro", "cuda" if visible_gpu_count() else "cpu")
    picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))
    return float(np.median([network.focal(frames.read(int(i))) for i in picks]))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli.io.camera import DEPTH_NPZ, CameraTrack, write_camera
    from vidcli.io.frames import FrameSequence, ReadAhead
    from vidcli.io.video import scaled_size
    from vidcli.slam.correspondence import CELL, grid_shape
    from vidcli.slam.tracker import static_result

    frames = FrameSequence(inputs["frames"].path)
    width, height = frames.size
    if len(frames) < 2:
        raise InputError(f"the video has {len(frames)} frame; tracking needs at least 2")
    people = _people_masks(Path(inputs["masks"].path) / mask_files.UNION_JSON, width, height)
    work_width, work_height = scaled_size(width, height, config.max_size)
    to_work = np.diag([work_width / width, work_height / height, 1.0])
    principal = (config.cx or width / 2, config.cy or height / 2)
    estimated, cue = None, None
    if config.focal == "depthpro":
        estimated, cue = depth_pro_focal(frames), "depthpro"
    elif config.focal in ("people", "floor") or (config.focal == "auto" and config.static and not config.fx):
        estimated, cue = still_focal(config.focal, frames, inputs.get("keypoints"), principal)
    K, calibrate = intrinsics(config, width, height, estimated)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.mask_dilation + 1,) * 2)

    def read(index: int):
        rgb = frames.read_resized(index, (work_width, work_height))
        if index not in people:
            return rgb, None
        mask = np.any([mask_files.decode(rle) for rle in people[index]], axis=0).astype(np.uint8)
        mask = cv2.resize(mask, (work_width, work_height), interpolation=cv2.INTER_NEAREST)
        return rgb, cv2.dilate(mask, kernel) > 0

    solver = None
    if config.static:
        result = static_result(len(frames), to_work @ K, grid_shape(work_width, work_height))
    else:
        solver = backends.get(COMPONENT, config.backend).build(config)
        with progress(f"camera ({config.backend})", len(frames)) as bar, \
                ReadAhead(read, len(frames)) as read_ahead:
            result = solver.solve(read_ahead, len(frames), (work_width, work_height), frames.fps, to_work @ K,
                                  calibrate, bar.advance)
    if result.static and calibrate and config.focal == "auto" and not config.static:  # no sweep: still cues
        estimated, cue = still_focal("auto", frames, inputs.get("keypoints"), principal)
        if estimated:
            result.K[:2, :2] = np.diag(np.diag(to_work)[:2] * estimated)
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
              "fx": round(float(K[0, 0]), 2), "fy": round(float(K[1, 1]), 2),
              "focal_source": focal_source(config, cue, calibrate and not result.static),
              "masked_frames": len(people)}
    return RunInfo(backend=config.backend, model=solver and solver.model, checksum=solver and solver.checksum,
                   counts=counts)


def _people_masks(path: Path, width: int, height: int) -> dict[int, list[dict]]:
    """Frame -> the COCO RLEs of its people, from a masks artifact's union file (decoded when read)."""
    if not path.is_file():
        raise InputError(f"{path} is missing; the masks input must be a masks artifact")
    data = mask_files.read_masks(path)
    if (data["width"], data["height"]) != (width, height):
        raise InputError(f"masks are {data['width']}x{data['height']}, frames {width}x{height}")
    people: dict[int, list[dict]] = {}
    for entry in data["masks"]:
        people.setdefault(int(entry["frame"]), []).append(entry["rle"])
    return people
