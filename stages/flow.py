"""Optical flow between frame pairs (i, i + step): OpenCV DIS (embedded) or RAFT (full backend)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from vidcli.console import progress
from vidcli.engine.stage import RunInfo, setting
from vidcli.errors import ConfigError, InputError
from vidcli.io.flow import FLOW_INDEX_NAME, PAIRS_DIR, pair_filename, write_flo
from vidcli.io.frames import FrameSequence
from vidcli.io.video import scaled_size
from vidcli.models.flow import make_estimator, resolve_backend

VERSION = 2
INPUTS = ("frames",)


@dataclass
class Config:
    backend: str = setting("auto", "auto | dis | raft; auto: RAFT when its checkpoint is installed, else DIS")
    max_size: int = setting(512, "longest side, in pixels, of the images flow is computed on; 0 = frame size")
    step: int = setting(1, "flow goes from frame i to frame i + step, for every i")
    dis_preset: str = setting("medium", "DIS speed/quality preset: ultrafast | fast | medium")
    backward: bool = setting(False, "also store flow from i + step back to i, for forward-backward checks")
    device: str = setting("auto", "auto | cpu | cuda, for RAFT; auto: cuda when a GPU is visible", significant=False)


def resolve_config(config: Config) -> Config:
    """Check the settings and make `auto` concrete, so the artifact key names the backend that runs."""
    backend, device = resolve_backend("flow", config.backend, config.dis_preset, config.device)
    if config.step < 1 or config.max_size < 0:
        raise ConfigError("flow: step must be at least 1 and max_size not negative")
    return replace(config, backend=backend, device=device)


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    config = resolve_config(config)
    frames = FrameSequence(inputs["frames"].path)
    if len(frames) <= config.step:
        raise InputError(
            f"flow: the video has {len(frames)} frames; step {config.step} needs at least {config.step + 1}")
    estimator = make_estimator(config.backend, config.dis_preset, config.device)
    frame_size = frames.size
    size = scaled_size(*frame_size, config.max_size)

    forward = [(i, i + config.step) for i in range(len(frames) - config.step)]
    pairs = [pair for i, j in forward for pair in ([(i, j), (j, i)] if config.backward else [(i, j)])]
    (out_dir / PAIRS_DIR).mkdir()
    prepared: dict[int, object] = {}
    with progress(f"flow ({estimator.name})", len(pairs)) as bar:
        for i, j in pairs:
            for k in (i, j):
                if k not in prepared:
                    prepared[k] = estimator.prepare(frames.read_resized(k, size))
            write_flo(out_dir / PAIRS_DIR / pair_filename(i, j), estimator.flow(prepared[i], prepared[j]))
            for k in [k for k in prepared if k < min(i, j)]:
                del prepared[k]
            bar.advance()

    index = {
        "pairs": [list(pair) for pair in pairs],
        "step": config.step,
        "backward": config.backward,
        "size": list(size),
        "frame_size": list(frame_size),
        "scale": [frame_size[0] / size[0], frame_size[1] / size[1]],
        "backend": estimator.name,
    }
    (out_dir / FLOW_INDEX_NAME).write_text(json.dumps(index, indent=1))
    return RunInfo(backend=estimator.name, model=estimator.model, checksum=estimator.checksum,
                   counts={"pairs": len(pairs)})
