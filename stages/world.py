"""World-frame motion of every person: gravity-aligned, on one ground plane, with the camera's motion
taken out (`vidcli.mocap.world`).

The body stage's camera-frame fits are composed with the metric camera trajectory of the scale stage,
the ground is fitted to resting feet, and each track's gap-free segments are optimised against the
keypoints with smoothness, foot-contact and ground terms. Gaps of up to `max_gap` frames are filled
by interpolation (rows marked `interpolated`); longer ones split a track into segments. Writes
`motion.npz` (the ground truth's keys plus rotations, root and segment columns; docs/formats.md),
`camera.npz` / `camera.tum` (the camera in the same world) and `world.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli import backends
from vidcli.engine.stage import RunInfo
from vidcli.errors import InputError
from vidcli.mocap.options import WorldOptions
from vidcli.settings import setting

VERSION = 9
INPUTS = ("body", "scale", "keypoints")
COMPONENT = "prior"


@dataclass
class Config(WorldOptions):
    backend: str = setting("auto", "motion prior; auto: a full backend whose checkpoints are installed, else "
                                   "embedded", choices=backends.choices(COMPONENT))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli.body.models import BodySpec, load_body_model, pose_numpy
    from vidcli.console import progress
    from vidcli.io.camera import CAMERA_NPZ, CameraTrack, read_camera, write_camera
    from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints
    from vidcli.io.motion import (BODY_JSON, BODY_NPZ, MOTION_NPZ, WORLD_JSON, MotionTable, read_body,
                                  write_motion)
    from vidcli.mocap.world import (SOLES, body_up, estimate_ground, optimise_segment, resized_shape,
                                    scene_scale, world_alignment)

    body_dir = Path(inputs["body"].path)
    body = read_body(body_dir / BODY_NPZ)
    spec = BodySpec(**json.loads((body_dir / BODY_JSON).read_text())["body_model"])
    camera = read_camera(Path(inputs["scale"].path) / CAMERA_NPZ)
    keypoints = read_keypoints(Path(inputs["keypoints"].path) / KEYPOINTS_NPZ).as_blazepose33()
    if body.frame.max() >= len(camera.R_wc):
        raise InputError(f"the bodies reach frame {body.frame.max()}, "
                         f"the camera has {len(camera.R_wc)} frames")
    model = load_body_model(spec)
    prior = backends.get(COMPONENT, config.backend).build(config, camera.fps)

    segments = _segments(body, keypoints, camera, config.max_gap, model)
    posed = [pose_numpy(model, model.shape(s.free), s.local, s.root) for s in segments]
    ground = estimate_ground([landmarks[:, SOLES] for _, _, landmarks in posed],
                             [body_up(joints) for _, joints, _ in posed], [s.observed for s in segments],
                             camera.R_wc, camera.fps, config)
    R_align, origin = world_alignment(ground, camera.R_wc[0], camera.t_wc[0])
    R_wc = R_align @ camera.R_wc
    t_wc = (camera.t_wc - origin) @ R_align.T
    # Resizing a body needs a height parameter (Anny's phenotype); other models keep the scene's size.
    resizable = "height" in model.shape_labels
    scale = scene_scale(t_wc[:, 1], config) if resizable else 1.0
    t_wc = scale * t_wc
    people = _people_scales(segments, posed, scale, R_align, origin, float(np.median(t_wc[:, 1])), camera.fps,
                            config) if resizable and config.feet_on_ground else {}
    results = []
    with progress("world", len(segments)) as bar:
        for segment in segments:
            frames, person = segment.frames, people.get(segment.track_id, 1.0)
            segment.local[:, 0] = R_align @ segment.local[:, 0]
            segment.root = scale * (segment.root - origin) @ R_align.T
            segment.root = t_wc[frames] + person * (segment.root - t_wc[frames])
            segment.world3d = scale * person * segment.world3d
            segment.free = resized_shape(model, segment.free, scale * person)
            results.append(optimise_segment(model, segment, R_wc[frames], t_wc[frames], camera.K, camera.fps,
                                            config, prior))
            bar.advance()

    table, tracks = _tables(model, segments, results, R_wc, t_wc)
    write_motion(out_dir / MOTION_NPZ, MotionTable(blazepose_valid=model.landmark_valid, **table))
    write_camera(out_dir, CameraTrack(camera.K, R_wc, t_wc, camera.timestamps, camera.width, camera.height,
                                      camera.fps, camera.static, camera.keyframes))
    summary = {
        "body_model": spec.as_dict(), "shape_labels": list(model.shape_labels), "fps": camera.fps,
        "ground": {"normal": ground.normal.round(6).tolist(), "offset": round(ground.offset, 6),
                   "candidates": ground.candidates, "people_frames": round(ground.people_frames, 1),
                   "camera_frames": ground.camera_frames, "level_deg": round(ground.level_deg, 3)},
        "scale": round(scale, 6), "people_scales": {str(t): round(value, 4) for t, value in people.items()},
        "alignment": {"R": R_align.round(9).tolist(), "origin": origin.round(6).tolist()},
        "tracks": tracks,
    }
    (out_dir / WORLD_JSON).write_text(json.dumps(summary, indent=1))
    return RunInfo(backend=config.backend, model=spec.name,
                   counts={"tracks": len(tracks), "segments": len(results), "frames": len(table["frame"]),
                           "interpolated": int(table["interpolated"].sum())})


def _people_scales(segments, posed, scale: float, R_align: np.ndarray, origin: np.ndarray,
                   camera_height: float, fps: float, config: Config) -> dict[int, float]:
    """Per track, the factor about the camera that stands its person on the ground (`ground_contact_scale`),
    from the heels and toes of the body stage's fits of all its segments, in the scaled world."""
    from vidcli.mocap.world import SOLES, ground_contact_scale

    pieces: dict[int, list] = {}
    for segment, (_, _, landmarks) in zip(segments, posed):
        heights = scale * ((landmarks[:, SOLES] - origin) @ R_align.T)[..., 1]
        visible = segment.observed & (segment.keypoints2d[:, np.ravel(SOLES), 2] > 0.5).all(axis=1)
        pieces.setdefault(segment.track_id, []).append((heights, visible))
    return {track: ground_contact_scale(parts, camera_height, fps, config.contact_height)
            for track, parts in pieces.items()}


