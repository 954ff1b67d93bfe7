"""Train raft_small from scratch on generated FlyingChairs-style pairs and score it on held-out pairs.

Three sets of generated pairs come from three seeds: training, tuning (the set settings are chosen on) and
held-out (never trained on nor used for choices); the FlyingChairs pairs in ../shared/data/flow/chairs are
held out too (skipped when absent). Photos for the training textures are frames of the shared videos
(../shared/data/videos, ../shared/data/inpaint; none when absent). A fourth held-out set, **photos**, stands
for the chairs without touching them: FlyingChairs-like pairs (flow_pairs.CHAIRS: chair-like objects over
a moving photo, at 512x384) whose photos are scikit-image's bundled ones (astronaut, coffee, rocket,
hubble_deep_field, ...: dark skies, shadows, flat walls), which training never sees (skipped without
scikit-image). Prints the learning curve (training loss and EPE, held-out EPE every --evaluate-every
steps) and the final EPE against zero flow and OpenCV DIS (medium) on the same pairs, overall and by true
motion length (RAFT with the first --test-iterations: 6, the training count, chosen on the tuning set; and
averaged with --test-mirrored passes on mirrored pairs, flow.mirrored_passes), then RAFT with the other
iteration counts and on resized images.

The training budget is 20 minutes on 2 CPU cores: counted in CPU seconds of the training processes
(time.process_time() of each, every thread; at most 2400), with the wall seconds and the load average
printed beside, because the wall clock on a shared machine says little. Scoring is left out of both: the
curve's held-out EPE is scored after training, on the models saved every --evaluate-every steps. Two
processes of one thread (--processes 2 --threads 1, under DistributedDataParallel, each process half of
each batch) keep both cores busy where one process of two threads leaves the second half idle; with them
the run fits the 20 minutes of wall time too. Example (run 16 of docs/training.md, the recommended recipe
on a CPU with native bfloat16: batches of 2 pairs, 1600 steps on shapes pairs in 128x128 crops, then 2450
on chair-like pairs at 384x288 in 256x192 crops from that model; in one process of two threads, run 14:
--processes 1 --threads 2 --batch-size 2; in float32 and batch 4, run 9: --processes 1 --threads 2
--float32 --batch-size 4 --steps 1800 --first-steps 800):

    python benchmarks/train_flow.py --processes 2 --threads 1 --batch-size 1 --steps 4050 \
        --first-objects shapes --first-steps 1600 --first-train-size 192 160 --first-crop 128 128 \
        --train-size 384 288 --crop 256 192 --fast-share 0.05 --evaluate-every 800 --flat-share 0.25 \
        --dark-share 0.25 --photos-per-video 100 --photo-share 1.0 --objects chairs --test-iterations 6 12 \
        --test-scales 0.75 0.5 --render renders/
"""

from __future__ import annotations

import os

# With two torch threads on a machine other processes share, OpenMP's default busy-waiting at each barrier
# burns a core while the other thread waits for one: 256x192 steps cost 11 CPU-s instead of 1.8
# (docs/training.md, run 9). Read when the OpenMP runtime loads, so set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from vidcli.io.flow import flow_metrics, flow_to_rgb  # noqa: E402
from vidcli.training.flow_data import Augmentation, chairs  # noqa: E402
from vidcli.training.flow_pairs import CHAIRS, STYLES, PairOptions, write_pairs  # noqa: E402
from vidcli.training.raft_recipe import (  # noqa: E402
    Trainer, TrainOptions, build_network, load_flow_checkpoint, predict)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_CHAIRS = SHARED / "flow" / "chairs"
SHARED_VIDEOS = (SHARED / "videos" / "hiphop_clip1.mp4",
                 SHARED / "inpaint" / "schoolgirls" / "schoolgirls_orig.mp4")
LENGTHS = ((0, 10), (10, 40), (40, np.inf))  # Sintel's s0-10, s10-40, s40+


