"""Decode a video into JPEG frames at a constant frame rate, recording each frame's source time."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vidcli.console import progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import InputError
from vidcli.io.frames import INDEX_NAME, frame_filename
from vidcli.io.video import constant_rate, decode_jpegs, probe, scaled_size
from vidcli.settings import setting

VERSION = 2
INPUTS = ("video",)


@dataclass
class Config:
    fps: float = setting(0.0, "output frame rate; 0 = the source's average rate", bounds="[0, 240]")
    max_size: int = setting(0, "longest side of the stored frames in pixels; 0 = the source size",
                            bounds="[0, 8192]")
    qscale: int = setting(2, "JPEG quantiser scale of ffmpeg's MJPEG encoder (its -q:v): 1 (best) to 31",
                          bounds="[1, 31]")


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    source = inputs["video"]
    info = probe(source.path)
    fps = config.fps or info.fps
    if not fps:
        raise InputError(f"{source.path}: ffmpeg reports no frame rate; give one with --fps")
    size = scaled_size(info.width, info.height, config.max_size)
    with progress("frames", info.frame_count or None) as bar:
        decoded = decode_jpegs(source.path, out_dir, info, size, config.qscale, info.fps or fps,
                               on_frame=bar.advance)
    # ffmpeg wrote every source frame; name them by output frame, copying repeats, removing drops.
    timestamps, source_timestamps, source_indices = [], [], []
    chosen = list(constant_rate(decoded, fps))
    for position, (k, timestamp, (source_index, source_timestamp, file)) in enumerate(chosen):
        target = out_dir / frame_filename(k)
        repeated = position + 1 < len(chosen) and chosen[position + 1][2][0] == source_index
        (shutil.copyfile if repeated else os.replace)(file, target)
        timestamps.append(round(timestamp, 6))
        source_timestamps.append(round(source_timestamp, 6))
        source_indices.append(source_index)
    for _, _, file in decoded:
        file.unlink(missing_ok=True)
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

