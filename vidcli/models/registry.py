"""The checkpoint registry: every model file a full backend can load, where it comes from, and
where it lives (`$VIDCLI_HOME/checkpoints`, default `~/.cache/vidcli/checkpoints`).

Users may place files there by hand. Checkpoints load with `torch.load(weights_only=True)` or
safetensors, never with unrestricted pickle.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from vidcli.errors import ConfigError, StageError


@dataclass(frozen=True)
class Checkpoint:
    name: str
    url: str  # as its authors publish it
    filename: str
    sha256: str | None  # full digest, or a prefix where only that is published; None if unknown
    size: int | None  # bytes, when known
    license: str
    stage: str
    description: str


CHECKPOINTS = {c.name: c for c in [
    Checkpoint(
        "raft_large", "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
        "raft_large_C_T_SKHT_V2-ff5fadd5.pth", "ff5fadd5", None, "BSD-3-Clause", "flow",
        "RAFT (Teed & Deng 2020), torchvision weights trained on Chairs+Things+Sintel+KITTI+HD1K+Things (V2); "
        "torchvision publishes the first 8 hex digits of the sha256 in the file name",
    ),
]}


def home() -> Path:
    return Path(os.environ.get("VIDCLI_HOME", "~/.cache/vidcli")).expanduser()


def checkpoint_dir() -> Path:
    return home() / "checkpoints"


def get(name: str) -> Checkpoint:
    try:
        return CHECKPOINTS[name]
    except KeyError:
        raise ConfigError(f"unknown checkpoint {name!r}; known: {', '.join(CHECKPOINTS)}") from None


def local_path(name: str) -> Path:
    return checkpoint_dir() / get(name).filename


def is_present(name: str) -> bool:
    return local_path(name).is_file()


def checkpoint_path(name: str) -> Path:
    """The local file of a checkpoint, or a StageError saying which file to put where."""
    path = local_path(name)
    if not path.is_file():
        entry = get(name)
        raise StageError(
            f"checkpoint {name} is missing: run `vidcli models download {name}` or put {entry.filename} "
            f"(from {entry.url}) in {path.parent}"
        )
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(name: str) -> tuple[bool, str]:
    """(ok, detail) for a present checkpoint: its sha256 against the published one, if any."""
    entry, path = get(name), checkpoint_path(name)
    actual = sha256_of(path)
    if entry.sha256 is None:
        return True, f"sha256 {actual} (no published digest to compare)"
    if actual.startswith(entry.sha256):
        return True, f"sha256 {actual} matches"
    return False, f"sha256 {actual} does not match the published {entry.sha256}"


def download(name: str, progress=None) -> Path:
    """Fetch a checkpoint to its local path (atomically, verified); StageError with the manual route."""
    entry, path = get(name), local_path(name)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part-{os.getpid()}")
    try:
        with urllib.request.urlopen(entry.url, timeout=30) as response, open(tmp, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
                if progress:
                    progress(len(block))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise StageError(
            f"could not download {name} from {entry.url} ({reason}); download it by hand and put "
            f"{entry.filename} in {path.parent}"
        ) from None
    actual = sha256_of(tmp)
    if entry.sha256 and not actual.startswith(entry.sha256):
        tmp.unlink()
        raise StageError(f"download of {name} has sha256 {actual}, expected {entry.sha256}; nothing was kept")
    os.replace(tmp, path)
    return path


def load_state_dict(name: str) -> tuple[dict, str]:
    """A checkpoint's tensors on the CPU (safe loaders only) and its sha256, for the manifest."""
    path = checkpoint_path(name)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
    return state, sha256_of(path)
