"""A mask per person and frame, and the union of everyone per frame (what the camera stage ignores).

A segmenter (the seam for full backends such as SAM) gives each tracked detection its mask. The
embedded segmenter takes the silhouettes that the embedded track backend recorded: the BlazePose
landmark model segments the person its region is centred on, which keeps people apart where a
whole-image person segmentation would merge them. Masks are then made disjoint: a pixel claimed by
two people goes to the one whose box reaches lower in the frame (nearer the camera, for people on
a floor).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.console import progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import InputError
from vidcli.io import masks as mask_files
from vidcli.io.frames import FrameSequence
from vidcli.io.tracks import SILHOUETTES_JSON, Tracks, read_tracks

VERSION = 1
INPUTS = ("frames", "track")


@dataclass
class Config:
    """No settings yet: the embedded segmenter has nothing to tune."""


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    frames = FrameSequence(inputs["frames"].path)
    track_dir = inputs["track"].path
    tracks = read_tracks(track_dir)
    segmenter = _make_segmenter(track_dir, tracks)
    width, height = frames.size
    per_person, union = [], []
    with progress(f"masks ({segmenter.name})", len(frames)) as bar:
        for index in range(len(frames)):
            rows = np.flatnonzero(tracks.frame == index)
            nearest_first = rows[np.argsort(-tracks.box[rows, 3], kind="stable")]
            taken = np.zeros((height, width), bool)
            for row, mask in zip(nearest_first, segmenter.masks(nearest_first)):
                per_person.append((row, {"frame": index, "track_id": int(tracks.track_id[row]),
                                         "rle": mask_files.encode(mask & ~taken)}))
                taken |= mask
            union.append({"frame": index, "rle": mask_files.encode(taken)})
            bar.advance()
    masks = [entry for _, entry in sorted(per_person, key=lambda item: item[0])]  # rows of tracks.npz
    mask_files.write_masks(out_dir / mask_files.MASKS_JSON, width, height, masks)
    mask_files.write_masks(out_dir / mask_files.UNION_JSON, width, height, union)
    return RunInfo(backend=segmenter.name, model=segmenter.model, checksum=segmenter.checksum,
                   counts={"frames": len(frames), "masks": len(masks)})


def _make_segmenter(track_dir: Path, tracks: Tracks):
    """The segmenter: an object with `name`, `model`, `checksum` and `masks(rows)`, the (H, W) bool
    mask of each given row of the track table. Only the embedded one exists so far."""
    return _RecordedSilhouettes(track_dir, tracks)


class _RecordedSilhouettes:
    """The silhouettes that the embedded track backend stored beside its tracks."""

    name = "embedded"
    checksum = None

    def __init__(self, track_dir: Path, tracks: Tracks):
        from vidcli.perception.blazepose import LANDMARK_MODEL

        path = Path(track_dir) / SILHOUETTES_JSON
        if not path.is_file():
            raise InputError(f"masks: {track_dir} has no {SILHOUETTES_JSON}; the embedded masks backend "
                             "needs a track artifact from the embedded track backend")
        self.model = LANDMARK_MODEL
        self._entries = mask_files.read_masks(path)["masks"]
        rows = list(zip(tracks.frame.tolist(), tracks.track_id.tolist()))
        if [(entry["frame"], entry["track_id"]) for entry in self._entries] != rows:
            raise InputError(f"masks: the rows of {path} do not match the tracks")

    def masks(self, rows: np.ndarray) -> list[np.ndarray]:
        return [mask_files.decode(self._entries[row]["rle"]) for row in rows]
