"""Generate the animation: the reference person performing the retargeted motion, as an H.264 video.

Backends:

- `embedded` (CPU): the reference person becomes a mesh puppet over the inpainted background,
  posed per frame by as-rigid-as-possible deformation pinned at the retargeted joints
  (`vidcli.animate.puppet`).
- `diffusion`: AnimateDiff with ControlNet-OpenPose on the retargeted skeletons and IP-Adapter on
  the reference image, in overlapping windows (`vidcli.animate.diffusion`); needs its checkpoints
  (`vidcli models download sd15 controlnet_openpose animatediff_motion_adapter ip_adapter_sd15`).

`auto` picks diffusion when its checkpoints are installed and a GPU is visible, else embedded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from vidcli.console import log, progress
from vidcli.engine.stage import RunInfo, setting
from vidcli.errors import ConfigError

VERSION = 1
INPUTS = ("ref", "pose", "retarget")
BACKENDS = ("auto", "embedded", "diffusion")
SIZE_MULTIPLE = 8


@dataclass
class Config:
    backend: str = setting("auto", "auto | embedded | diffusion; auto: diffusion when its checkpoints are "
                                   "installed and a GPU is visible, else embedded")
    max_size: int = setting(768, "longest side of the video in pixels (sides rounded to multiples of 8); "
                                 "0 = the reference image's size")
    mesh_spacing: float = setting(8.0, "embedded: distance between mesh vertices, in output pixels")
    arap_iterations: int = setting(3, "embedded: as-rigid-as-possible iterations per frame")
    steps: int = setting(25, "diffusion: denoising steps")
    guidance: float = setting(7.5, "diffusion: classifier-free guidance scale")
    seed: int = setting(0, "diffusion: seed of the initial noise")
    window: int = setting(24, "diffusion: frames generated together")
    overlap: int = setting(4, "diffusion: frames shared by consecutive windows, blended linearly")
    prompt: str = setting("a person, best quality, high detail", "diffusion: text prompt")
    negative_prompt: str = setting("lowres, bad anatomy, bad hands, blurry, worst quality",
                                   "diffusion: negative text prompt")
    ip_adapter_scale: float = setting(0.8, "diffusion: weight of the reference image (IP-Adapter)")
    controlnet_scale: float = setting(1.0, "diffusion: weight of the skeleton conditioning (ControlNet)")
    reference_anchor: bool = setting(True, "diffusion: put the reference image as a pinned first frame into "
                                           "every window")
    dtype: str = setting("auto", "diffusion: auto | float16 | float32; auto: float16 on a GPU, float32 on "
                                 "the CPU")
    device: str = setting("auto", "diffusion: auto | cpu | cuda; auto: cuda when a GPU is visible",
                          significant=False)
    cpu_offload: bool = setting(False, "diffusion: keep models on the CPU until needed (less GPU memory)",
                                significant=False)


def resolve_config(config: Config) -> Config:
    """Check the settings and make `auto` concrete, so the artifact key names the backend that runs."""
    from vidcli.animate import diffusion
    from vidcli.devices import visible_gpu_count

    if config.backend not in BACKENDS:
        raise ConfigError(f"generate: backend must be one of {', '.join(BACKENDS)}, got {config.backend!r}")
    if config.max_size < 0 or config.max_size % SIZE_MULTIPLE:
        raise ConfigError(f"generate: max_size must be 0 or a positive multiple of {SIZE_MULTIPLE}, "
                          f"got {config.max_size}")
    if config.mesh_spacing < 2 or config.arap_iterations < 1:
        raise ConfigError("generate: mesh_spacing must be at least 2 and arap_iterations at least 1")
    if config.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"generate: device must be auto, cpu or cuda, got {config.device!r}")
    if config.dtype not in diffusion.DTYPES:
        raise ConfigError(f"generate: dtype must be one of {', '.join(diffusion.DTYPES)}, "
                          f"got {config.dtype!r}")
    backend = config.backend
    if backend == "auto":
        missing = diffusion.missing_checkpoints()
        gpus = visible_gpu_count()
        backend = "diffusion" if not missing and gpus else "embedded"
        if backend == "embedded":
            reason = f"checkpoints {', '.join(missing)} are not installed" if missing else "no GPU is visible"
            log.info("generate: using the embedded backend (diffusion needs its checkpoints and a GPU: %s)",
                     reason)
    config = replace(config, backend=backend)
    if backend == "diffusion":
        device = config.device if config.device != "auto" else ("cuda" if visible_gpu_count() else "cpu")
        config = replace(config, device=device, dtype=diffusion.resolve_dtype(config.dtype, device))
        diffusion.check_settings(diffusion.Settings.from_config(config))
    return config


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    import cv2

    from vidcli.animate import files
    from vidcli.animate.reference import matted, read_reference
    from vidcli.io.video import VideoWriter

    config = resolve_config(config)
    reference = read_reference(Path(inputs["ref"].path))
    retargeting = files.read_retargeting(inputs["retarget"].path)
    size = output_size(reference.size, config.max_size)
    scale = np.array([size[0] / reference.size[0], size[1] / reference.size[1]])
    rgb = cv2.resize(matted(reference), size, interpolation=cv2.INTER_AREA)
    ref_keypoints = retargeting.ref_keypoints * np.append(scale, 1.0)
    keypoints = retargeting.keypoints * np.append(scale, 1.0)
    frames = len(keypoints)

    if config.backend == "embedded":
        from vidcli.animate.puppet import Puppet

        mask = cv2.imread(str(Path(inputs["pose"].path) / files.REFERENCE_MASK), cv2.IMREAD_GRAYSCALE)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        puppet = Puppet(rgb, mask, ref_keypoints, config.mesh_spacing, config.arap_iterations)
        render = (puppet.render(puppet.pose(keypoints[t, :, :2]), retargeting.depth[t])
                  for t in range(frames))
        info = RunInfo(backend="embedded", counts={"frames": frames, "mesh_vertices": len(puppet.rest),
                                                   "mesh_triangles": len(puppet.triangles)})
    else:
        from vidcli.animate import diffusion

        settings = diffusion.Settings.from_config(config)
        pipe, models = diffusion.load_pipeline(settings)
        latents = diffusion.generate_latents(pipe, rgb, ref_keypoints, keypoints, settings,
                                             diffusion.encode_prompts(pipe, settings))
        render = diffusion.decode(pipe, latents)
        info = RunInfo(backend="diffusion", model=models, counts={"frames": frames})

    with VideoWriter(out_dir / files.ANIMATION_MP4, retargeting.fps, size) as writer, \
            progress(f"generate ({config.backend})", frames) as bar:
        for frame in render:
            writer.write(frame)
            bar.advance()
    summary = {"backend": config.backend, "size": list(size), "fps": retargeting.fps, "frames": frames,
               "held_frames": np.flatnonzero(retargeting.held).tolist(), "config": asdict(config)}
    (out_dir / files.GENERATE_JSON).write_text(json.dumps(summary, indent=1))
    return info


def output_size(ref_size: tuple[int, int], max_size: int) -> tuple[int, int]:
    """(width, height) of the video: the reference's aspect, longest side `max_size` (0: the reference's),
    both sides multiples of 8."""
    width, height = ref_size
    scale = max_size / max(width, height) if max_size else 1.0
    return (max(SIZE_MULTIPLE, round(width * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE),
            max(SIZE_MULTIPLE, round(height * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE))
