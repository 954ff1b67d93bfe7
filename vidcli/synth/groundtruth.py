"""Ground truth of a synthetic sequence, in the files and keys of docs/formats.md.

Per-detection files (tracks, keypoints, masks) have a row for each frame in which a person has at
least one visible pixel; motion.npz has a row for every frame and person (the 3D motion exists
whether or not it is seen). Visibility comes from the renderer's body-index and depth buffers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vidcli.body.skeletons import BLAZEPOSE_33
from vidcli.io import masks as mask_files
from vidcli.io.camera import CameraTrack, write_camera
from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, write_keypoints
from vidcli.io.tracks import Tracks, write_tracks
from vidcli.render.scene import Frame

# A keypoint is visible when its pixel shows its own person at a depth no nearer than this much
# in front of it (joints lie inside the body, up to about this far behind the visible surface).
VISIBLE_DEPTH_MARGIN_M = 0.2
CONTACT_HEIGHT_M = 0.06
CONTACT_SPEED_MPS = 0.5
_LEFT_HIP, _RIGHT_HIP = BLAZEPOSE_33.index("left_hip"), BLAZEPOSE_33.index("right_hip")
_FEET = {"left": ("left_heel", "left_foot_index"), "right": ("right_heel", "right_foot_index")}


def inverse_depth_grid(frame: Frame, cell: int) -> tuple[np.ndarray, np.ndarray]:
    """A rendered frame's exact inverse depths averaged over cells of `cell` x `cell` pixels (rows,
    columns; trailing pixels that fill no cell are left out) and their confidence: 1 where the cell
    shows only scene, 0 where it shows a person or sky (the camera stage's depth.npz grids)."""
    rows, columns = frame.depth.shape[0] // cell, frame.depth.shape[1] // cell
    depth = frame.depth[:rows * cell, :columns * cell]
    scene = (frame.body[:rows * cell, :columns * cell] < 0) & np.isfinite(depth)
    inverse = np.where(scene, 1.0 / np.where(scene, depth, 1.0), 0.0)
    cells = (rows, cell, columns, cell)
    count = scene.reshape(cells).sum((1, 3))
    mean = inverse.reshape(cells).sum((1, 3)) / np.maximum(count, 1)
    return mean, (count == cell * cell).astype(np.float32)


class GroundTruth:
    """Collects per-frame ground truth while a `Synthesis` renders, then writes `OUT.mp4.gt/`."""

    def __init__(self, synthesis):
        self.synthesis = synthesis
        body = synthesis.body
        source = synthesis.source_frames
        self.smpl = [body.smpl.positions(p.heads, p.vertices)[source] for p in synthesis.people]
        self.blazepose = [body.blazepose.positions(p.heads, p.vertices)[source] for p in synthesis.people]
        self.contact = [foot_contact(points, synthesis.options.fps) for points in self.blazepose]
        self.rows: list[dict] = []

    def add(self, index: int, frame: Frame) -> None:
        """Record the visible people of rendered frame `index`."""
        camera = self.synthesis.camera(index)
        height, width = frame.body.shape
        for slot, person in enumerate(self.synthesis.people):
            mask = frame.body == slot
            if not mask.any():
                continue
            ys, xs = np.nonzero(mask)
            points_cam = camera.to_camera(self.blazepose[slot][index])
            in_front = points_cam[:, 2] > 1e-3
            uv = np.where(in_front[:, None], camera.project(np.where(in_front[:, None], points_cam, 1.0)), np.nan)
            column, row = np.floor(uv[:, 0]), np.floor(uv[:, 1])
            inside = in_front & (column >= 0) & (column < width) & (row >= 0) & (row < height)
            c, r = column[inside].astype(int), row[inside].astype(int)
            visible = np.zeros(len(uv), bool)
            visible[inside] = (frame.body[r, c] == slot) & (
                frame.depth[r, c] >= points_cam[inside, 2] - VISIBLE_DEPTH_MARGIN_M)
            hips = points_cam[[_LEFT_HIP, _RIGHT_HIP]].mean(axis=0)
            self.rows.append({
                "frame": index, "track_id": person.track_id,
                "box": [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1],
                "keypoints2d": np.concatenate([uv, visible[:, None].astype(float)], axis=1),
                "world3d": points_cam - hips,
                "rle": mask_files.encode(mask),
            })

    def write(self, directory: Path) -> None:
        """Write every ground-truth file into `directory` (created)."""
        directory.mkdir(parents=True)
        s = self.synthesis
        options = s.options
        timestamps = np.arange(options.frames) / options.fps
        write_camera(directory, CameraTrack(s.K, s.R_wc, s.t_wc, timestamps, options.width, options.height,
                                            options.fps, static=options.camera == "static"))
        self._write_detections(directory)
        self._write_motion(directory)
        people = {str(p.track_id): {"phenotype": p.phenotype.as_dict(), "colour": list(p.shirt), "bvh": p.source}
                  for p in s.people}
        (directory / "people.json").write_text(json.dumps(people, indent=2))

    def _write_detections(self, directory: Path) -> None:
        rows = self.rows
        frame = np.array([r["frame"] for r in rows], np.int64)
        track = np.array([r["track_id"] for r in rows], np.int64)
        box = np.array([r["box"] for r in rows], np.float64).reshape(-1, 4)
        write_tracks(directory, Tracks(frame, track, box, np.ones(len(rows))))
        write_keypoints(directory / KEYPOINTS_NPZ, Keypoints(
            frame, track, np.array([r["keypoints2d"] for r in rows]), np.array([r["world3d"] for r in rows])))
        masks = [{"frame": int(r["frame"]), "track_id": int(r["track_id"]), "rle": r["rle"]} for r in rows]
        options = self.synthesis.options
        mask_files.write_masks(directory / mask_files.MASKS_JSON, options.width, options.height, masks)

    def _write_motion(self, directory: Path) -> None:
        s = self.synthesis
        frames = s.options.frames
        frame, track, smpl_w, smpl_c, blaze_w, blaze_c, contact, shape = ([] for _ in range(8))
        for slot, person in enumerate(s.people):
            frame.append(np.arange(frames))
            track.append(np.full(frames, person.track_id))
            smpl_w.append(self.smpl[slot])
            blaze_w.append(self.blazepose[slot])
            smpl_c.append(np.einsum("fji,fkj->fki", s.R_wc, self.smpl[slot] - s.t_wc[:, None]))
            blaze_c.append(np.einsum("fji,fkj->fki", s.R_wc, self.blazepose[slot] - s.t_wc[:, None]))
            contact.append(self.contact[slot])
            shape.append(np.tile(list(person.phenotype.as_dict().values()), (frames, 1)))
        np.savez(directory / "motion.npz", frame=np.concatenate(frame), track_id=np.concatenate(track),
                 joints_world=np.concatenate(smpl_w), joints_cam=np.concatenate(smpl_c),
                 blazepose_world=np.concatenate(blaze_w), blazepose_cam=np.concatenate(blaze_c),
                 blazepose_valid=s.body.blazepose.valid, contact=np.concatenate(contact),
                 shape=np.concatenate(shape), body_model=np.array(BODY_MODEL))


BODY_MODEL = "anny"  # the body model whose joints the ground truth holds (SMPL-24 read off Anny's rig)


def foot_contact(blazepose_world: np.ndarray, fps: float) -> np.ndarray:
    """(F, 2) left/right foot contact: the foot's lowest landmark (heel or toe) near the ground and
    the foot's centre moving slowly."""
    out = []
    for side in ("left", "right"):
        points = blazepose_world[:, [BLAZEPOSE_33.index(name) for name in _FEET[side]]]
        low = points[..., 1].min(axis=1) < CONTACT_HEIGHT_M
        centre = points.mean(axis=1)
        speed = np.linalg.norm(np.gradient(centre, axis=0), axis=1) * fps if len(centre) > 1 else np.zeros(len(centre))
        out.append(low & (speed < CONTACT_SPEED_MPS))
    return np.stack(out, axis=1)
