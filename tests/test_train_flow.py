"""Flow training: data readers, generated pairs, RAFT's sequence loss, training, resume after a kill,
trained checkpoints in the flow stage, and `vidcli eval flow`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import vidcli

from vidcli.commands.evaluate import eval_command
from vidcli.engine import RunOptions, run
from vidcli.engine.keys import sha256_of
from vidcli.engine.pipeline import load_pipeline
from vidcli.engine.stage import planned_config
from vidcli.engine.store import Workspace
from vidcli.errors import InputError
from vidcli.io.flow import FlowArtifact, read_flo, read_kitti_flow, write_flo, write_kitti_flow
from vidcli.io.video import VideoWriter
from vidcli.stages import camera as camera_stage
from vidcli.stages import flow as flow_stage
from vidcli.training import flow_data
from vidcli.training.flow_pairs import (CHAIRS, LayerMotion, PairOptions, flat_texture, generate_pair,
                                        smooth_texture, write_pairs)
from vidcli.training.raft_recipe import (
    MODEL_FILE, RESUME_FILE, Trainer, TrainOptions, build_network, load_flow_checkpoint, predict, save_model,
    sequence_loss,
)

TINY = dict(architecture="raft_small", batch_size=1, crop_height=128, crop_width=128, iterations=2,
            validation_pairs=1, save_every=2, log_every=1, lr=1e-3)


def random_flow(height=20, width=30, seed=0):
    return np.random.default_rng(seed).uniform(-40, 40, (height, width, 2)).astype(np.float32)


def write_rgb(path, image):
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def images(seed=0, height=20, width=30):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2)]


# --- files ---

def test_flo_round_trip_keeps_unknown_vectors(tmp_path):
    flow = random_flow()
    flow[3, 4] = np.nan
    write_flo(tmp_path / "a.flo", flow)
    back = read_flo(tmp_path / "a.flo")
    assert np.array_equal(back, flow, equal_nan=True) and back.dtype == np.float32


def test_kitti_png_round_trip(tmp_path):
    flow = np.round(random_flow() * 64) / 64  # KITTI stores 1/64 px steps
    valid = np.random.default_rng(1).random(flow.shape[:2]) > 0.3
    write_kitti_flow(tmp_path / "f.png", flow, valid)
    back, back_valid = read_kitti_flow(tmp_path / "f.png")
    assert np.array_equal(back_valid, valid)
    assert np.array_equal(back, flow)


# --- readers ---

def test_chairs_reader_both_namings(tmp_path):
    first, second = images()
    flow = random_flow()
    for stem, (f, a, b) in (("0000000", ("-gt.flo", "-img0.png", "-img1.png")),
                            ("00001", ("_flow.flo", "_img1.ppm", "_img2.ppm"))):
        write_flo(tmp_path / f"{stem}{f}", flow)
        write_rgb(tmp_path / f"{stem}{a}", first)
        write_rgb(tmp_path / f"{stem}{b}", second)
    kind, samples = flow_data.open_dataset(tmp_path)
    assert kind == "chairs" and sorted(s.name for s in samples) == ["0000000", "00001"]
    image1, image2, read_back, valid = samples[0].read()
    assert np.array_equal(image1, first) and np.array_equal(image2, second)
    assert np.array_equal(read_back, flow) and valid.all()


def test_sintel_reader(tmp_path):
    root = tmp_path / "training"
    frames = [images(seed)[0] for seed in range(3)]
    for scene in ("alley_1",):
        (root / "clean" / scene).mkdir(parents=True)
        (root / "flow" / scene).mkdir(parents=True)
        for i, frame in enumerate(frames, start=1):
            write_rgb(root / "clean" / scene / f"frame_{i:04d}.png", frame)
        for i in (1, 2):
            write_flo(root / "flow" / scene / f"frame_{i:04d}.flo", random_flow(seed=i))
    kind, samples = flow_data.open_dataset(tmp_path)
    assert kind == "sintel" and [s.name for s in samples] == ["alley_1/0001", "alley_1/0002"]
    image1, image2, flow, valid = samples[1].read()
    assert np.array_equal(image1, frames[1]) and np.array_equal(image2, frames[2])
    assert np.array_equal(flow, random_flow(seed=2)) and valid.all()
    with pytest.raises(InputError, match="no sintel flow pairs"):
        flow_data.open_dataset(tmp_path, "sintel", image_pass="final")


def test_kitti_reader_and_sparse_augmentation(tmp_path):
    root = tmp_path / "training"
    (root / "image_2").mkdir(parents=True)
    (root / "flow_occ").mkdir()
    first, second = images(height=140, width=150)
    write_rgb(root / "image_2" / "000000_10.png", first)
    write_rgb(root / "image_2" / "000000_11.png", second)
    flow = np.round(random_flow(140, 150) * 64) / 64
    valid = np.random.default_rng(2).random((140, 150)) > 0.5
    write_kitti_flow(root / "flow_occ" / "000000_10.png", flow, valid)
    kind, samples = flow_data.open_dataset(tmp_path)
    assert kind == "kitti" and [s.name for s in samples] == ["000000"]
    image1, _, read_back, read_valid = samples[0].read()
    assert np.array_equal(image1, first) and np.array_equal(read_valid, valid)
    assert np.array_equal(read_back[valid], flow[valid]) and not read_back[~valid].any()
    augment = flow_data.Augmentation((128, 128), sparse=True)
    crop1, crop2, crop_flow, crop_valid = augment(samples[0].read(), np.random.default_rng(0))
    assert crop1.shape == crop2.shape == (128, 128, 3) and crop_flow.shape == (128, 128, 2)
    assert 0.05 < crop_valid.mean() < 0.7 and not crop_flow[~crop_valid].any()


def test_synth_render_reader(tmp_path):
    frames = [np.full((32, 48, 3), 40 * i, np.uint8) for i in range(3)]
    with VideoWriter(tmp_path / "walk.mp4", 10.0, (48, 32)) as writer:
        for frame in frames:
            writer.write(frame)
    flow_dir = tmp_path / "walk.mp4.gt" / flow_data.SYNTH_FLOW_DIR
    flow_dir.mkdir(parents=True)
    flow = random_flow(32, 48)
    flow[0, :5] = np.nan  # occluded
    write_flo(flow_dir / "000001_000002.flo", flow)
    kind, samples = flow_data.open_dataset(tmp_path)
    assert kind == "synth" and [s.name for s in samples] == ["walk.mp4/1"]
    image1, image2, read_back, valid = samples[0].read()
    assert image1.shape == (32, 48, 3) and abs(int(image2.mean()) - 80) <= 3
    assert not valid[0, :5].any() and valid.sum() == 32 * 48 - 5
    assert np.array_equal(read_back[valid], flow[valid]) and not read_back[~valid].any()


def test_dense_augmentation_scales_flow_with_the_image():
    image = np.random.default_rng(0).integers(0, 256, (160, 200, 3), dtype=np.uint8)
    flow = np.broadcast_to(np.array([4.0, -2.0], np.float32), (160, 200, 2)).copy()
    augment = flow_data.Augmentation((128, 128), min_scale=1.0, max_scale=1.0, spatial_prob=1.0,
                                     stretch_prob=0.0, flip=False)
    sample = (image, image, flow, np.ones((160, 200), bool))
    _, _, crop_flow, valid = augment(sample, np.random.default_rng(0))
    assert valid.all() and np.allclose(crop_flow, [8.0, -4.0], atol=1e-4)


# --- generated pairs ---

def test_generated_pairs_carry_their_exact_flow():
    image1, image2, flow = generate_pair(np.random.default_rng(5), PairOptions(width=192, height=160))
    again = generate_pair(np.random.default_rng(5), PairOptions(width=192, height=160))
    assert all(np.array_equal(a, b) for a, b in zip((image1, image2, flow), again))
    height, width = flow.shape[:2]
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(image2, x + flow[..., 0], y + flow[..., 1], cv2.INTER_LINEAR)
    inside = (x + flow[..., 0] > 1) & (x + flow[..., 0] < width - 2) & (y + flow[..., 1] > 1) \
        & (y + flow[..., 1] < height - 2)
    error = np.abs(warped.astype(np.float64) - image1).mean(axis=-1)[inside]
    assert np.median(error) < 4.0  # pixels hidden in the second image (or on edges) do not match
    assert np.abs(flow).max() > 3.0  # things do move


def test_generated_motion_lengths_span_still_to_fast():
    """As in FlyingChairs and real footage, many pixels barely move and a few move tens of pixels."""
    lengths = np.concatenate([
        np.linalg.norm(generate_pair(np.random.default_rng([7, i]), PairOptions(width=192, height=160))[2],
                       axis=-1).ravel() for i in range(8)])
    assert np.percentile(lengths, 10) < 1.0 and np.median(lengths) < 4.0 and np.percentile(lengths, 99) > 12.0


def test_flat_and_dark_layers_are_textureless_and_dim():
    """Flat textures vary by a few grey levels (smooth ones by tens), dark layers dim the images, and the
    flow stays exact."""
    rng = np.random.default_rng(3)
    assert max(flat_texture(rng, 64, 64).std(axis=(0, 1)).max() for _ in range(8)) < 6.0
    assert min(smooth_texture(rng, 64, 64).std(axis=(0, 1)).max() for _ in range(8)) > 15.0

    def pair(**shares):
        return generate_pair(np.random.default_rng(3), PairOptions(width=128, height=96, **shares))

    plain, dark = pair(), pair(dark_share=1.0)
    assert dark[0].mean() < 0.5 * plain[0].mean()
    assert np.array_equal(pair(flat_share=0.0, dark_share=0.0)[0], plain[0])  # a share of 0 draws nothing
    for image1, image2, flow in (pair(flat_share=1.0), dark):
        height, width = flow.shape[:2]
        x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        warped = cv2.remap(image2, x + flow[..., 0], y + flow[..., 1], cv2.INTER_LINEAR)
        assert np.median(np.abs(warped.astype(np.float64) - image1)) < 2.0


def assert_second_image_warps_onto_first(image1, image2, flow):
    """The flow is exact: the second image sampled where the flow points is the first (where inside)."""
    height, width = flow.shape[:2]
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(image2, x + flow[..., 0], y + flow[..., 1], cv2.INTER_LINEAR)
    inside = ((x + flow[..., 0] > 1) & (x + flow[..., 0] < width - 2) & (y + flow[..., 1] > 1)
              & (y + flow[..., 1] < height - 2))
    assert np.median(np.abs(warped.astype(np.float64) - image1).mean(axis=-1)[inside]) < 3.0


def test_chairs_mode_puts_thin_holed_objects_over_a_moving_photo():
    """CHAIRS: the background is the photo (no generated texture), objects are chair-like (thin legs, gaps:
    a layer covers much less than its bounding box) and the flow stays exact."""
    photo = smooth_texture(np.random.default_rng(1), 300, 400)
    options = replace(CHAIRS, width=160, height=128, shapes=(1, 1))
    image1, image2, flow = generate_pair(np.random.default_rng(4), options, [photo])
    lengths = np.linalg.norm(flow, axis=-1)
    # The object is the region moving unlike the background (whose motion is nearly uniform).
    background = np.median(flow.reshape(-1, 2), axis=0)
    chair = np.linalg.norm(flow - background, axis=-1) > 0.5
    ys, xs = np.nonzero(chair)
    box = (np.ptp(ys) + 1) * (np.ptp(xs) + 1)
    assert 0.05 < chair.sum() / box < 0.8 and lengths.max() > 1.0
    assert_second_image_warps_onto_first(image1, image2, flow)
    with_generated = generate_pair(np.random.default_rng(4), options, [])[0]
    assert not np.array_equal(with_generated, image1)  # the background came from the photo


def test_fast_objects_carry_flyingchairs_large_motion_tail():
    """fast_share moves objects by fast_shift (15-40% of the width): pixels moving over a fifth of the width
    appear where there were none, and the flow stays exact."""
    options = replace(CHAIRS, width=160, height=128, photo_share=0.0, shapes=(2, 2))

    def far_share(fast_share):
        pairs = [generate_pair(np.random.default_rng([5, i]), replace(options, fast_share=fast_share))
                 for i in range(4)]
        return np.mean([(np.linalg.norm(flow, axis=-1) > 32).mean() for _, _, flow in pairs]), pairs[0]

    plain, _ = far_share(0.0)
    fast, fast_pair = far_share(1.0)
    assert plain == 0.0 and fast > 0.02
    image1, image2, flow = fast_pair
    assert_second_image_warps_onto_first(image1, image2, flow)


def test_synth_flow_command_writes_chairs_pairs(tmp_path):
    out = tmp_path / "pairs"
    assert vidcli("synth-flow", str(out), "--pairs", "2", "--size", "96x64").returncode == 0
    kind, samples = flow_data.open_dataset(out)
    assert kind == "chairs" and len(samples) == 2 and samples[1].read()[2].shape == (64, 96, 2)
    chairs_like = tmp_path / "chairs_like"
    made = vidcli("synth-flow", str(chairs_like), "--pairs", "1", "--size", "96x64", "--objects", "chairs")
    assert made.returncode == 0
    assert not np.array_equal(flow_data.chairs(chairs_like)[0].read()[0], samples[0].read()[0])
    again = vidcli("synth-flow", str(out), "--pairs", "2")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = vidcli("synth-flow", str(tmp_path / "other"), "--size", "10x10")
    assert bad.returncode == 2 and not (tmp_path / "other").exists()


# --- the recipe ---

def test_sequence_loss_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 3, (1, 2, 2, 3))
    truth[0, :, 1, 2] = [500.0, 0.0]  # longer than max_flow: left out
    valid = np.array([[[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]])  # (0, 1, 0) invalid
    predictions = [rng.normal(0, 3, (1, 2, 2, 3)) for _ in range(3)]
    loss, metrics = sequence_loss([torch.tensor(p) for p in predictions], torch.tensor(truth),
                                  torch.tensor(valid), gamma=0.8, max_flow=400.0)
    used = [(0, 0), (0, 1), (0, 2), (1, 1)]
    expected = 0.0
    for i, prediction in enumerate(predictions):
        weight = 0.8 ** (3 - i - 1)
        total = sum(abs(prediction[0, c, y, x] - truth[0, c, y, x]) for y, x in used for c in range(2))
        expected += weight * total / (2 * 2 * 3)  # RAFT's mean runs over every pixel and both channels
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    errors = [np.hypot(*(predictions[-1][0, :, y, x] - truth[0, :, y, x])) for y, x in used]
    assert metrics["epe"] == pytest.approx(np.mean(errors), rel=1e-6)
    assert metrics["3px"] == pytest.approx(np.mean(np.array(errors) < 3))


@pytest.fixture(scope="module")
def tiny_pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    # a few pixels, learnt in 12 steps
    moving = LayerMotion(shift=(0.01, 0.03), max_rotation=2.0, max_zoom=0.03)
    options = PairOptions(width=136, height=136, background=moving, foreground=moving)
    write_pairs(folder, 5, seed=3, options=options)
    return folder


@pytest.mark.parametrize("mixed_precision", [False, True])  # True: bfloat16 where the CPU computes it
def test_a_few_steps_lower_the_loss(tiny_pairs, tmp_path, mixed_precision):
    torch.set_num_threads(1)
    options = TrainOptions(**{**TINY, "steps": 12, "validation_pairs": 0, "flip": False, "min_scale": 0.0,
                              "max_scale": 0.0, "mixed_precision": mixed_precision})
    samples = flow_data.chairs(tiny_pairs)[:1]
    trainer = Trainer(options, samples, sparse=False, out_dir=None, resume_dir=tmp_path / "resume")
    image1, image2, flow, valid = trainer._batch(0)

    def loss():
        with torch.no_grad():
            predictions = trainer.network.eval()(image1 / 127.5 - 1, image2 / 127.5 - 1, num_flow_updates=2)
            return float(sequence_loss(predictions, flow, valid)[0])
    before = loss()
    for _ in range(options.steps):
        trainer.train_step()
    assert loss() < 0.8 * before


def test_resume_after_a_kill_ends_where_an_uninterrupted_run_does(tiny_pairs, tmp_path):
    torch.set_num_threads(1)
    options = TrainOptions(**{**TINY, "steps": 5})
    samples = flow_data.chairs(tiny_pairs)

    whole = Trainer(options, samples, sparse=False, out_dir=tmp_path / "whole", resume_dir=tmp_path / "r1")
    (tmp_path / "whole").mkdir()
    whole.run()

    class Killed(Exception):
        pass

    def kill_at_three(step, _row):
        if step == 3:
            raise Killed  # after the save at step 2: step 3 is lost, as with a kill
    first = Trainer(options, samples, sparse=False, out_dir=None, resume_dir=tmp_path / "r2",
                    on_step=kill_at_three)
    with pytest.raises(Killed):
        first.run()
    assert torch.load(tmp_path / "r2" / RESUME_FILE, weights_only=True)["step"] == 2
    (tmp_path / "resumed").mkdir()
    resumed = Trainer(options, samples, sparse=False, out_dir=tmp_path / "resumed",
                      resume_dir=tmp_path / "r2")
    metrics = resumed.run()
    assert metrics["resumed_from"] == 2 and metrics["steps"] == 5
    for name, tensor in whole.network.state_dict().items():
        assert torch.equal(tensor, resumed.network.state_dict()[name]), name
    assert (tmp_path / "whole" / MODEL_FILE).read_bytes() == (tmp_path / "resumed" / MODEL_FILE).read_bytes()
    logs = [(tmp_path / d / "log.csv").read_text().splitlines() for d in ("whole", "resumed")]
    assert [line.rsplit(",", 1)[0] for line in logs[0]] == [line.rsplit(",", 1)[0] for line in logs[1]]


def test_checkpoint_saves_and_reloads_bit_exactly(tmp_path):
    torch.manual_seed(0)
    from torchvision.models.optical_flow import raft_small

    network = raft_small()
    save_model(network, tmp_path / MODEL_FILE, TrainOptions(), step=7)
    architecture, state = load_flow_checkpoint(tmp_path / MODEL_FILE)
    assert architecture == "raft_small" and state.keys() == network.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in network.state_dict().items())
    torch.save(network.state_dict(), tmp_path / "torchvision.pth")
    assert load_flow_checkpoint(tmp_path / "torchvision.pth")[0] == "raft_small"


@pytest.mark.parametrize("mirrored_passes, flips", [(1, [(1,)]), (3, [(1,), (0,), (0, 1)])])
def test_mirrored_passes_make_the_flow_mirror_equivariant(mirrored_passes, flips):
    """Averaged with its mirrored passes, RAFT's flow of a mirrored pair is the mirrored flow of the pair
    (a plain pass is not: the network is not built symmetric)."""
    torch.manual_seed(0)
    network = build_network("raft_small").eval()
    image1, image2 = images(seed=1, height=128, width=136)
    with torch.inference_mode():
        for axes in flips:
            sign = np.array([-1.0 if 1 in axes else 1.0, -1.0 if 0 in axes else 1.0], np.float32)
            flows = [predict(network, np.flip(image1, axes), np.flip(image2, axes), "cpu", 2, passes)
                     for passes in (0, mirrored_passes)]
            mirrored = [np.flip(predict(network, image1, image2, "cpu", 2, passes), axes) * sign
                        for passes in (0, mirrored_passes)]
            assert np.abs(flows[0] - mirrored[0]).max() > 1e-3
            np.testing.assert_allclose(flows[1], mirrored[1], atol=1e-5, rtol=1e-5)


# --- the stage, the commands and use by the flow stage ---

@pytest.mark.slow
def test_train_command_resumes_after_sigkill(tiny_pairs, tmp_path, monkeypatch):
    """A `vidcli train flow` process killed with SIGKILL after a save resumes and writes the same model."""
    args = ["train", "flow", str(tiny_pairs), "--steps", "8", "--batch-size", "1", "--crop", "128", "128",
            "--set", "train_flow.iterations=2", "--set", "train_flow.save_every=2", "--device", "cpu"]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    whole = vidcli(*args, workspace=tmp_path / "a")
    assert whole.returncode == 0, whole.stderr
    command = [sys.executable, "-m", "vidcli", "--workspace", str(tmp_path / "b"), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((tmp_path / "b").glob(f"*/train_flow/.resume-*/{RESUME_FILE}")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = vidcli(*args, workspace=tmp_path / "b")
    assert resumed.returncode == 0, resumed.stderr
    models = [next((tmp_path / w).glob(f"*/train_flow/*/{MODEL_FILE}")) for w in "ab"]
    metrics = json.loads((models[1].parent / "metrics.json").read_text())
    assert metrics["resumed_from"] is not None and metrics["resumed_from"] >= 2
    assert models[0].read_bytes() == models[1].read_bytes()
    assert not list((tmp_path / "b").glob("*/train_flow/.resume-*"))


def test_train_stage_artifact_and_trained_checkpoint_in_the_flow_stage(tiny_pairs, tmp_path):
    torch.set_num_threads(1)
    pipeline = load_pipeline("train_flow", {"train_flow": {**TINY, "steps": 2, "device": "cpu"}})
    report = run(pipeline, [{"dataset": tiny_pairs}], Workspace(tmp_path / "work"), RunOptions())
    assert report.exit_code == 0
    artifact = next(iter(report.finished.values()))["train_flow"]
    assert {p.name for p in artifact.iterdir()} >= {MODEL_FILE, "metrics.json", "log.csv", "manifest.json"}
    metrics = json.loads((artifact / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["validation_pairs"] == 1 and metrics["validation"]["epe"] > 0
    assert (artifact / "log.csv").read_text().splitlines()[0] == "step,loss,epe,1px,3px,5px,lr,seconds"
    again = run(pipeline, [{"dataset": tiny_pairs}], Workspace(tmp_path / "work"), RunOptions())
    assert [o.status for o in again.outcomes] == ["up to date"]

    model = artifact / MODEL_FILE
    config = planned_config(flow_stage, {"backend": "raft", "checkpoint": str(model), "device": "cpu"})
    assert config.checkpoint_sha256 == sha256_of(model)
    camera = planned_config(camera_stage, {"flow": "auto", "checkpoint": str(model), "device": "cpu"})
    assert (camera.flow, camera.checkpoint_sha256) == ("raft", sha256_of(model))
    from vidcli.io.frames import write_frames

    frames = write_frames(tmp_path / "frames", [cv2.imread(str(tiny_pairs / f"0000000-img{i}.png"))[..., ::-1]
                                                for i in (0, 1)], fps=10.0)
    from vidcli.engine.stage import Artifact

    (tmp_path / "flow").mkdir()
    info = flow_stage.run(config, {"frames": Artifact(frames)}, tmp_path / "flow")
    assert info.backend == "raft" and info.model.startswith("raft_small:")
    assert info.checksum == sha256_of(model)
    estimate = FlowArtifact(tmp_path / "flow").read(0, 1)
    assert estimate.shape == (136, 136, 2) and np.isfinite(estimate).all() and np.abs(estimate).max() > 0

    from vidcli.backends.raft import RaftFlow

    network = build_network("raft_small").eval()
    network.load_state_dict(load_flow_checkpoint(model)[1])
    pair = [cv2.imread(str(tiny_pairs / f"0000000-img{i}.png"))[..., ::-1] for i in (0, 1)]
    mirrored = RaftFlow(replace(config, mirrored_passes=1))
    with torch.inference_mode():
        expected = predict(network, *pair, "cpu", 12, mirrored_passes=1)
    assert np.array_equal(mirrored.flow(*(mirrored.prepare(image) for image in pair)), expected)


def test_flow_command_refuses_a_missing_checkpoint_and_raft_settings_with_dis(clip, tmp_path):
    missing = vidcli("flow", str(clip), "--set", "flow.backend=raft", "--set",
                     f"flow.checkpoint={tmp_path / 'nope.safetensors'}", workspace=tmp_path / "w")
    assert missing.returncode == 3 and "checkpoint not found" in missing.stderr
    (tmp_path / "x.safetensors").write_bytes(b"x")
    dis = vidcli("flow", str(clip), "--set", "flow.backend=dis", "--set",
                 f"flow.checkpoint={tmp_path / 'x.safetensors'}", workspace=tmp_path / "w")
    assert dis.returncode == 2 and "read by the raft flow backend" in dis.stderr
    mirrored = vidcli("flow", str(clip), "--set", "flow.backend=dis", "--set", "flow.mirrored_passes=1",
                      workspace=tmp_path / "w")
    assert mirrored.returncode == 2 and "mirrored_passes is read by the raft flow backend" in mirrored.stderr


def test_eval_flow_command(tmp_path):
    truth, predicted = tmp_path / "gt", tmp_path / "pred"
    truth.mkdir()
    predicted.mkdir()
    flow = random_flow()
    write_flo(truth / "0000000-gt.flo", flow)
    write_rgb(truth / "0000000-img0.png", images()[0])
    write_flo(predicted / "0000000.flo", flow + np.array([3.0, 4.0], np.float32))  # 5 px off everywhere
    result = CliRunner().invoke(eval_command, ["flow", str(predicted), str(truth)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pred.eval.json").read_text())
    assert report["pairs"] == 1 and report["epe"] == pytest.approx(5.0, abs=1e-5)
    assert report["3px"] == 0.0 and report["fl_all"] == pytest.approx(np.mean(5.0 > 0.05 * np.hypot(*flow.T)))
    empty = CliRunner().invoke(eval_command, ["flow", str(tmp_path), str(truth)])
    assert isinstance(empty.exception, InputError)


# Float sums in another order differ by ~1e-7; bfloat16 would round the two batches differently.
FLOAT32 = {**TINY, "mixed_precision": False}


def _gradients(trainer) -> dict:
    return {name: p.grad.clone() for name, p in trainer.network.named_parameters() if p.grad is not None}


def _ddp_process(rank, world, port, folder, out_dir):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trainer = Trainer(TrainOptions(**FLOAT32), flow_data.chairs(folder), sparse=False, out_dir=None,
                      resume_dir=out_dir / "resume")
    trainer.train_step()
    torch.save(_gradients(trainer), out_dir / f"gradients{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_under_ddp_train_as_one_with_their_batches_joined(tiny_pairs, tmp_path):
    """DistributedDataParallel on gloo: 2 processes x 1 pair make the (clipped) gradients of 1 process x 2
    pairs (the same items, averaged), up to the order of float sums, and agree with each other."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_process, args=(2, port, tiny_pairs, tmp_path), nprocs=2)
    torch.set_num_threads(1)
    single = Trainer(TrainOptions(**{**FLOAT32, "batch_size": 2}), flow_data.chairs(tiny_pairs), sparse=False,
                     out_dir=None, resume_dir=tmp_path / "r")
    single.train_step()
    expected = _gradients(single)
    shares = [torch.load(tmp_path / f"gradients{r}.pt", weights_only=True) for r in (0, 1)]
    assert shares[0].keys() == shares[1].keys() == expected.keys()
    for name, gradient in expected.items():
        assert torch.equal(shares[0][name], shares[1][name]), name
        assert torch.allclose(shares[0][name], gradient, rtol=1e-3, atol=1e-6), name


