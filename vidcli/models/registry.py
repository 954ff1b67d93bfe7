"""The checkpoint registry: every model file a full backend can load, where it comes from, and
where it lives (`$VIDCLI_HOME/checkpoints`, default `~/.cache/vidcli/checkpoints`).

A checkpoint is one file (`kind="file"`, fetched from its URL and checked against its sha256), or
the needed files of a Hugging Face hub repository (`kind="hub"`, fetched with
`huggingface_hub.snapshot_download` at a revision into a folder; present when the folder exists), or
one file that the user fetches by hand from behind a web page or out of an archive (`kind="manual"`).
Users may place files or folders there by hand. Checkpoints load with
`torch.load(weights_only=True)` or safetensors, never with unrestricted pickle.
"""

from __future__ import annotations

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
    # "file": one file at `url`; "hub": files of the hub repository at `url`, in a folder; "manual": one
    # file its authors publish behind a page or inside an archive, which the user fetches and places
    kind: str = "file"
    revision: str | None = None  # hub: the branch, tag or commit to fetch
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
        "droid", "https://drive.google.com/file/d/1PpqVt1H4maBa_GbPJp4NwxRsd9jk-elh/view", "droid.pth", None,
        None, "BSD-3-Clause", "camera",
        "DROID-SLAM (Teed & Deng 2021) network weights, the README's Google Drive link "
        "(tools/download_model.sh fetches it with gdown); a bare state_dict with `module.` prefixes", kind="manual",
    ),
    Checkpoint(
        "humor", "http://download.cs.stanford.edu/orion/humor/checkpoints.zip", "humor_best_model.pth", None,
        None, "MIT", "world",
        "HuMoR (Rempe et al. 2021) CVAE motion prior: checkpoints/humor/best_model.pth from the official "
        "checkpoints.zip (215 MB, get_ckpt.sh)", kind="manual",
    ),
    Checkpoint(
        "sd15", _HUB + "stable-diffusion-v1-5/stable-diffusion-v1-5", "stable-diffusion-v1-5", None, None,
        "CreativeML-OpenRAIL-M", "generate",
        "Stable Diffusion 1.5 (diffusers layout, fp32 safetensors): UNet, VAE, CLIP text encoder, tokenizer",
        kind="hub", revision="main",
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
        kind="hub", revision="main", files=("config.json", "diffusion_pytorch_model.safetensors"),
    ),
    Checkpoint(
        "animatediff_motion_adapter", _HUB + "guoyww/animatediff-motion-adapter-v1-5-2",
        "animatediff-motion-adapter-v1-5-2", None, None, "Apache-2.0", "generate",
        "AnimateDiff v2 motion module for SD 1.5 (Guo et al. 2023), diffusers MotionAdapter",
        kind="hub", revision="main", files=("config.json", "diffusion_pytorch_model.safetensors"),
    ),
    Checkpoint(
        "ip_adapter_sd15", _HUB + "h94/IP-Adapter", "IP-Adapter", None, None, "Apache-2.0", "generate",
        "IP-Adapter for SD 1.5 (Ye et al. 2023) and its OpenCLIP ViT-H/14 image encoder",
        kind="hub", revision="main",
        files=("models/ip-adapter_sd15.safetensors", "models/image_encoder/config.json",
               "models/image_encoder/model.safetensors"),
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
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


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
    """(ok, detail) for a present checkpoint: its sha256 against the published one, if any."""
    entry, path = get(name), checkpoint_path(name)
    if entry.kind == "hub":
        missing = [f for f in entry.files if not (path / f).is_file()]
        if missing:
            return False, f"folder {path} lacks {', '.join(missing)}"
        return True, f"folder has its {len(entry.files)} files (no published digests to compare)"
    actual = sha256_of(path)
    if entry.sha256 is None:
        return True, f"sha256 {actual} (no published digest to compare)"
    if actual.startswith(entry.sha256):
        return True, f"sha256 {actual} matches"
    return False, f"sha256 {actual} does not match the published {entry.sha256}"


def download(name: str, progress=None) -> Path:
    """Fetch a checkpoint to its local path (atomically, verified); StageError with the manual route."""
    entry, path = get(name), local_path(name)
    if is_present(name):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if entry.kind == "hub":
        return _download_hub(entry, path)
    if entry.kind == "manual":
        raise StageError(f"{name} cannot be downloaded automatically: get it from {entry.url} "
                         f"({entry.description}) and put it in {path.parent} as {entry.filename}")
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


def _download_hub(entry: Checkpoint, path: Path) -> Path:
    """Fetch a hub checkpoint's files into a temporary folder, renamed to `path` when complete."""
    try:
        import huggingface_hub
    except ImportError:
        raise StageError(f"downloading {entry.name} needs huggingface_hub: "
                         "pip install 'vidcli[diffusion]'") from None

    tmp = path.with_name(f".{path.name}.part-{os.getpid()}")
    try:
        huggingface_hub.snapshot_download(hub_repo(entry.name), revision=entry.revision,
                                          allow_patterns=list(entry.files), local_dir=tmp)
        missing = [f for f in entry.files if not (tmp / f).is_file()]
        if missing:
            raise OSError(f"the repository has no {', '.join(missing)}")
    except Exception as exc:  # network, authentication or missing files: all mean "fetch by hand"
        shutil.rmtree(tmp, ignore_errors=True)
        reason = " ".join(str(exc).split())
        raise StageError(
            f"could not download {entry.name} from {entry.url} ({type(exc).__name__}: {reason}); download "
            f"{', '.join(entry.files)} from it by hand into {path}"
        ) from None
    shutil.rmtree(tmp / ".cache", ignore_errors=True)
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
