"""Body model fits per person: shape per track, per-frame joint rotations and camera-frame pelvis.

Each track's BlazePose keypoints (metric root-relative 3D landmarks and 2D keypoints, weighted by
visibility under a robust loss) are fitted with the body model through the camera intrinsics
(`vidcli.mocap.fitting`). The default model is Anny; SMPL and SMPL-X need the user's model files
(`body_model_dir`). Writes `body.npz` (docs/formats.md) and `body.json` (model, shape labels,
per-track summary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli.engine.stage import RunInfo, setting
from vidcli.errors import ConfigError, InputError
from vidcli.mocap.options import FitOptions

_DEFAULTS = FitOptions()
_FIT_SETTINGS = ("sigma_px", "sigma_m", "occluded_3d", "feet_3d", "pose_prior", "shape_prior", "iterations")

VERSION = 3
INPUTS = ("keypoints", "camera")


@dataclass
class Config:
    body: str = setting("anny", "body model: anny | smpl | smplx (smpl and smplx need body_model_dir)")
    body_model_dir: str = setting("",
                                  "folder with your SMPL_<GENDER>.pkl/.npz or SMPLX_<GENDER>.npz/.pkl")
    gender: str = setting("neutral", "SMPL / SMPL-X model gender: neutral | female | male")
    sigma_px: float = setting(_DEFAULTS.sigma_px, "robust scale of the 2D keypoint residuals, pixels")
    sigma_m: float = setting(_DEFAULTS.sigma_m, "robust scale of the 3D landmark residuals, metres")
    occluded_3d: float = setting(_DEFAULTS.occluded_3d,
                                 "weight of a 3D landmark whose visibility is 0 (1 at visibility 1)")
    feet_3d: bool = setting(_DEFAULTS.feet_3d, "fit the heels and toes to the 3D landmarks as well as to the "
                            "pixels (off: BlazePose's 3D feet point 25-30 degrees towards the camera in "
                            "side views)")
    pose_prior: float = setting(_DEFAULTS.pose_prior, "pull of the joint rotations towards the rest pose")
    shape_prior: float = setting(_DEFAULTS.shape_prior, "pull of the shape towards the average body")
    iterations: int = setting(_DEFAULTS.iterations, "L-BFGS iterations per solve (three solves per track)")
    min_frames: int = setting(5, "tracks with fewer frames of at least 3 visible keypoints are not fitted")


def resolve_config(config: Config) -> Config:
    """Check the settings; for SMPL / SMPL-X find the model file, so the key names an absolute folder."""
    from vidcli.body import BODY_MODELS, GENDERS

    if config.body not in BODY_MODELS:
        raise ConfigError(f"body: body must be one of {', '.join(BODY_MODELS)}, got {config.body!r}")
    if config.gender not in GENDERS:
        raise ConfigError(f"body: gender must be one of {', '.join(GENDERS)}, got {config.gender!r}")
    if min(config.sigma_px, config.sigma_m) <= 0 or not 0 <= config.occluded_3d <= 1:
        raise ConfigError("body: sigma_px and sigma_m must be positive, occluded_3d within 0-1")
    if min(config.pose_prior, config.shape_prior) < 0 or config.iterations < 1 or config.min_frames < 1:
        raise ConfigError("body: priors must not be negative, iterations and min_frames at least 1")
    if config.body == "anny":
        if config.body_model_dir or config.gender != "neutral":
            raise ConfigError("body: body_model_dir and gender are for the smpl and smplx body models")
        return config
    if not config.body_model_dir:
        raise ConfigError(f"body: the {config.body} body model needs body_model_dir (your files' folder)")
    from vidcli.body.smpl_model import find_model_file

    find_model_file(config.body, config.body_model_dir, config.gender)
    return replace(config, body_model_dir=str(Path(config.body_model_dir).expanduser().resolve()))


def body_spec(config: Config):
    """The `BodySpec` a resolved config names."""
    from vidcli.body.models import BodySpec
    from vidcli.body.smpl_model import find_model_file

    if config.body == "anny":
        return BodySpec()
    model_file = find_model_file(config.body, config.body_model_dir, config.gender)
    return BodySpec(config.body, str(model_file), config.gender)


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli.body.models import load_body_model
    from vidcli.console import log, progress
    from vidcli.io.camera import CAMERA_NPZ, read_camera
    from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints
    from vidcli.io.motion import BODY_JSON, BODY_NPZ, BodyTable, write_body
    from vidcli.mocap.fitting import fit_track, placeable

    config = resolve_config(config)
    spec = body_spec(config)
    keypoints = read_keypoints(Path(inputs["keypoints"].path) / KEYPOINTS_NPZ)
    camera = read_camera(Path(inputs["camera"].path) / CAMERA_NPZ)
    if not len(keypoints):
        raise InputError("body: the keypoints artifact has no detections")
    model = load_body_model(spec)
    options = FitOptions(**{name: getattr(config, name) for name in _FIT_SETTINGS})

    fits, skipped = [], []
    track_ids = np.unique(keypoints.track_id)
    with progress(f"body ({spec.name})", len(track_ids)) as bar:
        for track_id in track_ids:
            rows = np.flatnonzero(keypoints.track_id == track_id)
            rows = rows[np.argsort(keypoints.frame[rows], kind="stable")]
            visible = np.nan_to_num(keypoints.keypoints2d[rows, :, 2]) * model.landmark_valid
            if placeable(visible).sum() < config.min_frames:
                log.info("body: track %d has fewer than %d frames with 3 visible keypoints; not fitted",
                         track_id, config.min_frames)
                skipped.append(int(track_id))
            else:
                fit = fit_track(model, keypoints.frame[rows], keypoints.keypoints2d[rows],
                                keypoints.world3d[rows], camera.K, options)
                fits.append((int(track_id), fit))
            bar.advance()
    if not fits:
        raise InputError(f"body: no track has {config.min_frames} frames with 3 visible keypoints")

    def column(get):
        return np.concatenate([get(track_id, fit) for track_id, fit in fits])

    write_body(out_dir / BODY_NPZ, BodyTable(
        frame=column(lambda t, f: f.frames), track_id=column(lambda t, f: np.full(len(f.frames), t)),
        rotations=column(lambda t, f: f.local), translation_cam=column(lambda t, f: f.root),
        joints_cam=column(lambda t, f: f.joints), landmarks_cam=column(lambda t, f: f.landmarks),
        shape=column(lambda t, f: np.tile(model.shape(f.free), (len(f.frames), 1))),
        error_px=column(lambda t, f: f.error_px), error_3d_m=column(lambda t, f: f.error_3d_m)))
    summary = {
        "body_model": spec.as_dict(),
        "shape_labels": list(model.shape_labels),
        "fps": camera.fps,
        "tracks": {str(t): {"frames": len(f.frames), "first": int(f.frames[0]), "last": int(f.frames[-1]),
                            "shape": model.shape(f.free).round(4).tolist(), "error_px": _mean(f.error_px),
                            "error_3d_m": _mean(f.error_3d_m)} for t, f in fits},
        "skipped_tracks": skipped,
    }
    (out_dir / BODY_JSON).write_text(json.dumps(summary, indent=1))
    return RunInfo(model=spec.name, checksum=_file_checksum(spec.model_file),
                   counts={"tracks": len(fits), "frames": int(sum(len(f.frames) for _, f in fits)),
                           "skipped_tracks": len(skipped)})


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(finite.mean()), 4) if len(finite) else None


def _file_checksum(path: str) -> str | None:
    """sha256 of the body model file (None for Anny, which ships with its package)."""
    import hashlib

    if not path:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
