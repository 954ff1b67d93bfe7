"""Train raft_small from scratch on generated FlyingChairs-style pairs and score it on held-out pairs.

Held out: generated pairs of another seed (never trained on) and the FlyingChairs pairs in
../shared/data/flow/chairs (skipped when absent). Prints the learning curve (training loss and EPE,
held-out EPE at a few steps) and the final held-out EPE against zero flow and OpenCV DIS (medium) on the
same pairs (RAFT evaluated with 12 iterations). Example (about 15 minutes on 2 busy CPU cores):

    python benchmarks/train_flow.py --steps 240 --batch-size 2 --iterations 8 --scale -0.2 0.2 --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcli.io.flow import flow_metrics
from vidcli.training.flow_data import chairs
from vidcli.training.flow_pairs import PairOptions, write_pairs
from vidcli.training.raft_recipe import Trainer, TrainOptions, predict

SHARED_CHAIRS = Path(__file__).resolve().parents[2] / "shared" / "data" / "flow" / "chairs"


def score(estimator, samples) -> dict:
    fields = []
    for sample in samples:
        image1, image2, flow, valid = sample.read()
        fields.append((estimator(image1, image2), flow, valid))
    return flow_metrics(fields)


def dis_medium(image1, image2):
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in (image1, image2)]
    return dis.calc(grey[0], grey[1], None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--train-pairs", type=int, default=400)
    parser.add_argument("--heldout-pairs", type=int, default=16)
    parser.add_argument("--size", type=int, nargs=2, default=(192, 160), metavar=("W", "H"))
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--iterations", type=int, default=12, help="refinement iterations while training")
    parser.add_argument("--scale", type=float, nargs=2, default=(-0.1, 1.0), metavar=("MIN", "MAX"),
                        help="log2 range of the random rescale (RAFT's chairs stage: -0.1 1.0)")
    parser.add_argument("--evaluate-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 is faster on a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.monotonic()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        options = PairOptions(width=args.size[0], height=args.size[1])
        write_pairs(scratch / "train", args.train_pairs, args.seed, options)
        write_pairs(scratch / "heldout", args.heldout_pairs, args.seed + 1000, options)
        print(f"generated {args.train_pairs} + {args.heldout_pairs} pairs at {args.size[0]}x{args.size[1]} "
              f"in {time.monotonic() - started:.0f} s")
        held = {"generated": chairs(scratch / "heldout")}
        if SHARED_CHAIRS.is_dir():
            held["chairs"] = chairs(SHARED_CHAIRS)

        recipe = TrainOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr, crop_height=args.crop,
                              crop_width=args.crop, iterations=args.iterations, min_scale=args.scale[0],
                              max_scale=args.scale[1], validation_pairs=0, seed=args.seed, log_every=10,
                              save_every=args.steps)
        trainer = Trainer(recipe, chairs(scratch / "train"), sparse=False, out_dir=None,
                          resume_dir=scratch / "resume")

        def raft(image1, image2):
            with torch.inference_mode():
                return predict(trainer.network.eval(), image1, image2, trainer.device)

        curve = []

        def evaluate(step):
            row = {"step": step, **{name: score(raft, samples)["epe"] for name, samples in held.items()}}
            curve.append(row)
            print(f"  step {step:4d}  held-out EPE " + "  ".join(f"{n} {row[n]:.3f}" for n in held)
                  + f"   ({time.monotonic() - started:.0f} s)", flush=True)

        def on_step(step, row):
            if row is not None and row["step"] == step:
                print(f"  step {step:4d}  train loss {row['loss']:.3f}  EPE {row['epe']:.3f}  "
                      f"lr {row['lr']:.2e}", flush=True)
            if step % args.evaluate_every == 0 and step < args.steps:
                evaluate(step)

        evaluate(0)
        train_start = time.monotonic()
        trainer.on_step = on_step
        trainer.run()
        train_seconds = time.monotonic() - train_start
        evaluate(args.steps)

        print(f"\ntrained {args.steps} steps x {args.batch_size} pairs ({args.crop}x{args.crop} crops, "
              f"{recipe.iterations} iterations) in {train_seconds:.0f} s "
              f"({train_seconds / args.steps:.2f} s/step, {args.threads} thread(s))")
        print(f"{'held-out set':<12} {'pairs':>5} {'zero EPE':>9} {'DIS EPE':>8} {'RAFT EPE':>9} "
              f"{'RAFT/zero':>9} {'RAFT 3px':>9} {'DIS 3px':>8}")
        for name, samples in held.items():
            zero = score(lambda a, b: np.zeros((*a.shape[:2], 2), np.float32), samples)
            dis, raft_scores = score(dis_medium, samples), score(raft, samples)
            print(f"{name:<12} {len(samples):>5} {zero['epe']:>9.3f} {dis['epe']:>8.3f} "
                  f"{raft_scores['epe']:>9.3f} "
                  f"{raft_scores['epe'] / zero['epe']:>9.2f} {raft_scores['3px']:>9.1%} {dis['3px']:>8.1%}")
        print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
