"""A mask per person and frame, and the union of everyone per frame (what the camera stage ignores).

The `masks` backend (`vidcli.backends`) gives each tracked detection its mask; where the pipeline has a
keypoints stage, the masks read its keypoints (SAM takes them as point prompts). Masks are then made
disjoint: a pixel claimed by two people goes to the one whose box reaches lower in the frame (nearer
the camera, for people on a floor).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli import backends
from vidcli.console import progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError
from vidcli.io import masks as mask_files
from vidcli.io.frames import FrameSequence
from vidcli.io.tracks import read_tracks
from vidcli.settings import setting

VERSION = 1
INPUTS = ("frames", "track")
OPTIONAL_INPUTS = ("keypoints",)
COMPONENT = "masks"


@dataclass
class Config:
    backend: str = setting("auto", "person segmenter; auto: a full backend whose checkpoints are installed, "
                                   "else embedded", choices=backends.choices(COMPONENT))
    sam_model: str = setting("vit_b", "the sam backend's model (checkpoint sam_<model>)",
                             choices=("vit_b", "vit_l", "vit_h"))
    sam_cpu_size: int = setting(512, "longest side, in pixels, of the image SAM's encoder sees on the CPU "
                                     "(on a GPU: 1024, as trained)", bounds="[256, 1024]")
    sam_points: bool = setting(True, "sam: besides the box, positive points at the person's confident "
                                     "keypoints and negative points at other people's inside the box "
                                     "(where the pipeline has a keypoints stage)")
    point_score: float = setting(0.5, "sam: keypoints scored at least this are point prompts",
                                 bounds="[0, 1]")
    device: str = setting("auto", "where SAM runs; auto: cuda when a GPU is visible", significant=False,
                          choices=backends.DEVICES)

    def check(self) -> None:
        if self.sam_cpu_size % 16:
            raise ConfigError("sam_cpu_size must be a multiple of 16 (SAM's patch size)")


def resolve_config(config: Config) -> Config:
    return replace(config, device=backends.device(backends.get(COMPONENT, config.backend), config.device))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    frames = FrameSequence(inputs["frames"].path)
    track_dir = inputs["track"].path
    tracks = read_tracks(track_dir)
    keypoints = None
    if "keypoints" in inputs:
        from vidcli.io.keypoints import KEYPOINTS_NPZ, read_keypoints

        keypoints = read_keypoints(Path(inputs["keypoints"].path) / KEYPOINTS_NPZ)
    segmenter = backends.get(COMPONENT, config.backend).build(config, frames, tracks, track_dir, keypoints)
    width, height = frames.size
    per_person, union = [], []
    with progress(f"masks ({config.backend})", len(frames)) as bar:
        for index in range(len(frames)):
            rows = np.flatnonzero(tracks.frame == index)
            hidden, rows = rows[~tracks.seen[rows]], rows[tracks.seen[rows]]
            nearest_first = rows[np.argsort(-tracks.box[rows, 3], kind="stable")]
            taken = np.zeros((height, width), bool)
            empty = mask_files.encode(taken)  # nothing of a hidden person shows
            per_person += [(row, {"frame": index, "track_id": int(tracks.track_id[row]), "rle": empty})
                           for row in hidden]
            for row, mask in zip(nearest_first, segmenter.masks(index, nearest_first)):
                per_person.append((row, {"frame": index, "track_id": int(tracks.track_id[row]),
                                         "rle": mask_files.encode(mask & ~taken)}))
                taken |= mask
            union.append({"frame": index, "rle": mask_files.encode(taken)})
            bar.advance()
    masks = [entry for _, entry in sorted(per_person, key=lambda item: item[0])]  # rows of tracks.npz
    mask_files.write_masks(out_dir / mask_files.MASKS_JSON, width, height, masks)
    mask_files.write_masks(out_dir / mask_files.UNION_JSON, width, height, union)
    return RunInfo(backend=config.backend, model=segmenter.model, checksum=segmenter.checksum,
                   counts={"frames": len(frames), "masks": len(masks)})
