"""Metric scale of the camera trajectory.

The `scale` backend (`vidcli.backends`; the embedded one: the people standing on the reconstructed
ground; `depth`: a metric depth network on each keyframe) gives independent samples of the scale.
They combine robustly (median, then a Huber mean of
log scales); their spread and number give a confidence. A static camera or no usable person gives
scale 1 and confidence 0, as does a camera that only turns (its translation is zero at any scale).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli import backends
from vidcli.console import log
from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError, InputError
from vidcli.geometry import MAD_TO_SIGMA
from vidcli.settings import setting
from vidcli.slam.metric_depth import DEPTH_CHECKPOINTS

VERSION = 2
INPUTS = ("camera", "keypoints", "frames")
COMPONENT = "scale"
FULL_CONFIDENCE_SAMPLES = 10
ZERO_CONFIDENCE_SPREAD = 0.25  # spread (robust std of log ratios) at which confidence reaches 0


@dataclass
class Config:
    backend: str = setting("auto", "scale estimator; auto: a full backend whose checkpoints are installed, "
                                   "else embedded", choices=backends.choices(COMPONENT))
    min_keypoints: int = setting(8, "visible keypoints a detection needs to be placed", bounds="[4, 1000]")
    visibility: float = setting(0.5, "visibility above which a keypoint counts as visible", bounds="[0, 1]")
    depth_confidence: float = setting(0.5, "depth cells below this confidence are not used", bounds="[0, 1]")
    ground_tolerance: float = setting(0.05, "relative inverse-depth error within which a depth cell lies on "
                                            "the ground plane", bounds="(0, 1]")
    depth_model: str = setting("zoedepth", "depth backend: the metric depth network (zoedepth is the one "
                                           "TRAM uses)", choices=tuple(DEPTH_CHECKPOINTS))
    device: str = setting("auto", "where the depth network runs; auto: cuda when a GPU is visible",
                          significant=False, choices=backends.DEVICES)
    sole_height: float = setting(0.05, "height (m) above the ground of the lowest foot landmark of a "
                                       "standing foot", bounds="[0, 1]")


def resolve_config(config: Config) -> Config:
    """The device; the depth backend needs its network's checkpoint."""
    from dataclasses import replace

    from vidcli.models import registry

    if config.backend == "depth" and not registry.is_present(DEPTH_CHECKPOINTS[config.depth_model]):
        name = DEPTH_CHECKPOINTS[config.depth_model]
        raise ConfigError(f"depth_model {config.depth_model} needs checkpoint {name} "
                          f"(vidcli models download {name})")
    return replace(config, device=backends.device(backends.get(COMPONENT, config.backend), config.device))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from dataclasses import replace

    from vidcli.io.arrays import load_npz
    from vidcli.io.camera import CAMERA_NPZ, DEPTH_NPZ, read_camera, write_camera
    from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints

    camera_dir, keypoints_dir = Path(inputs["camera"].path), Path(inputs["keypoints"].path)
    for path in (camera_dir / CAMERA_NPZ, camera_dir / DEPTH_NPZ, keypoints_dir / KEYPOINTS_NPZ):
        if not path.is_file():
            raise InputError(f"{path} is missing")
    camera = read_camera(camera_dir / CAMERA_NPZ)
    depth = load_npz(camera_dir / DEPTH_NPZ, ("keyframes", "inv_depth", "confidence", "K"))
    keypoints = read_keypoints(keypoints_dir / KEYPOINTS_NPZ)

    moving = not camera.static and np.ptp(camera.t_wc, axis=0).max() > 0
    backend = backends.get(COMPONENT, config.backend)
    estimator = backend.build(config)
    read = None
    if estimator.reads_images:
        from vidcli.io.frames import FrameSequence

        read = FrameSequence(inputs["frames"].path).read
    ratios = estimator.samples(camera, depth, keypoints, read) if moving else []
    if not moving:
        result = {"scale": 1.0, "confidence": 0.0, "samples": 0, "spread": None,
                  "method": "none: the camera does not move" + (" (static)" if camera.static else " (it only turns)")}
        log.info("scale: the camera does not change position, so its trajectory needs no scale; scale 1")
    elif not ratios:
        result = {"scale": 1.0, "confidence": 0.0, "samples": 0, "spread": None,
                  "method": f"none: no sample from {config.backend} ({backend.description})"}
        log.warning("scale: no person could be compared with the reconstruction; the trajectory keeps scale 1")
    else:
        scale, spread = robust_scale(np.log(ratios))
        confidence = min(1.0, len(ratios) / FULL_CONFIDENCE_SAMPLES) * max(0.0, 1.0 - spread / ZERO_CONFIDENCE_SPREAD)
        result = {"scale": scale, "confidence": round(confidence, 4), "samples": len(ratios),
                  "spread": round(spread, 4), "method": f"{config.backend}: {backend.description}"}
        log.info("scale: %.4g from %d samples (spread %.1f%%)", scale, len(ratios), 100 * spread)
    (out_dir / "scale.json").write_text(json.dumps(result, indent=1))
    write_camera(out_dir, replace(camera, t_wc=camera.t_wc * result["scale"]))
    return RunInfo(backend=config.backend, model=estimator.model, checksum=estimator.checksum,
                   counts={"samples": result["samples"], "scale": round(result["scale"], 6),
                           "confidence": result["confidence"]})


def robust_scale(log_ratios: np.ndarray) -> tuple[float, float]:
    """(scale, spread): exp of a Huber mean of log ratios started at their median, and their robust
    standard deviation (MAD based)."""
    centre = float(np.median(log_ratios))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(log_ratios - centre)))
    threshold = max(spread, 0.01)
    for _ in range(10):
        residual = log_ratios - centre
        weights = np.minimum(1.0, threshold / np.maximum(np.abs(residual), 1e-12))
        centre = float(np.sum(weights * log_ratios) / np.sum(weights))
    return float(np.exp(centre)), spread
