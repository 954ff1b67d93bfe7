"""Frame prediction: the dynamic local filtering layer, moving digits, clip folders, training (loss, resume)
and the `train predictor` / `predict` commands."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import vidcli

from vidcli.errors import InputError
from vidcli.io.video import VideoWriter
from vidcli.predict.data import Clips, MovingDigits, open_data
from vidcli.predict.digits import PATCH, moving_digits
from vidcli.predict.network import dynamic_local_filter
from vidcli.predict.recipe import (
    PREDICTION_FRAMES, PREDICTION_INDEX, PredictorOptions, PredictorTrainer, build_predictor, load_predictor,
    pixel_loss, predict_future, predict_sequence,
)
from vidcli.training.loop import MODEL_FILE, RESUME_FILE

TINY = dict(width=4, hidden=8, filter_size=5, context=3, future=2, size=32, batch_size=2,
            validation_sequences=2, save_every=2, log_every=1, lr=1e-2)


def one_hot_filters(height, width, size, row, column):
    """Filters that take every pixel's value from (row, column) offset in its window."""
    filters = torch.zeros(1, size * size, height, width)
    filters[:, (row + size // 2) * size + column + size // 2] = 1.0
    return filters


# --- the layer ---

def test_dynamic_filtering_matches_an_explicit_loop_over_pixels():
    rng = np.random.default_rng(0)
    image = rng.random((2, 3, 5, 6))
    size = 3
    filters = rng.random((2, size * size, 5, 6))
    expected = np.zeros_like(image)
    for b in range(2):
        for y in range(5):
            for x in range(6):
                for i in range(size):
                    for j in range(size):
                        yy, xx = np.clip(y + i - 1, 0, 4), np.clip(x + j - 1, 0, 5)  # edges replicated
                        expected[b, :, y, x] += filters[b, i * size + j, y, x] * image[b, :, yy, xx]
    got = dynamic_local_filter(torch.from_numpy(image), torch.from_numpy(filters)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_an_identity_filter_reproduces_the_frame():
    image = torch.rand(1, 2, 7, 9)
    assert torch.equal(dynamic_local_filter(image, one_hot_filters(7, 9, 5, 0, 0)), image)


def test_a_translation_filter_shifts_the_frame():
    image = torch.rand(1, 1, 8, 10)
    shifted = dynamic_local_filter(image, one_hot_filters(8, 10, 5, 1, -2))  # takes from one down, two left
    assert torch.equal(shifted[..., :-1, 2:], image[..., 1:, :-2])


def test_filters_must_be_an_odd_square():
    with pytest.raises(ValueError):
        dynamic_local_filter(torch.rand(1, 1, 4, 4), torch.rand(1, 8, 4, 4))


@pytest.mark.parametrize("channels", [1, 3])
def test_the_fixed_filter_baseline_is_the_dfn_plus_a_learned_1x1_convolution_of_its_filter_channels(channels):
    """The paper's baseline (its authors' code): the K^2 filter channels become the frame through one learned
    1x1 convolution, so it has K^2 C + C parameters more than the DFN (82 for grey 9 x 9)."""
    from vidcli.predict.network import parameter_count

    dynamic, fixed = (build_predictor(PredictorOptions(head=head), channels) for head in ("dynamic", "fixed"))
    assert parameter_count(fixed) - parameter_count(dynamic) == 81 * channels + channels
    assert fixed.fixed.in_channels == 81 and dynamic.fixed is None


# --- data ---

def test_moving_digits_are_seeded_bounce_inside_and_move():
    first = moving_digits(3, 7, length=20)
    assert first.shape == (20, 1, 64, 64) and first.dtype == np.float32
    np.testing.assert_array_equal(first, moving_digits(3, 7, length=20))
    assert not np.array_equal(first, moving_digits(3, 8, length=20))
    assert 0.0 <= first.min() and first.max() <= 1.0
    assert all(frame.max() > 0.5 for frame in first[:, 0])  # the digits stay in the frame
    assert np.abs(first[1:] - first[:-1]).mean() > 0.01  # and move
    single = moving_digits(0, 0, length=1, size=PATCH, digits=1)  # no room: the digit fills the frame
    assert single.shape == (1, 1, PATCH, PATCH)


def test_a_clip_folder_gives_cropped_windows_and_holds_out_clip_tails(tmp_path):
    frames = tmp_path / "data" / "walk"
    frames.mkdir(parents=True)
    for i in range(30):
        image = np.full((48, 80, 3), (i * 8, 100, 200 - i * 5), np.uint8)
        cv2.imwrite(str(frames / f"{i:06d}.jpg"), image)
    options = PredictorOptions(**{**TINY, "height": 40, "colour": True}).data_options()
    data = open_data(tmp_path / "data", options)
    assert isinstance(data, Clips) and data.channels == 3 and data.names == ["walk"]
    item = data.item(5)
    assert item.shape == (5, 3, 32, 32) and item.dtype == np.float32 and 0 <= item.min() <= item.max() <= 1
    np.testing.assert_array_equal(item, data.item(5))
    assert len(data.train[0]) == 25 and len(data.validation) == 1  # the last 5 of 30 frames held out
    grey = open_data(tmp_path / "data", PredictorOptions(**{**TINY, "height": 40}).data_options())
    assert grey.item(0).shape == (5, 1, 32, 32)


def test_unusable_data_is_one_input_error(tmp_path):
    options = PredictorOptions(**TINY).data_options()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no clip"):
        open_data(tmp_path / "empty", options)
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(InputError, match="moving-digits"):
        open_data(tmp_path / "other.json", options)
    small = tmp_path / "small"
    small.mkdir()
    for i in range(6):
        cv2.imwrite(str(small / f"{i}.png"), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(InputError, match="smaller than"):
        open_data(small, PredictorOptions(**{**TINY, "height": 20}).data_options())


# --- training ---

class RepeatedSequences:
    """Data that gives the same few sequences over and over, for a loss that must fall within a few steps."""

    kind, channels = "moving-digits", 1

    def __init__(self, count: int, length: int):
        self.sequences = [moving_digits(1, i, length) for i in range(count)]
        self.validation = self.sequences

    def item(self, k: int) -> np.ndarray:
        return self.sequences[k % len(self.sequences)]


@pytest.mark.parametrize("head", ["dynamic", "fixed"])
def test_a_few_steps_lower_the_loss(head, tmp_path):
    torch.set_num_threads(1)
    options = PredictorOptions(**{**TINY, "head": head, "steps": 15, "size": 64})
    data = RepeatedSequences(2, options.context + options.future)
    trainer = PredictorTrainer(options, data, out_dir=None, resume_dir=tmp_path)
    sequences = torch.from_numpy(np.stack(data.sequences))

    def loss():
        with torch.no_grad():
            predicted = trainer.network.eval()(sequences, options.context)
            return float(pixel_loss(predicted, sequences[:, 1:], "bce"))
    before = loss()
    for _ in range(options.steps):
        trainer.train_step()
    assert loss() < 0.9 * before


def test_resume_ends_where_an_uninterrupted_run_does_and_the_model_reloads(tmp_path):
    torch.set_num_threads(1)
    options = PredictorOptions(**{**TINY, "steps": 5})
    data = MovingDigits(options.data_options())
    (tmp_path / "whole").mkdir()
    whole = PredictorTrainer(options, data, out_dir=tmp_path / "whole", resume_dir=tmp_path / "r1")
    metrics = whole.run()
    assert set(metrics["validation"]) == {"bce", "psnr", "copy_last_bce", "copy_last_psnr"}

    class Killed(Exception):
        pass

    def kill_at_three(step, _row):
        if step == 3:
            raise Killed  # after the save at step 2
    with pytest.raises(Killed):
        PredictorTrainer(options, data, out_dir=None, resume_dir=tmp_path / "r2", on_step=kill_at_three).run()
    assert torch.load(tmp_path / "r2" / RESUME_FILE, weights_only=True)["step"] == 2
    (tmp_path / "resumed").mkdir()
    resumed = PredictorTrainer(options, data, out_dir=tmp_path / "resumed", resume_dir=tmp_path / "r2")
    assert resumed.run()["resumed_from"] == 2
    assert (tmp_path / "whole" / MODEL_FILE).read_bytes() == (tmp_path / "resumed" / MODEL_FILE).read_bytes()

    network, about = load_predictor(tmp_path / "whole" / MODEL_FILE)
    assert about["head"] == "dynamic" and about["channels"] == 1 and about["height"] == 32
    sequences = np.stack(data.validation)
    np.testing.assert_array_equal(predict_future(network, sequences, 3),
                                  predict_future(whole.network, sequences, 3))
    # streaming one frame at a time predicts what the batched run does
    streamed = predict_sequence(network, sequences[0], 3, 4)
    np.testing.assert_allclose(streamed[2:], predict_future(network, sequences[:1], 3)[0], atol=1e-6)


# --- commands ---

@pytest.mark.slow
def test_train_predictor_then_predict_through_the_commands(tmp_path):
    work = tmp_path / "work"
    trained = vidcli("train", "predictor", "--data", "moving-digits", "--steps", "2", "--batch-size", "1",
                     "--set", "train_predictor.width=4", "--set", "train_predictor.hidden=4",
                     "--set", "train_predictor.future=2", "--set", "train_predictor.validation_sequences=1",
                     "-o", str(tmp_path / "out"), workspace=work, check=True)
    assert "ran" in trained.stdout
    checkpoint = next((tmp_path / "out").glob("moving-digits-*/train_predictor")) / MODEL_FILE

    clip = tmp_path / "digits.mp4"
    with VideoWriter(clip, 10.0, (64, 64)) as writer:
        for frame in moving_digits(9, 0, length=8)[:, 0]:
            writer.write(np.repeat((frame[..., None] * 255).astype(np.uint8), 3, axis=2))
    out = tmp_path / "next.mp4"
    result = vidcli("predict", str(clip), "--checkpoint", str(checkpoint), "--frames", "4", "--start", "6",
                    "-o", str(out), workspace=work, check=True)
    assert out.is_file() and "wrote" in result.stdout
    artifact = next(work.glob("digits-*/predict/*"))
    index = json.loads((artifact / PREDICTION_INDEX).read_text())
    assert index["frames"] == [6, 7, 8, 9] and index["with_truth"] == [6, 7]
    assert np.load(artifact / PREDICTION_FRAMES)["frames"].shape == (4, 64, 64, 1)
    teacher = vidcli("predict", str(clip), "--checkpoint", str(checkpoint), "--teacher-forcing",
                     workspace=work, check=True)
    assert "ran" in teacher.stdout


def test_predict_refuses_a_missing_checkpoint_or_output_before_running(tmp_path):
    from vidcli.cli import main

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not read: the plan stops first")
    work = ["--workspace", str(tmp_path / "work"), "predict", str(clip)]
    missing = CliRunner().invoke(main, [*work, "--checkpoint", str(tmp_path / "none.safetensors")])
    assert missing.exit_code == 3 and "checkpoint not found" in missing.output
    assert CliRunner().invoke(main, work).exit_code == 2
    (tmp_path / "model.safetensors").write_bytes(b"")
    wrong = CliRunner().invoke(main, [*work, "--checkpoint", str(tmp_path / "model.safetensors"), "-o",
                                      str(tmp_path / "x.gif")])
    assert wrong.exit_code == 2 and "must be an .mp4" in wrong.output


@pytest.mark.slow
def test_train_predictor_under_torchrun_matches_one_process_with_both_batches(tmp_path, monkeypatch):
    """`torchrun --nproc_per_node 2 -m vidcli train predictor` on CPU (gloo): process 0 writes the artifact,
    process 1 trains on its own sequences; 2 processes x 1 sequence train the model that 1 process x 2 does
    (the same items, gradients averaged), up to the order of float sums."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tiny = ["--data", "moving-digits", "--steps", "3", "--lr", "1e-3", "--device", "cpu", "--set",
            "train_predictor.width=4", "--set", "train_predictor.hidden=4", "--set", "train_predictor.size=32",
            "--set", "train_predictor.future=2", "--set", "train_predictor.validation_sequences=1"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(port), "-m", "vidcli", "--workspace", str(tmp_path / "two"), "train", "predictor", *tiny,
               "--batch-size", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    artifacts = list((tmp_path / "two").glob(f"*/train_predictor/*/{MODEL_FILE}"))
    assert len(artifacts) == 1 and not list((tmp_path / "two").glob("*/train_predictor/.resume-*"))
    assert json.loads((artifacts[0].parent / "metrics.json").read_text())["steps"] == 3
    vidcli("train", "predictor", *tiny, "--batch-size", "2", workspace=tmp_path / "one", check=True)
    single = next((tmp_path / "one").glob(f"*/train_predictor/*/{MODEL_FILE}"))
    shared, _ = load_predictor(artifacts[0])
    alone, _ = load_predictor(single)
    torch.manual_seed(0)  # the initial weights, as the trainer draws them
    initial = build_predictor(PredictorOptions(width=4, hidden=4), 1).state_dict()
    moved = 0
    for (name, a), b in zip(shared.state_dict().items(), alone.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)
        moved += int((a - initial[name]).abs().max() > 1e-3)
    assert moved > len(initial) // 2  # and they did train
