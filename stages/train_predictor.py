"""Train a Dynamic Filter Network frame predictor on generated moving digits or a folder of clips: the
artifact is the model and its metrics. A killed run resumes from its last save (every `save_every` steps)
and ends exactly where an uninterrupted run with the same seed would."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from vidcli import backends
from vidcli.engine.stage import RunInfo
from vidcli.predict.recipe import PredictorOptions
from vidcli.settings import setting

VERSION = 2  # 2: the paper's fixed-filter head; `inputs` frames per step
INPUTS = ("data",)


@dataclass
class Config(PredictorOptions):
    device: str = setting("auto", "where training runs; auto: cuda when a GPU is visible", significant=False,
                          choices=backends.DEVICES)


def resolve_config(config: Config) -> Config:
    from vidcli.devices import concrete_device

    return replace(config, device=concrete_device(config.device))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli.console import log, progress
    from vidcli.engine.keys import sha256_of
    from vidcli.engine.store import resume_dir_of
    from vidcli.predict.data import open_data
    from vidcli.predict.network import parameter_count
    from vidcli.predict.recipe import PredictorTrainer
    from vidcli.training.loop import MODEL_FILE, follow_with

    data = open_data(Path(inputs["data"].path), config.data_options())
    log.info("train predictor: %s, %s head, on %s", data.kind, config.head, config.device)
    with progress(f"train predictor ({config.head})", config.steps) as bar:
        trainer = PredictorTrainer(config, data, out_dir=out_dir, resume_dir=resume_dir_of(out_dir),
                                   device=config.device,
                                   on_step=follow_with(bar, lambda row: f"loss {row['loss']:.4f}"))
        metrics = trainer.run()
    (out_dir / "data.json").write_text(json.dumps(data.describe(), indent=1))
    validation = metrics["validation"] or {}
    log.info("train predictor: %d steps, validation BCE per sequence %s (copying the last frame: %s)",
             metrics["steps"], f"{validation['bce']:.1f}" if validation else "-",
             f"{validation['copy_last_bce']:.1f}" if validation else "-")
    return RunInfo(backend=config.head, model="dfn", checksum=sha256_of(out_dir / MODEL_FILE),
                   counts={"steps": metrics["steps"], "parameters": parameter_count(trainer.network)})
