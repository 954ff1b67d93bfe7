"""OpenPose-18 skeletons for character animation: the driving person in every frame, and the reference.

The driving person is one track of the mocap perception stages (`track`, `keypoints`): by default
the main one, the track whose box heights summed over its frames are largest (seen longest and
largest), or the track `person`. Their BlazePose keypoints become OpenPose-18 (COCO-18 order, the
format ControlNet-OpenPose and DWPose use). The reference image's person is found with BlazePose
(static image mode), with their silhouette. The skeletons are also drawn as ControlNet-OpenPose
images (coloured limbs on black).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError, InputError
from vidcli.io.frames import FrameSequence
from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints
from vidcli.io.tracks import read_tracks
from vidcli.settings import setting

VERSION = 1
INPUTS = ("ref", "frames", "track", "keypoints")
MAIN_PERSON = -1


@dataclass
class Config:
    person: int = setting(MAIN_PERSON, "track id of the driving person; -1: the main person (the track whose "
                                       "box heights summed over its frames are largest)",
                         bounds=f"[{MAIN_PERSON}, 1000000]")


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli.animate import files, skeleton
    from vidcli.animate.reference import REFERENCE_MODEL, find_pose, read_reference

    ref_path = Path(inputs["ref"].path)
    reference = read_reference(ref_path)
    ref_pose = find_pose(reference, ref_path.name)

    frames = FrameSequence(inputs["frames"].path)
    tracks = read_tracks(inputs["track"].path)
    keypoints = read_keypoints(Path(inputs["keypoints"].path) / KEYPOINTS_NPZ).as_blazepose33()
    track_id = choose_person(tracks.track_id, tracks.box, config.person)
    count = len(frames)
    inside = (keypoints.frame >= 0) & (keypoints.frame < count)
    seen = (np.nan_to_num(keypoints.keypoints2d[..., 2]) > 0).any(-1)  # not where the person was hidden
    rows = np.flatnonzero((keypoints.track_id == track_id) & inside & seen)
    frame = keypoints.frame[rows]
    present = np.zeros(count, bool)
    present[frame] = True
    points = np.zeros((count, skeleton.COUNT, 3))
    points[frame] = skeleton.from_blazepose(keypoints.keypoints2d[rows])
    depth = np.full((count, skeleton.COUNT), np.nan)
    depth[frame] = skeleton.depth_from_blazepose(keypoints.world3d[rows])

    files.write_poses(out_dir, files.Poses(present, points, depth, track_id, frames.fps, frames.size,
                                           ref_pose.keypoints, ref_pose.depth, reference.size))
    mask = np.clip(ref_pose.mask * 255, 0, 255).round().astype(np.uint8)
    cv2.imwrite(str(out_dir / files.REFERENCE_MASK), mask)
    files.write_rgb(out_dir / files.REFERENCE_SKELETON, skeleton.draw(ref_pose.keypoints, reference.size))
    files.write_skeletons(out_dir / files.SKELETON_DIR, points, frames.size)
    return RunInfo(backend="embedded", model=REFERENCE_MODEL,
                   counts={"frames": count, "frames_with_person": int(present.sum()),
                           "track_id": int(track_id)})


def choose_person(track_id: np.ndarray, box: np.ndarray, person: int) -> int:
    """The track id to follow: `person`, or for -1 the track whose box heights summed over its frames
    are largest. InputError when the driving video has no person; ConfigError for an unknown id."""
    ids = np.unique(track_id)
    if not len(ids):
        raise InputError("the driving video shows no person (the track stage found nobody)")
    if person != MAIN_PERSON:
        if person not in ids:
            raise ConfigError(f"the driving video has no person {person}; its track ids: "
                              f"{', '.join(str(i) for i in ids)}")
        return person
    heights = np.array([np.sum(box[track_id == i, 3] - box[track_id == i, 1]) for i in ids])
    return int(ids[np.argmax(heights)])
