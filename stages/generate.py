"""Generate the animation: the reference person performing the retargeted motion, as an H.264 video.

The `animation` backend (`vidcli.backends`) makes the frames: `embedded` (CPU) poses a mesh puppet of
the reference person; `diffusion` runs AnimateDiff with ControlNet-OpenPose and IP-Adapter and needs
its checkpoints (`vidcli models download sd15 controlnet_openpose animatediff_motion_adapter
ip_adapter_sd15`). `auto` picks diffusion when its checkpoints are installed and a GPU is visible.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from vidcli import backends
from vidcli.animate.diffusion import DiffusionOptions
from vidcli.console import progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError
from vidcli.settings import setting

VERSION = 1
INPUTS = ("ref", "pose", "retarget")
COMPONENT = "animation"
SIZE_MULTIPLE = 8


@dataclass
class Config(DiffusionOptions):
    backend: str = setting("auto", "animator; auto: diffusion when its checkpoints are installed and a GPU "
                                   "is visible, else embedded", choices=backends.choices(COMPONENT))
    max_size: int = setting(768, "longest side of the video in pixels (sides rounded to multiples of 8); "
                                 "0 = the reference image's size", bounds="[0, 4096]")
    mesh_spacing: float = setting(8.0, "embedded: distance between mesh vertices, in output pixels",
                                  bounds="[2, 1000]")
    arap_iterations: int = setting(3, "embedded: as-rigid-as-possible iterations per frame",
                                   bounds="[1, 100]")


def resolve_config(config: Config) -> Config:
    """The device and number type the animator runs with (the CPU and float32 for the embedded one)."""
    device = backends.device(backends.get(COMPONENT, config.backend), config.device)
    dtype = config.dtype if config.dtype != "auto" else ("float16" if device == "cuda" else "float32")
    if dtype == "float16" and device == "cpu":
        raise ConfigError("float16 needs a GPU, and none is visible; use dtype float32")
    return replace(config, device=device, dtype=dtype, cpu_offload=config.cpu_offload and device == "cuda")


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    import cv2

    from vidcli.animate import files
    from vidcli.animate.reference import matted, read_reference
    from vidcli.io.video import VideoWriter

    reference = read_reference(Path(inputs["ref"].path))
    retargeting = files.read_retargeting(inputs["retarget"].path)
    size = output_size(reference.size, config.max_size)
    scale = np.array([size[0] / reference.size[0], size[1] / reference.size[1]])
    rgb = cv2.resize(matted(reference), size, interpolation=cv2.INTER_AREA)
    ref_keypoints = retargeting.ref_keypoints * np.append(scale, 1.0)
    keypoints = retargeting.keypoints * np.append(scale, 1.0)
    frames = len(keypoints)

    mask = cv2.imread(str(Path(inputs["pose"].path) / files.REFERENCE_MASK), cv2.IMREAD_GRAYSCALE)
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    animator = backends.get(COMPONENT, config.backend).build(config)
    render = animator.frames(rgb, mask, ref_keypoints, keypoints, retargeting.depth)

    with VideoWriter(out_dir / files.ANIMATION_MP4, retargeting.fps, size) as writer, \
            progress(f"generate ({config.backend})", frames) as bar:
        for frame in render:
            writer.write(frame)
            bar.advance()
    summary = {"backend": config.backend, "size": list(size), "fps": retargeting.fps, "frames": frames,
               "held_frames": np.flatnonzero(retargeting.held).tolist(), "config": asdict(config)}
    (out_dir / files.GENERATE_JSON).write_text(json.dumps(summary, indent=1))
    return RunInfo(backend=config.backend, model=animator.model, checksum=animator.checksum,
                   counts=animator.counts())


def output_size(ref_size: tuple[int, int], max_size: int) -> tuple[int, int]:
    """(width, height) of the video: the reference's aspect, longest side `max_size` (0: the reference's),
    both sides multiples of 8."""
    width, height = ref_size
    scale = max_size / max(width, height) if max_size else 1.0
    return (max(SIZE_MULTIPLE, round(width * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE),
            max(SIZE_MULTIPLE, round(height * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE))
