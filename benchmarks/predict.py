"""Next-frame prediction with Dynamic Filter Networks against copying the last frame and fixed filters.

`digits`: the paper's Moving MNIST protocol on generated moving digits (10 frames in, 10 predicted from the
model's own output, binary cross-entropy summed per sequence): a DFN and the same network with a fixed-filter
head (the frame itself as output; parameter counts printed) trained with the same steps, batch and seed, in
one run; scored on the tuning split (held-out sequences of the training stream, the `validation` of the
recipe) and on a held-out test split (another seed). Saves a strip of predicted frames as PNG.

`video`: a DFN trained on the clips of a folder (video files or frame folders), scored on other videos by
teacher-forced next-frame PSNR and SSIM (every frame from the true frames before it) against copying the last
frame, at the training height; the tuning split is the held-out tail of each training clip.

    python benchmarks/predict.py digits --steps 400 --threads 1 --strip docs/predict/digits.png
    python benchmarks/predict.py video --train DIR --test-videos hiphop_clip1.mp4 synth.mp4 --steps 300
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcli.evaluation.images import psnr, ssim
from vidcli.predict.data import Clips, MovingDigits, scale_frame
from vidcli.predict.digits import moving_digits
from vidcli.predict.network import HEADS, parameter_count
from vidcli.predict.recipe import (
    PredictorOptions, PredictorTrainer, build_predictor, predict_future, predict_sequence, sequence_bce,
)


def train(options: PredictorOptions, data) -> tuple[PredictorTrainer, dict]:
    """A trained network and what the training cost: wall seconds, CPU seconds of this process (every
    thread), the load average at the end."""
    with tempfile.TemporaryDirectory() as scratch:
        trainer = PredictorTrainer(options, data, out_dir=None, resume_dir=Path(scratch))
        started, cpu = time.monotonic(), time.process_time()
        metrics = trainer.run()
        cost = {"wall": time.monotonic() - started, "cpu": time.process_time() - cpu,
                "load": os.getloadavg()[0]}
    curve = " ".join(f"{row['step']}:{row['loss']:.4f}" for row in trainer.rows)
    print(f"  {options.head}: {options.steps} steps in {cost['wall']:.0f} s wall, {cost['cpu']:.0f} CPU-s "
          f"({options.steps / cost['cpu']:.2f} steps per CPU-s), load {cost['load']:.1f}; loss by step {curve}"
          f"\n  {options.head} validation: {metrics['validation']}", flush=True)
    return trainer, cost


def _train_in_process(options: PredictorOptions, threads: int):
    """`train` in a process of its own (the heads train side by side, one core each): the weights, the
    parameter count and the cost."""
    torch.set_num_threads(threads)
    trainer, cost = train(options, MovingDigits(options.data_options()))
    return trainer.network.state_dict(), parameter_count(trainer.network), cost


def digits(args) -> None:
    base = PredictorOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr, width=args.width,
                            hidden=args.hidden, inputs=args.inputs, filter_size=args.filter_size,
                            validation_sequences=args.tuning, seed=args.seed)
    data = MovingDigits(base.data_options())
    tuning = np.stack(data.validation)
    test = np.stack([moving_digits(args.seed + 1, i) for i in range(args.test)])
    print(f"training {', '.join(args.heads)} side by side, one process and {args.threads} torch thread(s) "
          f"each, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    heads = {}
    with ProcessPoolExecutor(len(args.heads), mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {head: pool.submit(_train_in_process, replace(base, head=head), args.threads)
                for head in args.heads}
        for head, job in jobs.items():
            state, count, cost = job.result()
            network = build_predictor(replace(base, head=head), data.channels)
            network.load_state_dict(state)
            heads[head] = (network, cost, count)
    context = base.context
    names = {"copy": "copy last", "fixed": "fixed filters", "dynamic": "DFN"}
    columns = ["copy", *args.heads]
    print(f"\nBCE per sequence (sum over {base.future} predicted 64x64 frames), {base.steps} steps x "
          f"{base.batch_size} sequences, {args.tuning} tuning / {args.test} test sequences")
    ratios = ["DFN / copy", "DFN / fixed"] if set(args.heads) == set(HEADS) else []
    print("| split | " + " | ".join(names[c] for c in columns) + " | " + "".join(f"{r} | " for r in ratios)
          + " | ".join(f"PSNR {names[c]}" for c in columns) + " |")
    print("|" + " --- |" * (1 + 2 * len(columns) + len(ratios)))
    predictions = {}
    splits = ((f"tuning (seed {args.seed})", tuning), (f"test (seed {args.seed + 1})", test))
    for split, sequences in splits:
        truth = sequences[:, context:]
        estimates = {"copy": np.repeat(sequences[:, context - 1:context], truth.shape[1], axis=1)}
        for head, (network, _, _) in heads.items():
            estimates[head] = predictions[head] = predict_future(network, sequences, context)
        bce = {name: sequence_bce(estimate, truth) for name, estimate in estimates.items()}
        frame_psnr = {name: np.mean([psnr(e, t) for e, t in zip(estimate.reshape(-1, 64, 64),
                                                                truth.reshape(-1, 64, 64))])
                      for name, estimate in estimates.items()}
        cells = [f"{bce[c]:.1f}" for c in columns]
        if ratios:
            cells += [f"{bce['dynamic'] / bce['copy']:.3f}", f"{bce['dynamic'] / bce['fixed']:.3f}"]
        cells += [f"{frame_psnr[c]:.2f}" for c in columns]
        print(f"| {split} | " + " | ".join(cells) + " |")
    print("\n| network | parameters | training CPU-s | training wall s | load average at the end | "
          "steps per CPU-s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for head, (_, cost, count) in heads.items():
        print(f"| {names[head]} | {count:,} | {cost['cpu']:.0f} | {cost['wall']:.0f} | {cost['load']:.1f} | "
              f"{base.steps / cost['cpu']:.2f} |")
    if args.strip:
        rows = []
        for k in range(args.strip_sequences):  # truth, then each network (inputs left, predictions right)
            blank = np.zeros_like(test[k, :context])
            rows += [test[k], *(np.concatenate([blank, predictions[head][k]]) for head in args.heads)]
        strip = np.vstack([np.hstack([np.pad(f[0], 1, constant_values=0.5) for f in row]) for row in rows])
        args.strip.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.strip), (strip * 255).round().astype(np.uint8))
        print(f"\nstrip: {args.strip} (per test sequence: truth, {', '.join(names[h] for h in args.heads)}; "
              "frames 0-9 seen, 10-19 predicted)")


def read_video(path: Path, height: int) -> np.ndarray:
    """(T, 3, height, W) float frames in [0, 1]."""
    from vidcli.io.video import iter_frames

    frames = np.stack([scale_frame(frame.rgb, height, True) for frame in iter_frames(path)])
    return frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def video(args) -> None:
    options = PredictorOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr, width=args.width,
                               hidden=args.hidden, inputs=args.inputs, filter_size=args.filter_size,
                               colour=True, loss=args.loss, height=args.height,
                               size=args.crop, seed=args.seed, validation_sequences=args.tuning)
    data = Clips(args.train, options.data_options())
    print(f"training clips: {data.names} ({sum(len(f) for f in data.train)} frames at height {args.height})")
    trainer, cost = train(options, data)
    network = trainer.network
    print("\nteacher-forced next-frame prediction, frames after the first 10, colour at height "
          f"{args.height}")
    print("| video | frames | copy-last PSNR | DFN PSNR | copy-last SSIM | DFN SSIM |")
    print("| --- | --- | --- | --- | --- | --- |")
    tuning = np.stack(data.validation)
    split = {"tuning (held-out clip tails)": [s for s in tuning]}
    split.update({p.name: [read_video(p, args.height)] for p in args.test_videos})
    for name, clips in split.items():
        scores = {"copy": ([], []), "dfn": ([], [])}
        for frames in clips:
            predicted = predict_sequence(network, frames, len(frames), len(frames) - 1)
            for t in range(options.context, len(frames)):
                truth = frames[t].transpose(1, 2, 0)
                for method, estimate in (("copy", frames[t - 1]), ("dfn", predicted[t - 1])):
                    scores[method][0].append(psnr(estimate.transpose(1, 2, 0), truth))
                    scores[method][1].append(ssim(estimate.transpose(1, 2, 0), truth))
        count = len(scores["copy"][0])
        print(f"| {name} | {count} | {np.mean(scores['copy'][0]):.2f} | {np.mean(scores['dfn'][0]):.2f} | "
              f"{np.mean(scores['copy'][1]):.4f} | {np.mean(scores['dfn'][1]):.4f} |")
    print(f"\n{parameter_count(network):,} parameters; training {cost['cpu']:.0f} CPU-s, {cost['wall']:.0f} s "
          f"wall, load average {cost['load']:.1f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("digits", "video"))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--inputs", type=int, default=2, help="frames the network sees per step")
    parser.add_argument("--filter-size", type=int, default=9)
    parser.add_argument("--heads", nargs="+", choices=HEADS, default=list(HEADS),
                        help="digits: the networks to train (side by side, one process each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tuning", type=int, default=64, help="tuning-split sequences")
    parser.add_argument("--test", type=int, default=256, help="digits: test sequences")
    parser.add_argument("--strip", type=Path, default=None, help="digits: PNG of predicted frames")
    parser.add_argument("--strip-sequences", type=int, default=2)
    parser.add_argument("--train", type=Path, help="video: folder of training clips")
    parser.add_argument("--test-videos", type=Path, nargs="*", default=[])
    parser.add_argument("--height", type=int, default=96, help="video: frames scaled to this height")
    parser.add_argument("--crop", type=int, default=64, help="video: training crop side")
    parser.add_argument("--loss", default="bce", choices=("bce", "l1"), help="video: training loss")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is faster on a busy machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.part == "digits":
        digits(args)
    else:
        if args.train is None or not args.test_videos:
            parser.error("video needs --train DIR and --test-videos VIDEO ...")
        video(args)


if __name__ == "__main__":
    main()
