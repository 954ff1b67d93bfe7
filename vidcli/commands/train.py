"""`vidcli train flow`: RAFT on a flow data set; `vidcli synth-flow`: generated pairs with exact flow."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from vidcli.commands.common import (
    CONTEXT, Globals, follow_training, is_torchrun_follower, run_options, run_pipeline, setting_option,
)
from vidcli.commands.predict import train_predictor
from vidcli.errors import ConfigError


@click.group(context_settings=CONTEXT, epilog="Example: vidcli train flow pairs/ --steps 2000 -o trained/")
def train():
    """Train learned components on your data; the result is a cached artifact like any stage's."""


train.add_command(train_predictor)


@train.command("flow", context_settings=CONTEXT,
               epilog="Example: vidcli train flow pairs/ --steps 2000 --crop 256 256 -o trained/   "
                      "(then: vidcli flow clip.mp4 --set flow.backend=raft "
                      "--set flow.checkpoint=trained/pairs-*/train_flow/model.safetensors)")
@click.argument("dataset", type=click.Path(path_type=Path))
@setting_option("--architecture", "train_flow.architecture")
@setting_option("--init", "train_flow.init")
@setting_option("--steps", "train_flow.steps")
@setting_option("--batch-size", "train_flow.batch_size")
@setting_option("--lr", "train_flow.lr")
@setting_option("--crop", "train_flow.crop_height", "train_flow.crop_width")
@setting_option("--seed", "train_flow.seed")
@setting_option("--device", "train_flow.device")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the model, its log and metrics to OUTPUT/<dataset>-<hash8>/train_flow/.")
@run_options
@click.pass_obj
def train_flow(g: Globals, dataset: Path, output, **run):
    """Train torchvision's RAFT on DATASET, a folder of FlyingChairs, Sintel, KITTI or `vidcli synth`
    flow pairs (or what `vidcli synth-flow` writes), with RAFT's recipe; `vidcli settings train_flow`
    lists every value. A killed run resumes from its last save. Under torchrun every process trains a
    share of each batch (DistributedDataParallel); process 0 writes the artifact."""
    if is_torchrun_follower():
        follow_training(g, "train_flow", {"dataset": dataset}, run.get("assignments", ()),
                        lambda config, resume: _train_flow_share(config, dataset, resume))
        return
    run_pipeline(g, "train_flow", [{"dataset": dataset}], outputs=output, **run)


def _train_flow_share(config, dataset: Path, resume: Path) -> None:
    from vidcli.training.flow_data import open_dataset
    from vidcli.training.raft_recipe import Trainer

    kind, samples = open_dataset(dataset, config.dataset, config.sintel_pass)
    Trainer(config, samples, sparse=kind == "kitti", out_dir=None, resume_dir=resume, device=config.device).run()


@click.command("synth-flow", context_settings=CONTEXT,
               epilog="Example: vidcli synth-flow pairs/ --pairs 2000 --size 512x384 --photos my_photos/")
@click.argument("output", type=click.Path(file_okay=False, path_type=Path))
@click.option("--pairs", type=click.IntRange(1, 10_000_000), default=1000, show_default=True,
              help="Number of pairs.")
@click.option("--size", default="512x384", show_default=True,
              help="Image size WIDTHxHEIGHT (at least 64x64).")
@click.option("--seed", type=int, default=0, show_default=True, help="Pair i depends only on (seed, i).")
@click.option("--photos", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="A folder of photos used beside generated textures for the background and shapes.")
@click.option("--objects", type=click.Choice(["shapes", "chairs"]), default="shapes", show_default=True,
              help="Ellipses, polygons and stars, or chair-like objects (thin legs, gaps, mostly plain shaded "
                   "colours) over a moving background (a photo with --photos), as in FlyingChairs.")
def synth_flow(output: Path, pairs: int, size: str, seed: int, photos: Path | None, objects: str):
    """Write FlyingChairs-style training pairs to OUTPUT (NNNNNNN-img0.png, -img1.png and the exact flow
    -gt.flo): textured shapes and photos under random affine motions over a moving background."""
    from dataclasses import replace

    from vidcli.commands.synth import parse_size
    from vidcli.console import log, progress
    from vidcli.training.flow_pairs import STYLES, load_photos, write_pairs

    width, height = parse_size(size, minimum=64)
    if output.exists():
        raise ConfigError(f"{output}: already exists; give a new folder")
    if not output.parent.is_dir():
        raise ConfigError(f"{output.parent}: no such directory for the output")
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    try:
        with progress("flow pairs", total=pairs) as bar:
            write_pairs(partial, pairs, seed, replace(STYLES[objects], width=width, height=height),
                        load_photos(photos), bar)
        partial.rename(output)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("wrote %d pairs to %s", pairs, output)
