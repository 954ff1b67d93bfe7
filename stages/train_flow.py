"""Train torchvision's RAFT on a flow data set folder with RAFT's recipe: the artifact is the model and its
metrics. A killed run resumes from its last save (every `save_every` steps) and ends exactly where an
uninterrupted run with the same seed would."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from vidcli import backends
from vidcli.engine.stage import RunInfo
from vidcli.settings import setting
from vidcli.training.flow_data import KINDS, SINTEL_PASSES
from vidcli.training.raft_recipe import TrainOptions

VERSION = 2  # 2: mixed_precision trains in bfloat16 on CPUs that compute it natively
INPUTS = ("dataset",)


@dataclass
class Config(TrainOptions):
    dataset: str = setting("auto", "layout of the data set folder; auto: the first that has pairs",
                           choices=KINDS)
    sintel_pass: str = setting("clean", "Sintel images trained on", choices=SINTEL_PASSES)
    device: str = setting("auto", "where training runs; auto: cuda when a GPU is visible", significant=False,
                          choices=backends.DEVICES)


def resolve_config(config: Config) -> Config:
    import importlib.util

    from vidcli.devices import concrete_device
    from vidcli.engine.keys import sha256_of
    from vidcli.errors import ConfigError, InputError

    if importlib.util.find_spec("torchvision") is None:
        raise ConfigError("training RAFT needs torchvision (pip install 'vidcli[raft]')")

    device = concrete_device(config.device)
    if not config.init:
        return replace(config, device=device, init_sha256="")
    path = Path(config.init).expanduser().absolute()
    if not path.is_file():
        raise InputError(f"init checkpoint not found: {path}")
    return replace(config, device=device, init=str(path), init_sha256=sha256_of(path))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli.console import log, progress
    from vidcli.engine.keys import sha256_of
    from vidcli.engine.store import resume_dir_of
    from vidcli.training.flow_data import open_dataset
    from vidcli.training.loop import follow_with
    from vidcli.training.raft_recipe import MODEL_FILE, Trainer

    kind, samples = open_dataset(Path(inputs["dataset"].path), config.dataset, config.sintel_pass)
    log.info("train flow: %d %s pairs, %s from %s on %s", len(samples), kind, config.architecture,
             config.init or "scratch", config.device)
    with progress(f"train {config.architecture}", config.steps) as bar:
        on_step = follow_with(bar, lambda row: f"loss {row['loss']:.3f} EPE {row['epe']:.2f}")
        trainer = Trainer(config, samples, sparse=kind == "kitti", out_dir=out_dir,
                          resume_dir=resume_dir_of(out_dir), device=config.device, on_step=on_step)
        metrics = trainer.run()
    (out_dir / "dataset.json").write_text(json.dumps({"kind": kind, "pairs": len(samples)}, indent=1))
    validation = metrics["validation"] or {}
    log.info("train flow: %d steps, validation EPE %s", metrics["steps"],
             f"{validation['epe']:.3f}" if validation else "-")
    return RunInfo(backend=config.architecture, model=config.architecture,
                   checksum=sha256_of(out_dir / MODEL_FILE),
                   counts={"pairs": len(samples), "steps": metrics["steps"]})