@pytest.mark.slow
def test_train_command_under_torchrun(tiny_pairs, tmp_path, monkeypatch):
    """`torchrun --nproc_per_node 2 -m vidcli train flow`: process 0 writes the artifact, process 1 trains its
    share without writing."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(port), "-m", "vidcli", "--workspace", str(tmp_path / "w"), "train",
               "flow", str(tiny_pairs), "--steps", "2", "--batch-size", "1", "--crop", "128", "128",
               "--set", "train_flow.iterations=2", "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    artifacts = list((tmp_path / "w").glob(f"*/train_flow/*/{MODEL_FILE}"))
    assert len(artifacts) == 1
    assert json.loads((artifacts[0].parent / "metrics.json").read_text())["steps"] == 2
    assert not list((tmp_path / "w").glob("*/train_flow/.resume-*"))


def test_synth_writes_exact_flow_that_the_reader_reads(tmp_path, anny_body):
    """`vidcli synth --flow`: following each pixel's flow into the next frame finds its colour again."""
    from vidcli.synth.generate import SynthOptions, Synthesis, synthesize

    options = SynthOptions(duration=0.3, fps=10, width=192, height=108, people=2, camera="handheld", seed=5,
                           flow=True)
    gt = synthesize(tmp_path / "clip.mp4", options)
    assert sorted(p.name for p in (gt / "flow").iterdir()) == ["000000_000001.flo", "000001_000002.flo"]
    kind, samples = flow_data.open_dataset(tmp_path)
    assert kind == "synth" and len(samples) == 2
    synthesis = Synthesis(options)
    first, second = synthesis.render(0), synthesis.render(1)
    flow = read_flo(gt / "flow" / "000000_000001.flo")
    valid = np.isfinite(flow).all(axis=-1)
    assert 0.7 < valid.mean() < 1.0 and valid[first.face >= 0].mean() > 0.9
    height, width = valid.shape
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    known = np.nan_to_num(flow)
    warped = cv2.remap(second.rgb, x + known[..., 0], y + known[..., 1], cv2.INTER_LINEAR)
    error = np.abs(warped.astype(np.float64) - first.rgb).mean(axis=-1)
    assert np.median(error[valid]) <= 2.0 and np.median(error[~valid]) > 3 * np.median(error[valid])


def test_workflow_inputs_of_a_folder_pipeline_are_folders(tmp_path):
    from vidcli.workflow import expand_inputs

    for name in ("a", "b"):
        (tmp_path / "sets" / name).mkdir(parents=True)
    (tmp_path / "sets" / "clip.mp4").write_bytes(b"")
    pipeline = load_pipeline("train_flow")
    assert expand_inputs(["sets/a"], pipeline, tmp_path, "w") == [{"dataset": tmp_path / "sets" / "a"}]
    assert expand_inputs(["sets/*"], pipeline, tmp_path, "w") == [{"dataset": tmp_path / "sets" / n}
                                                                  for n in ("a", "b")]
