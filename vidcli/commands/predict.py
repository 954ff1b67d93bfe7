"""`vidcli train predictor`: a Dynamic Filter Network on moving digits or your clips; `vidcli predict`: the
next frames of a video with it."""

from __future__ import annotations

from pathlib import Path

import click

from vidcli.commands.common import (
    CONTEXT, Globals, copy_video_to, follow_training, is_torchrun_follower, run_options, run_pipeline,
    setting_option,
)

MOVING_DIGITS = "moving-digits"


@click.command("predictor", context_settings=CONTEXT,
               epilog="Example: vidcli train predictor --data my_clips/ --colour --steps 2000 -o trained/")
@click.option("--data", "data", required=True, metavar="moving-digits|DIR",
              help="moving-digits: generated bouncing digits (64x64, seeded); or a folder of your clips "
                   "(videos, or folders of frames such as a frames artifact).")
@setting_option("--head", "train_predictor.head")
@setting_option("--filter-size", "train_predictor.filter_size")
@setting_option("--steps", "train_predictor.steps")
@setting_option("--batch-size", "train_predictor.batch_size")
@setting_option("--lr", "train_predictor.lr")
@setting_option("--colour", "train_predictor.colour")
@setting_option("--seed", "train_predictor.seed")
@setting_option("--device", "train_predictor.device")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the model, its log and metrics to OUTPUT/<data>-<hash8>/train_predictor/.")
@run_options
@click.pass_obj
def train_predictor(g: Globals, data: str, output, **run):
    """Train a Dynamic Filter Network frame predictor: it sees `context` frames and predicts the next ones by
    applying a filter of its own to every pixel of the last frame. `vidcli settings train_predictor` lists
    every value. A killed run resumes from its last save. Under torchrun every process trains on its own
    sequences of each step (DistributedDataParallel); process 0 writes the artifact."""
    from vidcli.engine.store import Workspace
    from vidcli.predict.data import write_generator_source

    if data == MOVING_DIGITS:
        # The generator has no files: a small file in the workspace stands for it as the pipeline's source.
        source = write_generator_source(Workspace(g.workspace).state_dir / "generators")
    else:
        source = Path(data)
    if is_torchrun_follower():
        follow_training(g, "train_predictor", {"data": source}, run.get("assignments", ()),
                        lambda config, resume: _train_predictor_share(config, source, resume))
        return
    run_pipeline(g, "train_predictor", [{"data": source}], outputs=output, **run)


def _train_predictor_share(config, source: Path, resume: Path) -> None:
    from vidcli.predict.data import open_data
    from vidcli.predict.recipe import PredictorTrainer

    PredictorTrainer(config, open_data(source, config.data_options()), out_dir=None, resume_dir=resume,
                     device=config.device).run()


@click.command(context_settings=CONTEXT,
               epilog="Example: vidcli predict clip.mp4 --checkpoint model.safetensors --frames 10 "
                      "-o next.mp4")
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@setting_option("--checkpoint", "predict.checkpoint")
@setting_option("--frames", "predict.frames")
@setting_option("--start", "predict.start")
@setting_option("--teacher-forcing", "predict.teacher_forcing")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also copy the video of the prediction (beside the truth where there is one) to this "
                   ".mp4.")
@run_options
@click.pass_obj
def predict(g: Globals, video: Path, output, **run):
    """Predict frames of VIDEO with a model of `vidcli train predictor`: FRAMES frames past the end (or past
    --start), each from the previous prediction; or, with --teacher-forcing, every next frame from the true
    frames before it."""
    from vidcli.predict.recipe import PREDICTION_VIDEO

    run_pipeline(g, "predict", [{"video": video}], deliver=copy_video_to(output, "predict", PREDICTION_VIDEO),
                 **run)
