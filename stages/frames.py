"""Decode a video into JPEG frames at a constant frame rate, recording each frame's source time."""

from __future__ import annotations

import collections
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vidcli.console import progress
from vidcli.engine.stage import RunInfo, setting
from vidcli.errors import ConfigError
from vidcli.io.frames import INDEX_NAME, frame_filename, write_jpeg
from vidcli.io.video import iter_frames, probe

VERSION = 1
INPUTS = ("video",)


@dataclass
class Config:
    fps: float = setting(0.0, "output frame rate; 0 = the source's average rate")
    max_size: int = setting(0, "longest side of the stored frames in pixels; 0 = the source size")
    quality: int = setting(95, "JPEG quality, 1-100")
    threads: int = setting(0, "JPEG encoding threads; 0 = one per CPU core, at most 4", significant=False)


def resolve_config(config: Config) -> Config:
    """Check the settings (at plan time, and again when run directly)."""
    if not 1 <= config.quality <= 100:
        raise ConfigError(f"frames: quality must be 1-100, got {config.quality}")
    if config.fps < 0 or config.max_size < 0 or config.threads < 0:
        raise ConfigError("frames: fps, max_size and threads must not be negative")
    return config


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    config = resolve_config(config)
    source = inputs["video"]
    info = probe(source.path)
    fps = config.fps or info.fps
    workers = config.threads or min(4, os.cpu_count() or 1)
    timestamps, source_timestamps, source_indices = [], [], []
    size = None
    expected = round(info.duration * fps) if info.duration else None
    with ThreadPoolExecutor(workers) as pool, progress("frames", expected) as bar:
        pending = collections.deque()
        for frame in iter_frames(source.path, fps, config.max_size):
            path = out_dir / frame_filename(frame.index)
            pending.append(pool.submit(write_jpeg, path, frame.rgb, config.quality))
            timestamps.append(round(frame.timestamp, 6))
            source_timestamps.append(round(frame.source_timestamp, 6))
            source_indices.append(frame.source_index)
            size = frame.rgb.shape[1], frame.rgb.shape[0]
            while len(pending) > 2 * workers:  # bound the frames held in memory
                pending.popleft().result()
                bar.advance()
        for job in pending:
            job.result()
            bar.advance()
    index = {
        "fps": fps,
        "width": size[0],
        "height": size[1],
        "count": len(timestamps),
        "rotation": info.rotation,
        "timestamps": timestamps,
        "source_timestamps": source_timestamps,
        "source_indices": source_indices,
        "source": {
            "name": Path(source.path).name,
            "content_hash": source.content_hash,
            "codec": info.codec,
            "source_fps": info.fps,
            "duration": info.duration,
        },
    }
    (out_dir / INDEX_NAME).write_text(json.dumps(index, indent=1))
    return RunInfo(backend="ffmpeg", counts={"frames": len(timestamps)})

