"""Keypoints per person and frame: pixels with visibility, and metric 3D world points.

The `keypoints` backend (`vidcli.backends`) gives each tracked detection its keypoints, in the layout
it declares (`blazepose33`, `coco17`, `wholebody133`; the embedded one: BlazePose-33), which the
artifact records so that the stages downstream read any of them. Each track's legs are then labelled
consistently over time (`vidcli.perception.sides`): BlazePose swaps them in a quarter to a third of the
frames of a person walking past. BlazePose-33's 3D landmarks then have their torso heading flips
turned back (`vidcli.mocap.heading`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli import backends
from vidcli.backends.vitpose_estimator import VITPOSE_CHECKPOINTS
from vidcli.engine.stage import RunInfo
from vidcli.io.frames import FrameSequence
from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, write_keypoints
from vidcli.io.tracks import read_tracks
from vidcli.mocap.heading import repair_heading_flips
from vidcli.perception.sides import consistent_legs
from vidcli.settings import setting

VERSION = 4
INPUTS = ("frames", "track")
COMPONENT = "keypoints"


@dataclass
class Config:
    backend: str = setting("auto", "pose estimator; auto: a full backend whose checkpoints are installed, "
                                   "else embedded", choices=backends.choices(COMPONENT))
    vitpose_model: str = setting("base_simple", "the vitpose backend's checkpoint: base_simple "
                                                "(vitpose_base, COCO-17) or plus_base (vitpose_plus_base, "
                                                "ViTPose+ experts)",
                                 choices=tuple(VITPOSE_CHECKPOINTS))
    vitpose_dataset: int = setting(0, "ViTPose+ expert (dataset index): 0 COCO, 1 AiC, 2 MPII, 3 AP-10K, "
                                      "4 APT-36K, 5 COCO-WholeBody; the layout follows the checkpoint's head "
                                      "(17 points coco17, 133 wholebody133)", bounds="[0, 5]")
    device: str = setting("auto", "where a full pose estimator runs; auto: cuda when a GPU is visible",
                          significant=False, choices=backends.DEVICES)
    max_flip_s: float = setting(1.0, "BlazePose-33 3D landmarks: a torso heading that jumps and jumps back "
                                     "within this many seconds is a flip and is turned back; 0 = keep them",
                                bounds="[0, 60]")


def resolve_config(config: Config) -> Config:
    """The device; the vitpose backend needs the checkpoint `vitpose_model` names."""
    from vidcli.errors import ConfigError
    from vidcli.models import registry

    checkpoint = VITPOSE_CHECKPOINTS[config.vitpose_model]
    if config.backend == "vitpose" and not registry.is_present(checkpoint):
        raise ConfigError(f"vitpose_model {config.vitpose_model} needs checkpoint {checkpoint} "
                          f"(vidcli models download {checkpoint})")
    return replace(config, device=backends.device(backends.get(COMPONENT, config.backend), config.device))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    track_dir = inputs["track"].path
    tracks = read_tracks(track_dir)
    frames = FrameSequence(inputs["frames"].path)
    estimator = backends.get(COMPONENT, config.backend).build(config, frames, tracks, track_dir)
    keypoints2d, world3d = _seen_keypoints(estimator, tracks)
    max_span = round(config.max_flip_s * frames.fps)
    relabelled = turned = 0
    for track_id in np.unique(tracks.track_id):
        rows = np.flatnonzero((tracks.track_id == track_id) & tracks.seen)
        rows = rows[np.argsort(tracks.frame[rows], kind="stable")]
        keypoints2d[rows], world3d[rows], swapped = consistent_legs(tracks.frame[rows], keypoints2d[rows],
                                                                    world3d[rows], estimator.layout)
        relabelled += int(swapped.sum())
        if estimator.layout == "blazepose33":
            world3d[rows], flipped = repair_heading_flips(world3d[rows], max_span)
            turned += int(flipped.sum())
    write_keypoints(out_dir / KEYPOINTS_NPZ, Keypoints(tracks.frame, tracks.track_id, keypoints2d, world3d,
                                                       estimator.layout))
    return RunInfo(backend=config.backend, model=estimator.model, checksum=estimator.checksum,
                   counts={"keypoints": len(tracks), "legs_relabelled": relabelled,
                           "heading_flips_turned": turned, "layout": estimator.layout})


def _seen_keypoints(estimator, tracks) -> tuple[np.ndarray, np.ndarray]:
    """The estimator's keypoints of the rows where the person was seen; NaN (visibility 0) where they
    were hidden, for an estimator would read whoever hides them."""
    seen = np.flatnonzero(tracks.seen)
    found2d, found3d = estimator.keypoints(seen)
    keypoints2d = np.full((len(tracks),) + found2d.shape[1:], np.nan)
    keypoints2d[..., 2] = 0.0
    world3d = np.full((len(tracks),) + found3d.shape[1:], np.nan)
    keypoints2d[seen], world3d[seen] = found2d, found3d
    return keypoints2d, world3d