def video_frames(paths, per_video: int) -> list[np.ndarray]:
    """`per_video` RGB frames spread over each video that exists."""
    frames = []
    for path in paths:
        capture = cv2.VideoCapture(str(path))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in np.linspace(0, max(count - 1, 0), per_video).astype(int) if count > 0 else ():
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = capture.read()
            if ok:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        capture.release()
    return frames


PROXY_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
                "retina",
                "camera", "moon", "grass", "gravel", "brick", "coins", "cell")


def proxy_photos() -> list[np.ndarray]:
    """scikit-image's bundled photos as RGB (none without scikit-image)."""
    try:
        import skimage.data
    except ImportError:
        return []
    photos = [getattr(skimage.data, name)() for name in PROXY_PHOTOS]
    return [np.repeat(photo[..., None], 3, axis=2) if photo.ndim == 2 else photo[..., :3] for photo in photos]


def score(estimator, samples) -> dict:
    """flow_metrics over the pairs, plus the EPE of the pixels in each range of true motion length."""
    fields = []
    for sample in samples:
        image1, image2, flow, valid = sample.read()
        fields.append((estimator(image1, image2), flow, valid))
    result = flow_metrics(fields)
    for low, high in LENGTHS:
        ranged = []
        for estimate, flow, valid in fields:
            length = np.linalg.norm(flow, axis=-1)
            ranged.append((estimate, flow, valid & (length >= low) & (length < high)))
        pixels = sum(int(mask.sum()) for _, _, mask in ranged)
        result[f"s{low}-{high}"] = flow_metrics(ranged)["epe"] if pixels else float("nan")
    return result


def crop_motion(samples, options: TrainOptions, seed: int) -> str:
    """Percentiles of the true motion length in the augmented training crops of the first 40 pairs: what
    training sees, to set against the FlyingChairs pairs' (docs/training.md, Displacements)."""
    augment = Augmentation((options.crop_height, options.crop_width), options.min_scale, options.max_scale)
    lengths = np.concatenate([
        np.linalg.norm(augment(sample.read(), np.random.default_rng([seed, index]))[2], axis=-1).ravel()
        for index, sample in enumerate(samples[:40])])
    median, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return (f"mean {lengths.mean():.2f} px, median {median:.2f}, 90th pct {p90:.1f}, 99th {p99:.1f}, "
            f"> 10 px {np.mean(lengths > 10):.1%}, > 40 px {np.mean(lengths > 40):.1%}")


def step_cost(trainer: Trainer, steps: int) -> tuple[float, float]:
    """CPU-s (the budget's unit) and wall s of a training step, over `steps` steps after two of warm-up."""
    for _ in range(2):
        trainer.train_step()
    cpu, wall = time.process_time(), time.monotonic()
    for _ in range(steps):
        trainer.train_step()
    return (time.process_time() - cpu) / steps, (time.monotonic() - wall) / steps


@dataclass(frozen=True)
class Stage:
    """One training stage (its own one-cycle schedule) as the processes that train it see it."""

    recipe: TrainOptions
    pairs: Path  # the training pairs' folder
    offset: int  # steps of the stages before, so that snapshots are named by the step of the whole run
    snapshots: Path  # model files step-NNNNN.safetensors, and each process's cpu-RANK report
    snapshot_every: int
    threads: int  # torch threads of each process
    time_steps: int = 0  # only time this many steps


def snapshot_path(folder: Path, step: int) -> Path:
    return folder / f"step-{step:05d}.safetensors"


