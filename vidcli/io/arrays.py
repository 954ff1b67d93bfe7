"""Reading the `.npz` array files of artifacts and ground truth (never with pickle)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from vidcli.errors import InputError


def load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays `keys` of an npz file, or an InputError naming the file and the problem."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in keys if key not in data.files]
            if missing:
                raise InputError(f"{path} lacks {missing[0]!r}")
            return {key: data[key] for key in keys}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
