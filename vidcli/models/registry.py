"""The checkpoint registry: every model file a full backend can load, where it comes from, and
where it lives (`$VIDCLI_HOME/checkpoints`, default `~/.cache/vidcli/checkpoints`).

A checkpoint is one file (`kind="file"`, fetched from its URL and checked against its sha256), or
the needed files of a Hugging Face hub repository (`kind="hub"`, fetched with
`huggingface_hub.snapshot_download` into a folder; present when the folder exists). Users may place
files or folders there by hand. Checkpoints load with `torch.load(weights_only=True)` or
safetensors, never with unrestricted pickle.

Pinning: a hub checkpoint is fetched at one commit (the registry's `revision` when it names one, else
the commit its branch points to at the first download), every file the hub publishes a sha256 for
(its large files) is checked against it, and the commit and every file's full sha256 are recorded
in a pin file (`.vidcli-pin.json` in the folder). A file checkpoint is checked against the published
digest (torchvision publishes only its first 8 hex digits) and its full sha256 recorded beside it
(`.<file>.pin.json`). `verify` then compares every file with its full recorded sha256.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from vidcli.engine.keys import sha256_of
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
    kind: str = "file"  # "file": one file at `url`; "hub": files of the hub repository at `url`, in a folder
    revision: str | None = None  # hub: the commit to fetch; None: the default branch's, pinned at download
    files: tuple[str, ...] = ()  # hub: the repository's files that are needed


_HUB = "https://huggingface.co/"
CHECKPOINTS = {c.name: c for c in [
    Checkpoint(
        "raft_large", "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
        "raft_large_C_T_SKHT_V2-ff5fadd5.pth", "ff5fadd5", 20_129_000, "BSD-3-Clause", "flow",
        "RAFT (Teed & Deng 2020), torchvision weights trained on Chairs+Things+Sintel+KITTI+HD1K+Things (V2); "
        "torchvision publishes the first 8 hex digits of the sha256 in the file name, and its size "
        "(20.129 MB)",
    ),
    Checkpoint(
        "sd15", _HUB + "stable-diffusion-v1-5/stable-diffusion-v1-5", "stable-diffusion-v1-5", None, None,
        "CreativeML-OpenRAIL-M", "generate",
        "Stable Diffusion 1.5 (diffusers layout, fp32 safetensors): UNet, VAE, CLIP text encoder, tokenizer",
        kind="hub",
        files=("model_index.json", "feature_extractor/preprocessor_config.json",
               "scheduler/scheduler_config.json", "text_encoder/config.json",
               "text_encoder/model.safetensors", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
               "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
               "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
               "vae/diffusion_pytorch_model.safetensors"),
    ),
    Checkpoint(
        "controlnet_openpose", _HUB + "lllyasviel/control_v11p_sd15_openpose", "control_v11p_sd15_openpose",
        None, None, "CreativeML-OpenRAIL-M", "generate", "ControlNet 1.1 OpenPose for SD 1.5 (Zhang et al.)",
        kind="hub", files=("config.json", "diffusion_pytorch_model.safetensors"),
    ),
    Checkpoint(
        "animatediff_motion_adapter", _HUB + "guoyww/animatediff-motion-adapter-v1-5-2",
        "animatediff-motion-adapter-v1-5-2", None, None, "Apache-2.0", "generate",
        "AnimateDiff v2 motion module for SD 1.5 (Guo et al. 2023), diffusers MotionAdapter",
        kind="hub", files=("config.json", "diffusion_pytorch_model.safetensors"),
    ),
    Checkpoint(
        "ip_adapter_sd15", _HUB + "h94/IP-Adapter", "IP-Adapter", None, None, "Apache-2.0", "generate",
        "IP-Adapter for SD 1.5 (Ye et al. 2023) and its OpenCLIP ViT-H/14 image encoder",
        kind="hub",
        files=("models/ip-adapter_sd15.safetensors", "models/image_encoder/config.json",
               "models/image_encoder/model.safetensors"),
    ),
]}


PIN = ".vidcli-pin.json"


def pin_path(name: str) -> Path:
    """Where the pin of a checkpoint lives: in a hub folder, or beside a single file."""
    path = local_path(name)
    return path / PIN if get(name).kind == "hub" else path.with_name(f".{path.name}.pin.json")


def read_pin(name: str) -> dict:
    """The recorded commit (hub) and full sha256 of each file ({} for a file placed by hand)."""
    try:
        return json.loads(pin_path(name).read_text())
    except (OSError, ValueError):
        return {}


def revision(name: str) -> str:
    """The commit a present hub checkpoint was fetched at, the registry's pinned one, or "unpinned" for a
    folder placed by hand."""
    return read_pin(name).get("commit") or get(name).revision or "unpinned"


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


def hub_repo(name: str) -> str:
    """The hub repository id (owner/name) of a hub checkpoint."""
    entry = get(name)
    if entry.kind != "hub":
        raise ConfigError(f"checkpoint {name} is a single file, not a hub repository")
    return entry.url.removeprefix(_HUB)


def is_present(name: str) -> bool:
    path = local_path(name)
    return path.is_dir() if get(name).kind == "hub" else path.is_file()


def size_on_disk(name: str) -> int | None:
    """Bytes a present checkpoint takes (a hub folder: all its files), None when it is absent."""
    if not is_present(name):
        return None
    path = local_path(name)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.name != PIN)


def checkpoint_path(name: str) -> Path:
    """The local file (or folder) of a checkpoint, or a StageError saying what to put where."""
    path = local_path(name)
    if not is_present(name):
        entry = get(name)
        raise StageError(
            f"checkpoint {name} is missing: run `vidcli models download {name}` or put {entry.filename} "
            f"(from {entry.url}) in {path.parent}"
        )
    return path


def verify(name: str) -> tuple[bool, str]:
    """(ok, detail) for a present checkpoint: every file's full sha256 against the one recorded when it
    was fetched, and a single file's against the published digest."""
    entry, path = get(name), checkpoint_path(name)
    recorded = read_pin(name).get("sha256", {})
    if entry.kind == "hub":
        missing = [f for f in entry.files if not (path / f).is_file()]
        if missing:
            return False, f"folder {path} lacks {', '.join(missing)}"
        changed = [f for f in entry.files if f in recorded and sha256_of(path / f) != recorded[f]]
        if changed:
            return False, f"{', '.join(changed)} differ from the sha256 recorded at download"
        if not recorded:
            return True, f"folder has its {len(entry.files)} files (placed by hand: no recorded sha256)"
        return True, f"{len(entry.files)} files match their sha256 at commit {revision(name)}"
    actual = sha256_of(path)
    if entry.sha256 and not actual.startswith(entry.sha256):
        return False, f"sha256 {actual} does not match the published {entry.sha256}"
    if recorded and actual != recorded.get(entry.filename):
        return False, f"sha256 {actual} differs from {recorded[entry.filename]} recorded at download"
    if entry.sha256 is None and not recorded:
        return True, f"sha256 {actual} (no published digest to compare)"
    return True, f"sha256 {actual} matches"


