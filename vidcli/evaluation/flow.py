"""Score flow fields against ground truth: `vidcli eval flow PRED GT`.

Both folders hold flow files: Middlebury `.flo` (non-finite vectors are unknown) or KITTI 16-bit PNGs
(with their validity channel; read only where a folder has no `.flo`, as FlyingChairs' PNGs are its
images), directly inside or under `pairs/` (a `flow` stage artifact). Files pair up
by name once the ground-truth suffixes of FlyingChairs (`-gt`, `_flow`) are removed, so `0001-gt.flo`
in GT is scored against `0001.flo` or `0001-gt.flo` in PRED. Only the ground truth's valid pixels count.
"""

from __future__ import annotations

from pathlib import Path

from vidcli.errors import InputError
from vidcli.io.flow import PAIRS_DIR, flow_metrics, read_flow, resize_flow

_SUFFIXES = ("-gt", "_flow")


def _pair_name(path: Path) -> str:
    stem = path.stem
    return next((stem[: -len(s)] for s in _SUFFIXES if stem.endswith(s)), stem)


def flow_files(folder: Path) -> dict[str, Path]:
    """The flow files of a folder (or its `pairs/`), by pair name."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    if (folder / PAIRS_DIR).is_dir():
        folder = folder / PAIRS_DIR
    files = sorted(folder.glob("*.flo")) or sorted(folder.glob("*.png"))  # beside .flo files, PNGs are images
    return {_pair_name(p): p for p in files}


def evaluate_flow(predicted: Path, truth: Path) -> dict:
    """EPE, 1/3/5 px accuracy and Fl-all over every pair both folders hold; an estimate of another size
    than its ground truth is resampled to it (vectors scaled)."""
    estimates, references = flow_files(predicted), flow_files(truth)
    shared = sorted(set(estimates) & set(references))
    if not shared:
        raise InputError(f"{predicted} and {truth} share no flow file names (.flo or KITTI .png)")
    fields = []
    for name in shared:
        estimate, _ = read_flow(estimates[name])
        reference, valid = read_flow(references[name])
        if estimate.shape != reference.shape:
            estimate = resize_flow(estimate, (reference.shape[1], reference.shape[0]))
        fields.append((estimate, reference, valid))
    return {"pairs": len(shared), "missing": len(references) - len(shared), **flow_metrics(fields)}
