"""The filled frames as an H.264 mp4 at the video's frame rate and size, with the source's audio."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2

from vidcli.console import progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import StageError
from vidcli.inpaint.video import FILLED_DIR, INPAINTED_MP4, filled_filename
from vidcli.io.frames import INDEX_NAME
from vidcli.io.video import VideoWriter, ffmpeg_exe
from vidcli.settings import setting

VERSION = 1
INPUTS = ("video", "inpaint")


@dataclass
class Config:
    crf: int = setting(18, "H.264 constant rate factor (lower is better and bigger)", bounds="[0, 51]")
    audio: bool = setting(True, "keep the source's audio track (AAC), if it has one")


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    filled = Path(inputs["inpaint"].path)
    index = json.loads((filled / INDEX_NAME).read_text())
    silent = out_dir / ".silent.mp4"
    with (
        VideoWriter(silent, index["fps"], (index["width"], index["height"]), crf=config.crf) as writer,
        progress("inpaint video", index["count"]) as bar,
    ):
        for i in range(index["count"]):
            bgr = cv2.imread(str(filled / FILLED_DIR / filled_filename(i)), cv2.IMREAD_COLOR)
            writer.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            bar.advance()
    if config.audio:
        _with_audio(silent, Path(inputs["video"].path), out_dir / INPAINTED_MP4)
        silent.unlink()
    else:
        os.replace(silent, out_dir / INPAINTED_MP4)
    return RunInfo(backend="ffmpeg", counts={"frames": index["count"]})


def _with_audio(video: Path, source: Path, out: Path) -> None:
    """`video`'s stream copied with the first audio stream of `source` (if any) as AAC, into `out`."""
    command = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(video),
        "-i",
        f"file:{source}",
        "-map",
        "0:v:0",
        "-map",
        "1:a:0?",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-shortest",
        "-movflags",
        "+faststart",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        lines = result.stderr.strip().splitlines() or ["ffmpeg failed"]
        raise StageError(f"adding the audio failed: {lines[-1]}")