def _write_pin(name: str, folder: Path, record: dict) -> None:
    """Record a fetched checkpoint's commit and files' sha256 (into `folder`, before it is moved)."""
    target = folder / PIN if get(name).kind == "hub" else pin_path(name)
    target.write_text(json.dumps(record, indent=2, sort_keys=True))


def download(name: str, progress=None) -> Path:
    """Fetch a checkpoint to its local path (atomically, verified); StageError with the manual route."""
    entry, path = get(name), local_path(name)
    if is_present(name):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if entry.kind == "hub":
        return _download_hub(entry, path)
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
    _write_pin(name, path.parent, {"sha256": {entry.filename: actual}, "url": entry.url})
    return path


def _download_hub(entry: Checkpoint, path: Path) -> Path:
    """Fetch a hub checkpoint's files into a temporary folder, renamed to `path` when complete."""
    try:
        import huggingface_hub
    except ImportError:
        raise StageError(f"downloading {entry.name} needs huggingface_hub: "
                         "pip install 'vidcli[diffusion]'") from None

    tmp = path.with_name(f".{path.name}.part-{os.getpid()}")
    try:
        info = huggingface_hub.HfApi().model_info(hub_repo(entry.name), revision=entry.revision,
                                                  files_metadata=True)
        published = {f.rfilename: f.lfs.sha256 for f in info.siblings or []
                     if f.rfilename in entry.files and getattr(f, "lfs", None)}
        huggingface_hub.snapshot_download(hub_repo(entry.name), revision=info.sha,
                                          allow_patterns=list(entry.files), local_dir=tmp)
        missing = [f for f in entry.files if not (tmp / f).is_file()]
        if missing:
            raise OSError(f"the repository has no {', '.join(missing)}")
        digests = {f: sha256_of(tmp / f) for f in entry.files}
        wrong = [f for f, digest in published.items() if digests[f] != digest]
        if wrong:
            raise OSError(f"{', '.join(wrong)} do not match the sha256 the hub publishes")
    except Exception as exc:  # network, authentication, missing or wrong files: all mean "fetch by hand"
        shutil.rmtree(tmp, ignore_errors=True)
        reason = " ".join(str(exc).split())
        raise StageError(
            f"could not download {entry.name} from {entry.url} ({type(exc).__name__}: {reason}); download "
            f"{', '.join(entry.files)} from it by hand into {path}"
        ) from None
    shutil.rmtree(tmp / ".cache", ignore_errors=True)
    _write_pin(entry.name, tmp, {"commit": info.sha, "sha256": digests, "url": entry.url,
                                 "published_sha256": sorted(published)})
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
