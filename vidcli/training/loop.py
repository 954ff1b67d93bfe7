"""The resumable training loop every `vidcli train` recipe runs: seeded steps, a log averaged over
`log_every` steps, resumable state every `save_every` steps, and the model, log and metrics written at the
end. A recipe subclasses `TrainingLoop` with its network, optimizer, schedule, step and validation; it
draws every random choice from (seed, step), so a run resumed from a save ends exactly where an
uninterrupted one does.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np

MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
LOG_FILE = "log.csv"
RESUME_FILE = "state.pt"


def save_safetensors(network, path: Path, about: dict) -> None:
    """The network's weights with `about` as one metadata entry: safetensors writes several entries in a
    random order, so equal models make equal files only with one."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(path), metadata={"vidcli": json.dumps(about, sort_keys=True)})


def read_safetensors(path: Path) -> tuple[dict, dict]:
    """(about, state dict) of a file written by `save_safetensors`."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        about = json.loads((f.metadata() or {}).get("vidcli", "{}"))
        return about, {k: f.get_tensor(k) for k in f.keys()}


def follow_with(bar, describe):
    """An `on_step` that moves a progress bar to each step (a resumed run starts at its last save) and shows
    `describe(row)` at the steps that log a row."""
    shown = [0]

    def on_step(step: int, row: dict | None) -> None:
        bar.advance(step - shown[0])
        shown[0] = step
        if row is not None and row["step"] == step:
            bar.describe(describe(row))
    return on_step


def autocast_dtype(device):
    """The reduced precision a step may run in on `device`: float16 (with gradient scaling) on CUDA;
    bfloat16 on CPUs whose instructions compute it natively (AVX512-BF16, AMX), where it saves time; None
    (float32) on other CPUs, where bfloat16 is emulated and saves nothing."""
    import torch

    if device.type == "cuda":
        return torch.float16
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(
        torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return torch.bfloat16 if device.type == "cpu" and native else None


class TrainingLoop:
    """One training run: `run()` trains from the last save in `resume_dir` (or the start) to `steps`.

    A subclass sets `network` (the module whose state is saved), `model` (what a step calls: the network
    or its DistributedDataParallel wrapper), `optimizer` and `scheduler`, and defines `train_step()` (one
    optimizer step, returning the `METRICS` of its batch), `validate()` and `write_model(path)`.
    """

    METRICS: tuple[str, ...] = ("loss",)

    def __init__(self, options, out_dir: Path | None, resume_dir: Path, device: str = "cpu", on_step=None,
                 mixed_precision: bool = False):
        import torch

        self.options, self.out_dir, self.resume_dir, self.on_step = options, out_dir, resume_dir, on_step
        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        self.device = torch.device(device)
        self.autocast_dtype = autocast_dtype(self.device) if mixed_precision else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)
        self.step, self.rows = 0, []

    def wrap(self, network):
        """`network` on the device, and what a step calls: itself, or under torchrun its DDP wrapper."""
        import torch

        self.network = network.to(self.device)
        self.model = network
        if self.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                network, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    @property
    def log_columns(self) -> tuple[str, ...]:
        return ("step", *self.METRICS, "lr", "seconds")

    # --- to define ----------------------------------------------------------------------------------------
    def train_step(self) -> dict:
        raise NotImplementedError

    def validate(self) -> dict:
        """What the final metrics add after training (held-out scores)."""
        raise NotImplementedError

    def write_model(self, path: Path) -> None:
        raise NotImplementedError

    # --- state --------------------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"step": self.step, "model": self.network.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "log": self.rows}

    def save_resume_state(self) -> None:
        import torch

        if self.rank != 0:
            return
        self.resume_dir.mkdir(parents=True, exist_ok=True)
        partial = self.resume_dir / f".{RESUME_FILE}.{os.getpid()}"
        torch.save(self._state(), partial)
        os.replace(partial, self.resume_dir / RESUME_FILE)

    def load_resume_state(self) -> bool:
        import torch

        path = self.resume_dir / RESUME_FILE
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.network.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.rows = state["step"], [dict(row) for row in state["log"]]
        return True

    # --- the loop -----------------------------------------------------------------------------------------
    def run(self) -> dict:
        """Train to the last step, saving resumable state every `save_every` steps; write the model, the CSV
        log and the metrics into `out_dir` (process 0). Returns the final metrics."""
        resumed_from = self.step if self.load_resume_state() else None
        started = time.monotonic() - (self.rows[-1]["seconds"] if self.rows else 0.0)
        tensorboard = self._tensorboard()
        window: list[dict] = []
        while self.step < self.options.steps:
            window.append(self.train_step())
            if self.step % self.options.log_every == 0 or self.step == self.options.steps:
                row = {"step": self.step, **{k: float(np.mean([w[k] for w in window])) for k in self.METRICS},
                       "lr": self.scheduler.get_last_lr()[0], "seconds": round(time.monotonic() - started, 3)}
                self.rows.append(row)
                window = []
                if tensorboard is not None:
                    for name in (*self.METRICS, "lr"):
                        tensorboard.add_scalar(f"train/{name}", row[name], self.step)
            if self.step % self.options.save_every == 0 and self.step < self.options.steps:
                self.save_resume_state()
            if self.on_step is not None:
                self.on_step(self.step, self.rows[-1] if self.rows else None)
        metrics = {"steps": self.step, "resumed_from": resumed_from,
                   "train": self.rows[-1] if self.rows else None, **self.validate()}
        if self.rank == 0 and self.out_dir is not None:
            self.write_model(self.out_dir / MODEL_FILE)
            with open(self.out_dir / LOG_FILE, "w", newline="") as f:
                writer = csv.DictWriter(f, self.log_columns)
                writer.writeheader()
                writer.writerows(self.rows)
            (self.out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
        if tensorboard is not None:
            tensorboard.close()
        return metrics

    def _tensorboard(self):
        if self.rank != 0 or self.out_dir is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.out_dir / "tensorboard"))
