"""Optical flow between frame pairs (i, i + step): OpenCV DIS (embedded) or RAFT (full backend, the registry's
or a trained checkpoint)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from vidcli import backends
from vidcli.backends.dis import PRESET_FINEST_SCALE, PRESETS
from vidcli.backends.raft import RaftSettings, resolve_raft_settings
from vidcli.console import progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import InputError
from vidcli.io.flow import FLOW_INDEX_NAME, FORMAT_SUFFIXES, PAIRS_DIR, pair_filename, write_flow
from vidcli.io.frames import FrameSequence
from vidcli.io.video import scaled_size
from vidcli.settings import setting

VERSION = 3
INPUTS = ("frames",)
COMPONENT = "flow"


@dataclass
class Config(RaftSettings):
    backend: str = setting("auto", "optical flow; auto: RAFT when its checkpoint is installed or given, "
                                   "else DIS",
                           choices=backends.choices(COMPONENT))
    max_size: int = setting(512, "longest side, in pixels, of the images flow is computed on; 0 = frame size",
                            bounds="[0, 8192]")
    step: int = setting(1, "flow goes from frame i to frame i + step, for every i", bounds="[1, 1000]")
    dis_preset: str = setting("medium", "DIS speed/quality preset", choices=tuple(PRESETS))
    dis_finest_scale: int = setting(PRESET_FINEST_SCALE, "finest pyramid level (0 = the image) DIS refines "
                                                         "its flow on; -1 = the preset's", bounds="[-1, 4]")
    format: str = setting("png", "file of each pair's flow: png = KITTI 16-bit PNG (1/64 px steps, a "
                                 "fraction of the size), flo = Middlebury float32 (exact)",
                          choices=tuple(FORMAT_SUFFIXES))
    backward: bool = setting(False, "also store flow from i + step back to i, for forward-backward checks")
    device: str = setting("auto", "where RAFT runs; auto: cuda when a GPU is visible", significant=False,
                          choices=backends.DEVICES)


def resolve_config(config: Config) -> Config:
    config = resolve_raft_settings(config, config.backend)
    return replace(config, device=backends.device(backends.get(COMPONENT, config.backend), config.device))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    frames = FrameSequence(inputs["frames"].path)
    if len(frames) <= config.step:
        raise InputError(
            f"the video has {len(frames)} frames; step {config.step} needs at least {config.step + 1}")
    estimator = backends.get(COMPONENT, config.backend).build(config)
    frame_size = frames.size
    size = scaled_size(*frame_size, config.max_size)

    forward = [(i, i + config.step) for i in range(len(frames) - config.step)]
    pairs = [pair for i, j in forward for pair in ([(i, j), (j, i)] if config.backward else [(i, j)])]
    (out_dir / PAIRS_DIR).mkdir()
    prepared: dict[int, object] = {}
    with progress(f"flow ({config.backend})", len(pairs)) as bar:
        for i, j in pairs:
            for k in (i, j):
                if k not in prepared:
                    prepared[k] = estimator.prepare(frames.read_resized(k, size))
            write_flow(out_dir / PAIRS_DIR / pair_filename(i, j, FORMAT_SUFFIXES[config.format]),
                       estimator.flow(prepared[i], prepared[j]))
            for k in [k for k in prepared if k < min(i, j)]:
                del prepared[k]
            bar.advance()

    index = {
        "pairs": [list(pair) for pair in pairs],
        "step": config.step,
        "backward": config.backward,
        "format": config.format,
        "size": list(size),
        "frame_size": list(frame_size),
        "scale": [frame_size[0] / size[0], frame_size[1] / size[1]],
        "backend": config.backend,
    }
    (out_dir / FLOW_INDEX_NAME).write_text(json.dumps(index, indent=1))
    return RunInfo(backend=config.backend, model=estimator.model, checksum=estimator.checksum,
                   counts={"pairs": len(pairs)})
