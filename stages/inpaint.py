"""Fill the holes of every frame: the `inpainting` backend (`vidcli.backends`) writes each frame, and
only its hole pixels are kept, so everything outside the holes stays exactly as decoded. Frames are
stored as PNG (lossless) for the video stage to encode once."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vidcli import backends
from vidcli.console import progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import StageError
from vidcli.inpaint.flow_guided import SPATIAL_METHODS
from vidcli.inpaint.video import FILLED_DIR, HoleVideo, filled_filename
from vidcli.io.frames import INDEX_NAME
from vidcli.settings import setting

VERSION = 3
INPUTS = ("frames", "holes", "flow")
COMPONENT = "inpainting"


@dataclass
class Config:
    backend: str = setting(
        "auto",
        "video inpainter; auto: a full backend whose checkpoints (and GPU) are "
        "here, else the embedded flow-guided fill",
        choices=backends.choices(COMPONENT),
    )
    window: int = setting(
        20, "frames filled per window (embedded); memory grows with window + 2 context", bounds="[1, 1000]"
    )
    context: int = setting(
        20, "frames on either side of a window that content propagates from (embedded)", bounds="[1, 1000]"
    )
    flow_margin: int = setting(
        24,
        "pixels, at the flow's size, around a hole whose flow is also "
        "re-interpolated: flow next to a hole is unreliable (embedded)",
        bounds="[0, 200]",
    )
    flow_check: float = setting(
        0.05,
        "forward-backward tolerance, relative, for an estimated flow vector to count in the completion "
        "of a hole's flow; 0: every vector outside the margin counts (embedded)",
        bounds="[0, 10]",
    )
    consistency: float = setting(
        0.05,
        "forward-backward flow tolerance, relative, for taking a pixel along the flow (embedded)",
        bounds="[0, 10]",
    )
    decay: float = setting(
        0.9, "weight of propagated content per frame travelled (embedded)", bounds="(0, 1]"
    )
    spatial: str = setting(
        "telea",
        "OpenCV spatial inpainting for what no frame shows (embedded)",
        choices=tuple(SPATIAL_METHODS),
    )
    spatial_radius: int = setting(
        5, "radius in pixels of the spatial inpainting (embedded)", bounds="[1, 100]"
    )
    temporal_blend: float = setting(
        0.0,
        "share of the previous output, warped along the flow, mixed into each hole pixel (embedded); "
        "0 measured best, also for flicker, on the tuning split",
        bounds="[0, 1)",
    )
    unseen_refresh: float = setting(
        0.1,
        "share of each hole pixel no nearby frame shows that is filled spatially again in every frame; "
        "the rest follows the previous output along the flow (embedded)",
        bounds="[0, 1]",
    )
    background_frames: int = setting(
        30,
        "when the camera is still, hole pixels (background_scope) take the median of their unmasked "
        "observations in this many frames spread over the video; 0: off (embedded)",
        bounds="[0, 1000]",
    )
    background_scope: str = setting(
        "unseen",
        "hole pixels the background model fills: every one (holes), or only those no frame of the "
        "propagation window shows (unseen), which would otherwise be filled spatially (embedded)",
        choices=("holes", "unseen"),
    )
    background_spread: float = setting(
        5.0,
        "the background model fills a pixel only where its observations' median absolute deviation "
        "is at most this many levels (embedded)",
        bounds="[0, 255]",
    )
    still_camera: float = setting(
        1.0,
        "pixels the camera may drift over the video (summed median flow) for background_frames to apply",
        bounds="[0, 1000]",
    )
    sttn_masked_attention: bool = setting(
        False,
        "STTN: hide hole patches from the attention; the released "
        "weights were trained without (the authors' masked_fill "
        "result is discarded), so False reproduces them",
    )
    sttn_references: int = setting(
        20,
        "STTN: at most this many reference frames (every 10th frame, the "
        "nearest ones) beside each group of neighbours",
        bounds="[0, 1000]",
    )
    diffusion_prompt: str = setting(
        "empty background, seamless, natural", "diffusion: what to paint in the holes"
    )
    diffusion_negative_prompt: str = setting(
        "person, people, text, watermark, blurry", "diffusion: what not to paint"
    )
    diffusion_steps: int = setting(30, "diffusion: denoising steps per keyframe", bounds="[1, 1000]")
    diffusion_guidance: float = setting(7.5, "diffusion: classifier-free guidance scale", bounds="[0, 50]")
    diffusion_seed: int = setting(
        0, "diffusion: keyframe k is generated with seed + k", bounds="[0, 2147483647]"
    )
    diffusion_size: int = setting(
        512, "diffusion: longest side the keyframes are painted at (multiples of 8)", bounds="[64, 2048]"
    )
    diffusion_keyframe_step: int = setting(
        10,
        "diffusion: every this many frames a keyframe is painted; the others follow along the flow",
        bounds="[1, 1000]",
    )
    device: str = setting(
        "auto",
        "where a network backend runs; auto: cuda when a GPU is visible",
        significant=False,
        choices=backends.DEVICES,
    )


def resolve_config(config: Config) -> Config:
    return replace(config, device=backends.device(backends.get(COMPONENT, config.backend), config.device))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    flow = inputs.get("flow")  # backends without flow (STTN) are also run without it
    video = HoleVideo(inputs["frames"].path, inputs["holes"].path, flow.path if flow else None)
    filled_dir = out_dir / FILLED_DIR
    filled_dir.mkdir()
    holes = sum(1 for i in range(len(video)) if video.hole_area(i))
    written, name = [], config.backend
    if not holes:  # nothing to fill: the frames pass through untouched
        inpainter = None
        for i in range(len(video)):
            _write_png(filled_dir / filled_filename(i), video.frame(i))
        written = list(range(len(video)))
    else:
        inpainter = backends.get(COMPONENT, config.backend).build(config)
        with progress(f"inpaint ({config.backend})", len(video)) as bar:

            def write(index: int, rgb: np.ndarray) -> None:
                if index != len(written):
                    raise StageError(
                        f"inpainting backend {name} wrote frame {index}, expected {len(written)}"
                    )
                hole = video.hole(index)
                kept = (
                    np.where(hole[..., None], rgb, video.frame(index)) if hole.any() else video.frame(index)
                )
                _write_png(filled_dir / filled_filename(index), kept)
                written.append(index)
                bar.advance()

            inpainter.inpaint(video, write)
    if len(written) != len(video):
        raise StageError(f"inpainting backend {name} wrote {len(written)} of {len(video)} frames")
    width, height = video.size
    index = {
        "count": len(video),
        "fps": video.fps,
        "width": width,
        "height": height,
        "frames_with_holes": holes,
    }
    (out_dir / INDEX_NAME).write_text(json.dumps(index, indent=1))
    counts = {"frames": len(video), "frames_with_holes": holes, **(inpainter.counts() if inpainter else {})}
    return RunInfo(
        backend=name,
        model=getattr(inpainter, "model", None),
        checksum=getattr(inpainter, "checksum", None),
        counts=counts,
    )


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise StageError(f"could not write {path}")
