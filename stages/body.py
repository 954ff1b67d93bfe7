"""Body model fits per person: shape per track, per-frame joint rotations and camera-frame pelvis.

The `body` backend (`vidcli.backends`) estimates each track's body: the embedded one fits the body
model to the metric root-relative 3D landmarks and 2D keypoints, weighted by visibility under a robust
loss, through the camera intrinsics; `hmr2` and `vimo` regress SMPL from each row's crop of its track
box in the frame image (optionally refined by that fit). The default model is Anny; SMPL and
SMPL-X need the user's model files
(`body_model_dir`). Writes `body.npz` (docs/formats.md) and `body.json` (model, shape labels,
per-track summary).
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli import backends
from vidcli.body import BODY_MODELS, GENDERS
from vidcli.engine.keys import sha256_of
from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError, InputError
from vidcli.mocap.options import FitOptions
from vidcli.settings import setting

VERSION = 4
INPUTS = ("keypoints", "camera", "frames", "track")
SMPL_REGRESSORS = ("hmr2", "vimo")  # backends that regress SMPL itself: they need body=smpl
COMPONENT = "body"


@dataclass
class Config(FitOptions):
    backend: str = setting("auto", "body estimator; auto: a full backend whose checkpoints are installed, "
                                   "else embedded", choices=backends.choices(COMPONENT))
    body: str = setting("anny", "body model (smpl and smplx need body_model_dir)", choices=BODY_MODELS)
    body_model_dir: str = setting("", "folder with your SMPL_<GENDER>.pkl/.npz or SMPLX_<GENDER>.npz/.pkl")
    gender: str = setting("neutral", "SMPL / SMPL-X model gender", choices=GENDERS)
    refine: bool = setting(False, "hmr2, vimo: refine the regressed bodies with the keypoint fit (they "
                                  "start it)")
    device: str = setting("auto", "where a regressor runs; auto: cuda when a GPU is visible",
                          significant=False, choices=backends.DEVICES)
    min_frames: int = setting(5, "tracks with fewer frames of at least 3 visible keypoints are not fitted",
                              bounds="[1, 100000]")
    tracks: str = setting("", "ids of the people to process, comma-separated (`vidcli tracks` lists them); "
                              "empty = everyone")

    def chosen_tracks(self) -> list[int]:
        return [int(item) for item in self.tracks.split(",") if item.strip()]

    def check(self) -> None:
        if not re.fullmatch(r"(\s*\d+\s*(,\s*\d+\s*)*)?", self.tracks):
            raise ConfigError(f"tracks must be track ids separated by commas, got {self.tracks!r}")
        if self.body == "anny" and (self.body_model_dir or self.gender != "neutral"):
            raise ConfigError("body_model_dir and gender are for the smpl and smplx body models")
        if self.body != "anny":
            if importlib.util.find_spec("smplx") is None:
                raise ConfigError(f"the {self.body} body model needs the smplx package: "
                                  "pip install 'vidcli[smpl]'")
            if not self.body_model_dir:
                raise ConfigError(f"the {self.body} body model needs body_model_dir (your files' folder)")
            from vidcli.body.smpl_model import find_model_file

            find_model_file(self.body, self.body_model_dir, self.gender)


def resolve_config(config: Config) -> Config:
    """An absolute body_model_dir, so the key names the files wherever the command ran; the device."""
    if config.backend in SMPL_REGRESSORS and config.body != "smpl":
        raise ConfigError(f"body backend {config.backend} regresses SMPL: set body=smpl and body_model_dir "
                          "(or backend=embedded)")
    config = replace(config, device=backends.device(backends.get(COMPONENT, config.backend), config.device))
    if not config.body_model_dir:
        return config
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
    from vidcli.io.frames import FrameSequence
    from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints
    from vidcli.io.motion import BODY_JSON, BODY_NPZ, BodyTable, write_body
    from vidcli.io.tracks import read_tracks
    from vidcli.mocap.fitting import placeable

    spec = body_spec(config)
    keypoints = read_keypoints(Path(inputs["keypoints"].path) / KEYPOINTS_NPZ).as_blazepose33()
    camera = read_camera(Path(inputs["camera"].path) / CAMERA_NPZ)
    if not len(keypoints):
        raise InputError("the keypoints artifact has no detections")
    model = load_body_model(spec)
    estimator = backends.get(COMPONENT, config.backend).build(config, model)
    if estimator.reads_images:
        frame_images = FrameSequence(inputs["frames"].path)
        boxes = _boxes_of_rows(read_tracks(Path(inputs["track"].path)), keypoints)

    fits, skipped, unestimated = [], [], 0
    track_ids = np.unique(keypoints.track_id)
    if config.tracks:
        unknown = sorted(set(config.chosen_tracks()) - set(track_ids.tolist()))
        if unknown:
            raise ConfigError(f"the video has no track {unknown[0]}; its track ids: "
                              f"{', '.join(str(i) for i in track_ids)}")
        track_ids = np.array(sorted(set(config.chosen_tracks())))
    with progress(f"body ({spec.name})", len(track_ids)) as bar:
        for track_id in track_ids:
            rows = np.flatnonzero(keypoints.track_id == track_id)
            rows = rows[np.argsort(keypoints.frame[rows], kind="stable")]
            visible = np.nan_to_num(keypoints.keypoints2d[rows, :, 2]) * model.landmark_valid
            # rows with nothing visible (a hidden person's, from the track stage) tell the fit nothing: the
            # world stage bridges them as it does other gaps
            rows, visible = rows[visible.any(-1)], visible[visible.any(-1)]
            if placeable(visible).sum() < config.min_frames:
                log.info("body: track %d has fewer than %d frames with 3 visible keypoints; not fitted",
                         track_id, config.min_frames)
                skipped.append(int(track_id))
            else:
                images = rows_boxes = None
                if estimator.reads_images:
                    images = (frame_images.read(int(frame)) for frame in keypoints.frame[rows])
                    rows_boxes = boxes[rows]
                fit = estimator.fit(keypoints.frame[rows], keypoints.keypoints2d[rows],
                                    keypoints.world3d[rows], camera.K, images, rows_boxes)
                if fit is None:
                    unestimated += 1
                    log.info("body: the %s backend estimates nothing of track %d", config.backend, track_id)
                    skipped.append(int(track_id))
                else:
                    fits.append((int(track_id), fit))
            bar.advance()
    if not fits:
        if unestimated:
            raise InputError(f"the {config.backend} backend estimated none of the {unestimated} tracks with "
                             f"{config.min_frames} frames of 3 visible keypoints")
        raise InputError(f"no track has {config.min_frames} frames with 3 visible keypoints")

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
    if estimator.model:  # a regressor: its checkpoint (the body model file is named in the key)
        model, checksum = f"{estimator.model} ({spec.name})", estimator.checksum
    else:
        model = spec.name
        checksum = sha256_of(Path(spec.model_file)) if spec.model_file else None  # Anny ships in its package
    return RunInfo(backend=config.backend, model=model, checksum=checksum,
                   counts={"tracks": len(fits), "frames": int(sum(len(f.frames) for _, f in fits)),
                           "skipped_tracks": len(skipped)})


def _boxes_of_rows(tracks, keypoints) -> np.ndarray:
    """The track box (N, 4) of each keypoints row, found by frame and track id."""
    where = {(int(f), int(t)): i for i, (f, t) in enumerate(zip(tracks.frame, tracks.track_id))}
    try:
        return tracks.box[[where[int(f), int(t)] for f, t in zip(keypoints.frame, keypoints.track_id)]]
    except KeyError as missing:
        raise InputError(f"the keypoints have a row (frame, track) {missing} that the tracks lack") from None


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(finite.mean()), 4) if len(finite) else None

