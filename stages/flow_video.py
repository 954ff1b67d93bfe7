"""A video of each frame beside its colour-coded optical flow (forward pairs only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcli.console import progress
from vidcli.engine.stage import RunInfo
from vidcli.io.flow import FlowArtifact, flow_to_rgb
from vidcli.io.frames import FrameSequence
from vidcli.io.video import VideoWriter
from vidcli.settings import setting

VERSION = 1
INPUTS = ("frames", "flow")

VIDEO_NAME = "flow.mp4"


@dataclass
class Config:
    max_flow: float = setting(
        0.0, "flow length in frame pixels drawn fully saturated; 0 = the video's 99th percentile",
        bounds="[0, 100000]")
    crf: int = setting(18, "H.264 constant rate factor (lower is better and bigger)", bounds="[0, 51]")


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    frames = FrameSequence(inputs["frames"].path)
    flow = FlowArtifact(inputs["flow"].path)
    pairs = [(i, j) for i, j in flow.pairs if j > i]

    def flow_of(i: int, j: int) -> np.ndarray:
        return flow.read(i, j) * flow.scale

    max_flow = config.max_flow or _robust_max_magnitude(flow_of(i, j) for i, j in pairs)
    width, height = frames.size
    with VideoWriter(out_dir / VIDEO_NAME, frames.fps, (2 * width, height), crf=config.crf) as writer, \
            progress("flow video", len(pairs)) as bar:
        for i, j in pairs:
            colour = flow_to_rgb(flow_of(i, j), max_flow)
            colour = cv2.resize(colour, (width, height), interpolation=cv2.INTER_LINEAR)
            writer.write(np.hstack([frames.read(i), colour]))
            bar.advance()
    return RunInfo(backend="ffmpeg", counts={"frames": len(pairs), "max_flow": round(float(max_flow), 3)})


def _robust_max_magnitude(flows) -> float:
    """The largest per-pair 99th percentile of flow length, so that a few outliers do not wash out colour."""
    percentiles = [float(np.percentile(np.linalg.norm(flow, axis=-1), 99)) for flow in flows]
    return max(percentiles, default=1.0) or 1.0