def train_process(rank: int, world: int, port: int, stage: Stage) -> None:
    """Process `rank` of `world` training `stage` (under DistributedDataParallel when `world` > 1, each
    process its --batch-size pairs a step): process 0 prints the log and saves the model every
    `snapshot_every` steps and at the end; each writes its CPU-s and wall s (of the run, or of a step with
    `time_steps`) to cpu-RANK."""
    if world > 1:
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(stage.threads)
    started_cpu, started_wall = time.process_time(), time.monotonic()
    trainer = Trainer(stage.recipe, chairs(stage.pairs), sparse=False, out_dir=None,
                      resume_dir=stage.snapshots / f"resume-{stage.offset}")
    if stage.time_steps:
        cpu, wall = step_cost(trainer, stage.time_steps)
    else:
        def on_step(step, row):
            if rank != 0:
                return
            if row is not None and row["step"] == step:
                print(f"  step {stage.offset + step:5d}  train loss {row['loss']:.3f}  EPE {row['epe']:.3f}  "
                      f"lr {row['lr']:.2e}", flush=True)
            if (stage.offset + step) % stage.snapshot_every == 0 or step == stage.recipe.steps:
                trainer.write_model(snapshot_path(stage.snapshots, stage.offset + step))

        if rank == 0 and stage.offset == 0:
            trainer.write_model(snapshot_path(stage.snapshots, 0))
        trainer.on_step = on_step
        trainer.run()
        cpu, wall = time.process_time() - started_cpu, time.monotonic() - started_wall
    (stage.snapshots / f"cpu-{rank}").write_text(f"{cpu} {wall}")
    if world > 1:
        torch.distributed.destroy_process_group()


def train_stage(stage: Stage, processes: int) -> tuple[float, float]:
    """Train `stage` in `processes` processes (this one when 1): the CPU-s of all of them, and the wall s of
    the slowest."""
    if processes == 1:
        train_process(0, 1, 0, stage)
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        torch.multiprocessing.spawn(train_process, args=(processes, port, stage), nprocs=processes)
    reports = [(stage.snapshots / f"cpu-{rank}").read_text().split() for rank in range(processes)]
    return sum(float(cpu) for cpu, _ in reports), max(float(wall) for _, wall in reports)


def zero_flow(image1, image2):
    return np.zeros((*image1.shape[:2], 2), np.float32)


def dis_medium(image1, image2):
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in (image1, image2)]
    return dis.calc(grey[0], grey[1], None)


