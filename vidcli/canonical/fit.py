"""Fitting CoDeF's fields to one video: random pixel batches over all frames, CoDeF's reconstruction loss plus
its flow-consistency term (a pixel and where the optical flow carries it in the next frame must deform to
the same canonical point), annealed deformation levels, Adam with step decay; the schedule is in steps,
so a longer fit is a shorter one continued (more iterations only add steps at the end). Resumable and
seeded: the batch of step s depends only on (seed, s), so a resumed fit ends exactly where an
uninterrupted one does."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidcli.canonical.model import CoDeF, FieldSizes, annealed_level_weights

LAYERS = 2  # with masks: the background and the masked foreground

RESUME_FILE = "fit.pt"
ADAM_BETAS, ADAM_EPS = (0.9, 0.99), 1e-15  # instant-ngp's, for hash tables whose entries see rare gradients


@dataclass(frozen=True)
class FitOptions:
    iterations: int
    batch: int
    lr: float
    lr_halving_steps: int  # the learning rate is halved every this many steps
    flow_weight: float
    anneal_begin: int  # steps before the deformation's finer levels start to come in
    anneal_length: int  # steps over which they come in
    seed: int
    save_every: int
    compile: bool  # hash-grid lookups through torch.compile (needs a C++ compiler)


def pixel_points(height: int, width: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """CoDeF coordinates (row, column) of pixel centres."""
    return torch.stack([(rows + 0.5) / height, (cols + 0.5) / width], dim=-1)


class Fitter:
    """Fits `CoDeF` to `video` ([T, H, W, 3] floats in [0, 1]) with forward `flows` ([T-1, H, W, 2] in
    pixels, (dx, dy)) or None. With a `layer_map` (CoDeF's multi-layer variant: 0 = background, 1 = a
    masked foreground such as a person) each layer has its own deformation and canonical image, and a
    pixel is fitted, flow term included, by the layer its mask puts it in."""

    def __init__(
        self,
        video: torch.Tensor,
        flows: torch.Tensor | None,
        sizes: FieldSizes,
        options: FitOptions,
        device: str,
        resume_dir: Path | None = None,
        layer_map: torch.Tensor | None = None,
    ):
        torch.manual_seed(options.seed)
        self.video, self.flows, self.options, self.device = video, flows, options, device
        self.frames, self.height, self.width = video.shape[:3]
        self.layer_map = layer_map  # [T, H, W] layer of every pixel (CoDeF's masks), None: one layer
        self.model = CoDeF(sizes, layers=1 if layer_map is None else LAYERS).to(device)
        if options.compile:
            self.model.compile_encoders()
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=options.lr, betas=ADAM_BETAS, eps=ADAM_EPS, fused=True
        )
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, options.lr_halving_steps, gamma=0.5)
        self.resume_dir = resume_dir
        self.step = 0
        self.curve: list[tuple[int, float, float]] = []  # (step, loss, batch PSNR)

    def level_weights(self) -> torch.Tensor:
        o = self.options
        return annealed_level_weights(self.step, self.model.sizes.levels, o.anneal_begin, o.anneal_length).to(
            self.device
        )

    def train_step(self) -> float:
        o = self.options
        generator = torch.Generator().manual_seed(o.seed * 1_000_003 + self.step)
        t = torch.randint(0, self.frames, (o.batch,), generator=generator)
        rows = torch.randint(0, self.height, (o.batch,), generator=generator)
        cols = torch.randint(0, self.width, (o.batch,), generator=generator)
        target = self.video[t, rows, cols].to(self.device)
        points = pixel_points(self.height, self.width, rows.float(), cols.float()).to(self.device)
        times = (t.float() / self.frames).to(self.device)
        weights = self.level_weights()
        layer = torch.zeros_like(t) if self.layer_map is None else self.layer_map[t, rows, cols]
        squared_error, flow_term = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
        for i in range(self.model.layers):
            mine = layer == i
            if bool(mine.any()):
                here = mine.to(self.device)
                rgb, deformed = self.model(points[here], times[here], weights, layer=i)
                squared_error = squared_error + torch.sum((rgb - target[here]) ** 2)
                share = float(mine.float().mean())  # the layers' flow terms add up to a mean over the batch
                flow = self._flow_term(t[mine], rows[mine], cols[mine], deformed, weights, i)
                flow_term = flow_term + share * flow
        mse = squared_error / target.numel()
        loss = mse + flow_term
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        psnr = float(-10 * torch.log10(mse.detach().clamp_min(1e-10)))
        self.curve.append((self.step, float(loss.detach()), psnr))
        return psnr

    def _flow_term(self, t, rows, cols, deformed, weights, layer: int) -> torch.Tensor:
        """L1 between the canonical points of a pixel and of where the flow carries it in frame t + 1."""
        if self.flows is None or self.options.flow_weight == 0:
            return torch.zeros((), device=self.device)
        has_next = t < self.frames - 1
        t, rows, cols = t[has_next], rows[has_next], cols[has_next]
        flow = self.flows[t, rows, cols].float()
        next_rows, next_cols = rows + flow[:, 1], cols + flow[:, 0]
        inside = (
            (next_rows > -0.5)
            & (next_rows < self.height - 0.5)
            & (next_cols > -0.5)
            & (next_cols < self.width - 0.5)
        )
        if not bool(inside.any()):
            return torch.zeros((), device=self.device)
        points = pixel_points(self.height, self.width, next_rows[inside], next_cols[inside]).to(self.device)
        times = ((t[inside] + 1).float() / self.frames).to(self.device)
        carried = self.model.deform(points, times, weights, layer)
        here = deformed[has_next.to(self.device)][inside.to(self.device)]
        return self.options.flow_weight * torch.nn.functional.l1_loss(carried, here)

    def run(self, on_step: Callable[[int], None] | None = None) -> int | None:
        """Fit to the last iteration, saving resumable state every `save_every` steps; returns the step it
        resumed from (None: from the start)."""
        resumed_from = self.step if self.load_resume_state() else None
        while self.step < self.options.iterations:
            self.train_step()
            if on_step:
                on_step(self.step)
            if (
                self.resume_dir
                and self.step % self.options.save_every == 0
                and self.step < self.options.iterations
            ):
                self.save_resume_state()
        return resumed_from

    def save_resume_state(self) -> None:
        self.resume_dir.mkdir(parents=True, exist_ok=True)
        partial = self.resume_dir / f".{RESUME_FILE}.{os.getpid()}"
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "step": self.step,
                "curve": self.curve,
            },
            partial,
        )
        os.replace(partial, self.resume_dir / RESUME_FILE)

    def load_resume_state(self) -> bool:
        path = self.resume_dir / RESUME_FILE if self.resume_dir else None
        if path is None or not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.curve = state["step"], [tuple(row) for row in state["curve"]]
        return True


@torch.no_grad()
def reconstruct(
    model: CoDeF,
    frames: int,
    height: int,
    width: int,
    level_weights: torch.Tensor,
    device: str,
    layer_map: torch.Tensor | None = None,
    chunk: int = 65536,
):
    """Every frame's reconstruction ([T, H, W, 3] floats) and its canonical coordinates ([T, H, W, 2], in
    the canonical image of the pixel's layer in `layer_map`)."""
    rows, cols = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    points = pixel_points(height, width, rows.reshape(-1), cols.reshape(-1)).to(device)
    images = np.empty((frames, height * width, 3), np.float32)
    deformations = np.empty((frames, height * width, 2), np.float32)
    for t in range(frames):
        layer = torch.zeros(len(points), dtype=torch.long) if layer_map is None else layer_map[t].reshape(-1)
        for i in range(model.layers):
            index = torch.nonzero(layer == i)[:, 0]
            for start in range(0, len(index), chunk):
                part = index[start : start + chunk]
                time = torch.full((len(part),), t / frames, device=device)
                colour, where = model(points[part.to(device)], time, level_weights, layer=i)
                images[t, part.numpy()] = colour.clamp(0, 1).cpu().numpy()
                deformations[t, part.numpy()] = where.cpu().numpy()
    return images.reshape(frames, height, width, 3), deformations.reshape(frames, height, width, 2)


@torch.no_grad()
def render_canonical(
    model: CoDeF,
    bounds: tuple[float, float, float, float],
    size: tuple[int, int],
    device: str,
    layer: int = 0,
    chunk: int = 65536,
) -> np.ndarray:
    """The canonical image ([h, w, 3] floats) of a layer over canonical coordinates `bounds` (row0, row1,
    col0, col1), pixel centres as in `canonical_pixel`."""
    width, height = size
    row0, row1, col0, col1 = bounds
    rows = row0 + (torch.arange(height).float() + 0.5) / height * (row1 - row0)
    cols = col0 + (torch.arange(width).float() + 0.5) / width * (col1 - col0)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1).reshape(-1, 2).to(device)
    out = torch.cat([model.canonical(grid[s : s + chunk], layer) for s in range(0, len(grid), chunk)])
    return out.clamp(0, 1).reshape(height, width, 3).cpu().numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else -10 * np.log10(mse)
