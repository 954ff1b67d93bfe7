"""The holes to fill in each frame: masks the user gave (a folder of images, a mask video, or one
image), or the people the perception stages segmented; grown by `dilate` pixels, with the ground
beneath each person's feet where `shadows` asks for it.

Which of the two the `masks` port holds decides the reading: a source file or folder (`vidcli
inpaint --masks`), or the artifact of the `masks` stage (`vidcli remove --people`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcli.console import progress
from vidcli.engine.stage import RunInfo, Source
from vidcli.errors import ConfigError
from vidcli.inpaint.masks import iter_masks
from vidcli.inpaint.video import HOLES_JSON
from vidcli.io import masks as mask_files
from vidcli.io.frames import FrameSequence
from vidcli.settings import setting

VERSION = 1
INPUTS = ("frames", "masks")


@dataclass
class Config:
    dilate: int = setting(
        0, "grow every hole by this many pixels (covers blurred edges and halos)", bounds="[0, 200]"
    )
    tracks: str = setting(
        "", "comma-separated track ids of the people to remove; empty = everyone (people's masks only)"
    )
    shadows: float = setting(
        0.0,
        "also fill a flat ellipse under each person's feet, this fraction of "
        "their height tall, where a shadow from above falls; 0 = no",
        bounds="[0, 1]",
    )

    def check(self) -> None:
        try:
            self.track_ids()
        except ValueError:
            raise ConfigError(f"holes.tracks must be comma-separated integers, got {self.tracks!r}") from None

    def track_ids(self) -> set[int]:
        return {int(part) for part in self.tracks.split(",") if part.strip()}


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    frames = FrameSequence(inputs["frames"].path)
    count, (width, height) = len(frames), frames.size
    given = inputs["masks"]
    masks = (
        iter_masks(given.path, count, (width, height))
        if isinstance(given, Source)
        else _people(Path(given.path), count, config)
    )
    kernel = (
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.dilate + 1,) * 2) if config.dilate else None
    )
    entries, area = [], 0
    with progress("holes", count) as bar:
        for index, mask in enumerate(masks):
            if kernel is not None and mask.any():
                mask = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
            pixels = int(mask.sum())
            entries.append({"frame": index, "area": pixels, "rle": mask_files.encode(mask)})
            area += pixels
            bar.advance()
    mask_files.write_masks(out_dir / HOLES_JSON, width, height, entries)
    frames_with_holes = sum(1 for e in entries if e["area"])
    return RunInfo(
        backend="people" if not isinstance(given, Source) else "given",
        counts={
            "frames": count,
            "frames_with_holes": frames_with_holes,
            "hole_fraction": round(area / (count * width * height), 5),
        },
    )


def _people(masks_dir: Path, count: int, config: Config):
    """Per frame, the union of the chosen people's masks (and their shadows) from a `masks` artifact."""
    data = mask_files.read_masks(masks_dir / mask_files.MASKS_JSON)
    chosen = config.track_ids()
    by_frame: dict[int, list[np.ndarray]] = {}
    for entry in data["masks"]:
        if not chosen or entry["track_id"] in chosen:
            by_frame.setdefault(entry["frame"], []).append(mask_files.decode(entry["rle"]))
    for index in range(count):
        union = np.zeros((data["height"], data["width"]), bool)
        for person in by_frame.get(index, []):
            union |= person
            if config.shadows:
                union |= _shadow(person, config.shadows)
        yield union


def _shadow(person: np.ndarray, fraction: float) -> np.ndarray:
    """A flat ellipse centred on the lowest row of a person's mask, as wide as the person's feet
    region, `fraction` of their height tall: where a shadow cast from above lies on the floor."""
    rows, cols = np.nonzero(person)
    if rows.size == 0:
        return person
    top, bottom = rows.min(), rows.max()
    feet = cols[rows >= bottom - max(2, (bottom - top) // 10)]
    centre = (int((feet.min() + feet.max()) / 2), int(bottom))
    axes = (max(2, int(0.75 * (feet.max() - feet.min() + 1))), max(1, int(fraction * (bottom - top + 1) / 2)))
    shadow = np.zeros(person.shape, np.uint8)
    cv2.ellipse(shadow, centre, axes, 0, 0, 360, 1, -1)
    return shadow.astype(bool)
