"""Predict video frames with a trained Dynamic Filter Network (`vidcli train predictor`): K frames past the
end (or past `start`), each from the model's own previous prediction, or with teacher forcing every next
frame from the true frames before it. The video shows the truth beside the prediction where there is one."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from vidcli import backends
from vidcli.engine.stage import RunInfo
from vidcli.settings import setting

VERSION = 1
INPUTS = ("frames",)


@dataclass
class Config:
    checkpoint: str = setting("", "model.safetensors of `vidcli train predictor`", significant=False)
    checkpoint_sha256: str = setting("", "sha256 of `checkpoint`, filled in when the plan is made (it goes "
                                         "into the artifact key); leave empty")
    frames: int = setting(10, "frames predicted, each from the previous prediction", bounds="[1, 100000]")
    start: int = setting(0, "first predicted frame: the model sees the frames before it; 0 = past the end",
                         bounds="[0, 10000000]")
    teacher_forcing: bool = setting(False, "predict every frame from the true frames before it instead "
                                           "(`frames` and `start` are then unused)")
    crf: int = setting(18, "H.264 constant rate factor (lower is better and bigger)", bounds="[0, 51]")
    device: str = setting("auto", "where the network runs; auto: cuda when a GPU is visible",
                          significant=False, choices=backends.DEVICES)


def resolve_config(config: Config) -> Config:
    from vidcli.devices import visible_gpu_count
    from vidcli.engine.keys import sha256_of
    from vidcli.errors import ConfigError, InputError

    if not config.checkpoint:
        raise ConfigError("predict needs a checkpoint (--checkpoint, from `vidcli train predictor`)")
    path = Path(config.checkpoint).expanduser().absolute()
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    device = ("cuda" if visible_gpu_count() else "cpu") if config.device == "auto" else config.device
    return replace(config, checkpoint=str(path), checkpoint_sha256=sha256_of(path), device=device)


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    import numpy as np

    from vidcli.console import log
    from vidcli.errors import ConfigError
    from vidcli.io.frames import FrameSequence
    from vidcli.io.video import VideoWriter
    from vidcli.predict.data import scale_frame
    from vidcli.predict.recipe import (
        PREDICTION_FRAMES, PREDICTION_INDEX, PREDICTION_VIDEO, load_predictor, predict_sequence,
    )

    network, about = load_predictor(Path(config.checkpoint))
    network = network.to(config.device)
    source = FrameSequence(inputs["frames"].path)
    count = len(source)
    height, colour = about["height"], about["channels"] == 3

    def read(i):
        return scale_frame(source.read(i), height, colour)

    if config.teacher_forcing:
        observed, first, total = count, 1, count
    else:
        observed = config.start or count
        if observed > count:
            raise ConfigError(f"start {config.start} is past the video's {count} frames")
        first, total = observed, observed - 1 + config.frames
    frames = np.stack([read(i) for i in range(observed)])
    width = frames.shape[2]
    frames = frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    log.info("predict: frames %d-%d at %dx%d from %d observed frames%s", first, total, width, height,
             observed, " (teacher forcing)" if config.teacher_forcing else "")
    predicted = predict_sequence(network, frames, observed, total, config.device)[first - 1:]
    predicted = (predicted.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
    indices = list(range(first, total + 1))
    with_truth = [i for i in indices if i < count]
    with VideoWriter(out_dir / PREDICTION_VIDEO, source.fps, (2 * width if with_truth else width, height),
                     crf=config.crf) as writer:
        for i, frame in zip(indices, predicted):
            rgb = np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame
            if with_truth:
                truth = read(i) if i < count else np.zeros_like(frame)
                rgb = np.hstack([np.repeat(truth, 3, axis=2) if truth.shape[2] == 1 else truth, rgb])
            writer.write(rgb)
    np.savez_compressed(out_dir / PREDICTION_FRAMES, frames=predicted, indices=np.array(indices))
    (out_dir / PREDICTION_INDEX).write_text(json.dumps(
        {"frames": indices, "with_truth": with_truth, "width": width, "height": height, "fps": source.fps,
         "teacher_forcing": config.teacher_forcing}, indent=1))
    return RunInfo(backend=about["head"], model="dfn", checksum=config.checkpoint_sha256,
                   counts={"predicted": len(indices), "with_truth": len(with_truth)})
