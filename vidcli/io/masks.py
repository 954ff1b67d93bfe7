"""Person masks (docs/formats.md): COCO run-length encoding in JSON files.

`masks.json` holds `{"width", "height", "masks": [{"frame", "track_id", "rle"}]}`; `union.json` is
the same without `track_id` (one mask per frame: every person of it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from vidcli.errors import InputError

MASKS_JSON = "masks.json"
UNION_JSON = "union.json"


def encode(mask: np.ndarray) -> dict:
    """COCO RLE `{"size": [h, w], "counts": str}` of a boolean (H, W) mask."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode(rle: dict) -> np.ndarray:
    """The boolean (H, W) mask of a COCO RLE."""
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def write_masks(path: Path, width: int, height: int, masks: list[dict]) -> None:
    """Write mask entries (each with "frame", "rle" and, per person, "track_id") as a masks file."""
    Path(path).write_text(json.dumps({"width": int(width), "height": int(height), "masks": masks}))


def read_masks(path: Path) -> dict:
    """A masks file as written by `write_masks`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read masks file {path}: {exc}") from None
    missing = [key for key in ("width", "height", "masks") if not isinstance(data, dict) or key not in data]
    if missing:
        raise InputError(f"{path} lacks {missing[0]!r}")
    return data