def render(path: Path, samples, estimators) -> None:
    """One row per pair: the first image, the true flow, then each estimator's flow, all coloured on the
    truth's largest motion, so that what a method misses or invents is seen at a glance."""
    rows = []
    for sample in samples:
        image1, image2, flow, _ = sample.read()
        largest = float(np.nanmax(np.linalg.norm(flow, axis=-1)))
        rows.append(np.hstack([image1, flow_to_rgb(flow, largest)]
                              + [flow_to_rgb(estimate(image1, image2), largest) for estimate in estimators]))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--train-pairs", type=int, default=1000)
    parser.add_argument("--heldout-pairs", type=int, default=16, help="pairs of the tuning and held-out sets")
    parser.add_argument("--size", type=int, nargs=2, default=(192, 160), metavar=("W", "H"),
                        help="size of the generated tuning, held-out (and by default training) pairs")
    parser.add_argument("--train-size", type=int, nargs=2, default=None, metavar=("W", "H"),
                        help="size of the generated training pairs (default: --size)")
    parser.add_argument("--crop", type=int, nargs=2, default=(128, 128), metavar=("W", "H"),
                        help="training crop (of the --objects stage in a curriculum)")
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--iterations", type=int, default=6, help="refinement iterations while training")
    parser.add_argument("--scale", type=float, nargs=2, default=(-0.1, 1.0), metavar=("MIN", "MAX"),
                        help="log2 range of the random rescale (RAFT's chairs stage: -0.1 1.0)")
    parser.add_argument("--photos-per-video", type=int, default=24,
                        help="frames of each shared video used as textures (0: generated textures only)")
    parser.add_argument("--photo-share", type=float, default=0.5,
                        help="probability of a photo texture per layer of the training pairs")
    parser.add_argument("--objects", choices=list(STYLES), default="shapes",
                        help="objects of the training pairs: shapes, or chair-like objects over a photo "
                             "as in FlyingChairs (flow_pairs.CHAIRS)")
    parser.add_argument("--first-objects", choices=list(STYLES), default=None,
                        help="curriculum: train the first --first-steps of the --steps on pairs of these "
                             "objects (their style's photo share, the same flat and dark shares), then the "
                             "rest on --objects' pairs from that model, each stage with its own one-cycle "
                             "schedule (RAFT's stages)")
    parser.add_argument("--first-steps", type=int, default=0)
    parser.add_argument("--first-train-size", type=int, nargs=2, default=None, metavar=("W", "H"),
                        help="size of the first stage's training pairs (default: --train-size)")
    parser.add_argument("--first-crop", type=int, nargs=2, default=None, metavar=("W", "H"),
                        help="the first stage's training crop (default: --crop)")
    parser.add_argument("--sets", nargs="+", choices=("tuning", "generated", "photos", "chairs"),
                        default=("tuning", "generated", "photos", "chairs"),
                        help="held-out sets scored (leave chairs out while choosing settings)")
    parser.add_argument("--flat-share", type=float, default=0.0,
                        help="probability of a textureless layer in the training pairs")
    parser.add_argument("--fast-share", type=float, default=0.0,
                        help="share of --objects' foreground objects moved by PairOptions.fast_shift (the "
                             "large-motion tail of FlyingChairs)")
    parser.add_argument("--dark-share", type=float, default=0.0,
                        help="probability of a darkened layer in the training pairs")
    parser.add_argument("--proxy-size", type=int, nargs=2, default=(512, 384), metavar=("W", "H"),
                        help="size of the photo proxy pairs (FlyingChairs' size by default)")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--gamma", type=float, default=0.8, help="sequence loss weight of earlier iterations")
    parser.add_argument("--test-iterations", type=int, nargs="+", default=(6, 12),
                        help="refinement iterations when scoring: the first for the curve and the table")
    parser.add_argument("--test-mirrored", type=int, default=3, choices=range(4),
                        help="also score RAFT averaged with this many mirrored passes (flow.mirrored_passes; "
                             "0: not scored)")
    parser.add_argument("--test-scales", type=float, nargs="*", default=(0.75, 0.5, 0.375),
                        help="image resize factors also scored at the end (flow brought back to full size)")
    parser.add_argument("--evaluate-every", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each training process")
    parser.add_argument("--processes", type=int, default=1,
                        help="training processes under DistributedDataParallel (gloo), each training "
                             "--batch-size pairs a step with --threads threads")
    parser.add_argument("--float32", action="store_true",
                        help="train in float32 where the recipe's mixed precision would run (bfloat16 on "
                             "CPUs with native bfloat16; runs 1-10 of docs/training.md had none)")
    parser.add_argument("--time-steps", type=int, default=0,
                        help="only time this many training steps of each stage (CPU-s and wall s a step)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", type=Path, default=None,
                        help="write DIR/SET.png for each held-out set: image | truth | RAFT | DIS, 3 pairs")
    parser.add_argument("--save", type=Path, default=None, metavar="DIR",
                        help="write the trained model to DIR/model.safetensors")
    args = parser.parse_args()
    for option, folder in (("--save", args.save), ("--render", args.render)):
        if folder is not None and folder.exists() and not folder.is_dir():
            parser.error(f"{option} {folder}: not a folder")
    torch.set_num_threads(args.threads * args.processes)  # scoring uses the cores training used
    started = time.monotonic()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        options = PairOptions(width=args.size[0], height=args.size[1])  # the tuning and held-out pairs'
        train_size = args.train_size or args.size
        photos = video_frames(SHARED_VIDEOS, args.photos_per_video) if args.photos_per_video else []
        write_pairs(scratch / "train", args.train_pairs, args.seed,
                    replace(STYLES[args.objects], width=train_size[0], height=train_size[1],
                            photo_share=args.photo_share, flat_share=args.flat_share,
                            dark_share=args.dark_share, fast_share=args.fast_share), photos)
        first_size = args.first_train_size or train_size
        if args.first_objects:
            write_pairs(scratch / "first", args.train_pairs, args.seed + 4000,
                        replace(STYLES[args.first_objects], width=first_size[0], height=first_size[1],
                                flat_share=args.flat_share, dark_share=args.dark_share), photos)
        write_pairs(scratch / "tuning", args.heldout_pairs, args.seed + 2000, options, photos)
        write_pairs(scratch / "heldout", args.heldout_pairs, args.seed + 1000, options, photos)
        print(f"generated {args.train_pairs} pairs at {train_size[0]}x{train_size[1]} "
              + (f"+ {args.train_pairs} at {first_size[0]}x{first_size[1]} " if args.first_objects else "")
              + f"+ 2 x {args.heldout_pairs} at {args.size[0]}x{args.size[1]} "
              f"({len(photos)} photos) in {time.monotonic() - started:.0f} s")
        held = {"tuning": chairs(scratch / "tuning"), "generated": chairs(scratch / "heldout")}
        real = proxy_photos() if "photos" in args.sets else []
        if real:
            write_pairs(scratch / "photos", args.heldout_pairs, args.seed + 3000,
                        replace(CHAIRS, width=args.proxy_size[0], height=args.proxy_size[1]),
                        real)
            held["photos"] = chairs(scratch / "photos")
        if SHARED_CHAIRS.is_dir() and "chairs" in args.sets:
            held["chairs"] = chairs(SHARED_CHAIRS)
        held = {name: samples for name, samples in held.items() if name in args.sets}

        first_steps = args.first_steps if args.first_objects else 0
        if not 0 <= first_steps < args.steps:
            parser.error("--first-steps must be below --steps")
        recipe = TrainOptions(steps=args.steps - first_steps, batch_size=args.batch_size, lr=args.lr,
                              crop_height=args.crop[1], crop_width=args.crop[0], iterations=args.iterations,
                              weight_decay=args.weight_decay, gamma=args.gamma, min_scale=args.scale[0],
                              max_scale=args.scale[1], validation_pairs=0, seed=args.seed, log_every=50,
                              save_every=args.steps, mixed_precision=not args.float32)
        snapshots = scratch / "snapshots"
        snapshots.mkdir()
        stage = Stage(recipe, scratch / "train", first_steps, snapshots, args.evaluate_every, args.threads)
        stages = [stage]
        if first_steps:
            first_crop = args.first_crop or args.crop
            first_recipe = replace(recipe, steps=first_steps, crop_width=first_crop[0],
                                   crop_height=first_crop[1])
            stages = [Stage(first_recipe, scratch / "first", 0, snapshots, args.evaluate_every, args.threads),
                      replace(stage, recipe=replace(recipe, init=str(snapshot_path(snapshots, first_steps))))]
            print(f"first stage's crops ({first_crop[0]}x{first_crop[1]}): "
                  + crop_motion(chairs(scratch / "first"), first_recipe, args.seed))
        print(f"training crops ({args.crop[0]}x{args.crop[1]}): "
              + crop_motion(chairs(scratch / "train"), recipe, args.seed), flush=True)
        if args.time_steps:
            for name, timed in zip(("first stage", "training")[-len(stages):], stages):
                untrained = replace(timed.recipe, init="")  # the first stage's model does not exist yet
                cpu, wall = train_stage(replace(timed, recipe=untrained, time_steps=args.time_steps),
                                        args.processes)
                print(f"{name}: {cpu:.2f} CPU-s, {wall:.2f} wall s a step ({args.processes} process(es)), "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
            return

        train_cpu, training_started = 0.0, time.monotonic()
        for index, current in enumerate(stages):
            cpu, _ = train_stage(current, args.processes)
            train_cpu += cpu
            if len(stages) > 1 and index == 0:
                print(f"first stage: {cpu:.0f} training CPU-s", flush=True)
        train_wall = time.monotonic() - training_started
        if args.save is not None:  # before the scoring, which takes minutes
            args.save.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(snapshot_path(snapshots, args.steps), args.save / "model.safetensors")

        network = build_network(recipe.architecture).eval()

        def load(step: int) -> None:
            network.load_state_dict(load_flow_checkpoint(snapshot_path(snapshots, step))[1])

        def raft_at(iterations, mirrored_passes=0):
            def raft(image1, image2):
                with torch.inference_mode():
                    return predict(network, image1, image2, "cpu", iterations, mirrored_passes)
            return raft

        raft = raft_at(args.test_iterations[0])

        def raft_scaled(factor):
            """RAFT on the images resized by `factor`, its flow brought back to full size: a network trained
            on small images knows the sizes of objects and motions of small images."""
            def estimate(image1, image2):
                height, width = image1.shape[:2]
                size = (round(width * factor / 8) * 8, round(height * factor / 8) * 8)
                small = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in (image1, image2)]
                flow = cv2.resize(raft(*small), (width, height), interpolation=cv2.INTER_LINEAR)
                return flow * [width / size[0], height / size[1]]
            return estimate

        print("learning curve (the saved models):")
        for step in sorted(int(path.stem.split("-")[1]) for path in snapshots.glob("step-*.safetensors")):
            load(step)
            print(f"  step {step:5d}  held-out EPE " + "  ".join(
                f"{name} {score(raft, samples)['epe']:.3f}" for name, samples in held.items()), flush=True)
        load(args.steps)

        print(f"\ntrained {args.steps} steps x {args.batch_size} pairs x {args.processes} process(es) "
              f"({args.crop[0]}x{args.crop[1]} crops, {recipe.iterations} iterations, {args.threads} "
              f"thread(s) each): {train_cpu:.0f} CPU-s ({train_cpu / args.steps:.2f} CPU-s/step), wall "
              f"{train_wall:.0f} s, load average {os.getloadavg()[0]:.1f} at the end")
        ranges = [f"s{low}-{high}" for low, high in LENGTHS]
        methods = [("zero", zero_flow), ("DIS", dis_medium), ("RAFT", raft)]
        if args.test_mirrored:
            mirrored = raft_at(args.test_iterations[0], args.test_mirrored)
            methods.append((f"RAFT {1 + args.test_mirrored}x", mirrored))
        print(f"{'set':<10} {'pairs':>5} {'method':<7} {'EPE':>7} {'/ zero':>7} {'<3 px':>6} "
              + " ".join(f"{r:>9}" for r in ranges))
        for name, samples in held.items():
            zero = score(zero_flow, samples)
            for method, estimator in methods:
                result = zero if method == "zero" else score(estimator, samples)
                print(f"{name:<10} {len(samples):>5} {method:<7} {result['epe']:>7.3f} "
                      f"{result['epe'] / zero['epe']:>7.2f} {result['3px']:>6.1%} "
                      + " ".join(f"{result[r]:>9.2f}" for r in ranges))
        for iterations in args.test_iterations[1:]:
            print(f"RAFT at {iterations} test iterations: " + "  ".join(
                f"{name} {score(raft_at(iterations), samples)['epe']:.3f}" for name, samples in held.items()))
        for factor in args.test_scales:
            print(f"RAFT on images resized by {factor} ({args.test_iterations[0]} iterations): " + "  ".join(
                f"{name} {score(raft_scaled(factor), samples)['epe']:.3f}" for name, samples in held.items()))
        if args.render is not None:
            for name, samples in held.items():
                render(args.render / f"{name}.png", samples[:3], (raft, dis_medium))
        print(f"total wall {time.monotonic() - started:.0f} s, "
              f"{time.process_time():.0f} CPU-s in this process")


if __name__ == "__main__":
    main()