def _segments(body, keypoints, camera, max_gap: int, model) -> list:
    """Each track's gap-free segments, short gaps filled, composed into the camera stage's frame, with
    their keypoints (zero on filled rows)."""
    from vidcli.mocap.world import Segment, fill_gaps, split_segments

    keypoint_row = {(int(t), int(f)): i for i, (t, f) in enumerate(zip(keypoints.track_id, keypoints.frame))}
    segments = []
    for track_id in np.unique(body.track_id).astype(int):
        rows = np.flatnonzero(body.track_id == track_id)
        rows = rows[np.argsort(body.frame[rows], kind="stable")]
        for index in split_segments(body.frame[rows], max_gap):
            r = rows[index]
            R, t = camera.R_wc[body.frame[r]], camera.t_wc[body.frame[r]]
            local = body.rotations[r].copy()
            local[:, 0] = R @ local[:, 0]
            root = np.einsum("fij,fj->fi", R, body.translation_cam[r]) + t
            frames, local, root, observed = fill_gaps(body.frame[r], local, root)
            keypoints2d, world3d = np.zeros((len(frames), 33, 3)), np.zeros((len(frames), 33, 3))
            for i in np.flatnonzero(observed):
                row = keypoint_row[track_id, int(frames[i])]
                keypoints2d[i], world3d[i] = keypoints.keypoints2d[row], keypoints.world3d[row]
            segments.append(Segment(track_id, frames, local, root, model.free(body.shape[r[0]]), observed,
                                    keypoints2d, world3d))
    return segments


def _tables(model, segments, results, R_wc: np.ndarray, t_wc: np.ndarray) -> tuple[dict, dict]:
    """The motion table's columns and the per-track summary of optimised segments."""
    columns: dict[str, list] = {}
    tracks: dict[str, dict] = {}
    for segment, result in zip(segments, results):
        frames, count = segment.frames, len(segment.frames)
        entry = tracks.setdefault(str(segment.track_id), {"segments": []})
        number = len(entry["segments"])
        R_cw = np.swapaxes(R_wc[frames], -1, -2)
        to_camera = lambda points: np.einsum("fij,fpj->fpi", R_cw, points - t_wc[frames, None])  # noqa: E731
        shape = model.shape(result.free)
        values = {
            "frame": frames, "track_id": np.full(count, segment.track_id),
            "joints_world": result.joints, "joints_cam": to_camera(result.joints),
            "blazepose_world": result.landmarks, "blazepose_cam": to_camera(result.landmarks),
            "contact": result.contact, "shape": np.tile(shape, (count, 1)), "rotations": result.local,
            "root_world": result.root, "segment": np.full(count, number), "interpolated": ~segment.observed,
        }
        for name, value in values.items():
            columns.setdefault(name, []).append(value)
        entry["segments"].append({
            "first": int(frames[0]), "last": int(frames[-1]), "frames": count,
            "interpolated": int((~segment.observed).sum()), "shape": shape.round(4).tolist(),
            "contact_fraction": result.contact.mean(axis=0).round(3).tolist(), "energy": result.energy})
    return {name: np.concatenate(values) for name, values in columns.items()}, tracks
