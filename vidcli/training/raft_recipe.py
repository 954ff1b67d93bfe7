"""RAFT's training recipe on torchvision's raft_small / raft_large (Teed & Deng, core/train.py).

Sequence loss over the refinement iterations, AdamW with a linear one-cycle schedule, gradient
clipping, optional Gaussian image noise, frozen batch norm, mixed precision on CUDA and
DistributedDataParallel under torchrun. Every random choice is drawn from generators seeded by
(seed, step, item), so a run resumed from a saved step ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.settings import setting
from vidcli.training.loop import (  # noqa: F401 (MODEL_FILE, RESUME_FILE: this recipe's files)
    MODEL_FILE, RESUME_FILE, TrainingLoop, read_safetensors, save_safetensors,
)

ARCHITECTURES = ("raft_small", "raft_large")


@dataclass
class TrainOptions:
    """The recipe's values; the defaults are RAFT's FlyingChairs stage, except the step count."""

    architecture: str = setting("raft_small", "torchvision architecture trained", choices=ARCHITECTURES)
    init: str = setting("", "checkpoint to start from: a vidcli-trained model.safetensors or a torchvision "
                            "state dict of the same architecture; empty = from scratch", significant=False)
    init_sha256: str = setting("", "sha256 of `init`, filled in when the plan is made (it goes into the "
                                   "artifact key); leave empty")
    steps: int = setting(1000, "optimizer steps", bounds="[1, 10000000]")
    batch_size: int = setting(4, "pairs per step (per process under torchrun)", bounds="[1, 1024]")
    lr: float = setting(4e-4, "peak learning rate of the one-cycle schedule", bounds="(0, 1]")
    weight_decay: float = setting(1e-4, "AdamW weight decay", bounds="[0, 1]")
    epsilon: float = setting(1e-8, "AdamW epsilon", bounds="(0, 1]")
    pct_start: float = setting(0.05, "fraction of the steps the learning rate rises", bounds="(0, 1)")
    clip: float = setting(1.0, "gradient norm clipping", bounds="(0, 1e6]")
    gamma: float = setting(0.8, "weight decay of earlier iterations in the sequence loss", bounds="(0, 1]")
    max_flow: float = setting(400.0, "pixels whose true flow is longer are left out of the loss",
                              bounds="(0, 1e6]")
    iterations: int = setting(12, "refinement iterations while training", bounds="[1, 100]")
    noise: bool = setting(False, "add Gaussian noise (std uniform in [0, 5] grey levels) to the images")
    freeze_bn: bool = setting(False, "keep batch norm statistics fixed (RAFT: after the first stage)")
    crop_height: int = setting(368, "training crop height (RAFT's chairs stage: 368)", bounds="[128, 4096]")
    crop_width: int = setting(496, "training crop width", bounds="[128, 4096]")
    min_scale: float = setting(-0.1, "log2 of the smallest random rescale", bounds="[-4, 4]")
    max_scale: float = setting(1.0, "log2 of the largest random rescale", bounds="[-4, 4]")
    flip: bool = setting(True, "random horizontal (and, dense data, vertical) flips")
    validation_pairs: int = setting(8, "pairs held out of the data set for the validation EPE",
                                    bounds="[0, 100000]")
    seed: int = setting(0, "seed of the data order, augmentation, noise and initial weights",
                        bounds="[0, 4294967295]")
    mixed_precision: bool = setting(True, "autocast: float16 with gradient scaling on CUDA, bfloat16 on CPUs "
                                          "with native bfloat16 (AVX512-BF16, AMX), float32 on other CPUs")
    save_every: int = setting(50, "steps between resumable saves", significant=False, bounds="[1, 10000000]")
    log_every: int = setting(10, "steps between log lines and validations", significant=False,
                             bounds="[1, 10000000]")

    def check(self) -> None:
        from vidcli.errors import ConfigError

        if self.min_scale > self.max_scale:
            raise ConfigError("min_scale must not exceed max_scale")


def sequence_loss(predictions, flow, valid, gamma: float = 0.8, max_flow: float = 400.0):
    """(loss, metrics): sum over the N iterations of gamma^(N-i-1) times the mean L1 error over valid pixels
    whose true flow is shorter than max_flow (invalid pixels count as zeros in the mean, as in RAFT);
    metrics of the last prediction: EPE and the fractions within 1, 3 and 5 pixels."""
    import torch

    valid = (valid >= 0.5) & (flow.norm(dim=1) < max_flow)
    count = len(predictions)
    loss = sum(gamma ** (count - i - 1) * (valid[:, None] * (p - flow).abs()).mean()
               for i, p in enumerate(predictions))
    epe = (predictions[-1] - flow).norm(dim=1)[valid]
    if epe.numel() == 0:
        epe = torch.zeros(1, device=flow.device)
    metrics = {"epe": epe.mean().item(), **{f"{t}px": (epe < t).float().mean().item() for t in (1, 3, 5)}}
    return loss, metrics


def build_network(architecture: str):
    from torchvision.models import optical_flow

    return getattr(optical_flow, architecture)(weights=None, progress=False)


def load_flow_checkpoint(path: Path) -> tuple[str, dict]:
    """(architecture, state dict) of a checkpoint: a vidcli-trained model.safetensors (its metadata names
    the architecture) or a torchvision RAFT state dict (.pth, loaded with weights_only)."""
    import torch

    from vidcli.errors import InputError

    path = Path(path)
    if path.suffix == ".safetensors":
        about, state = read_safetensors(path)
        architecture = about.get("architecture", "")
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        stem = state.get("feature_encoder.convnormrelu.0.weight") if isinstance(state, dict) else None
        architecture = "" if stem is None else ("raft_large" if stem.shape[0] == 64 else "raft_small")
    if architecture not in ARCHITECTURES:
        raise InputError(f"{path}: not a RAFT checkpoint vidcli knows (architecture {architecture!r})")
    return architecture, state


def save_model(network, path: Path, options: TrainOptions, step: int) -> None:
    save_safetensors(network, path, {"architecture": options.architecture, "step": step})


def _normalise(images, noise_std=None, generator=None):
    """uint8-range NxCxHxW images to RAFT's [-1, 1], with RAFT's optional additive noise first."""
    import torch

    if noise_std is not None:
        images = images + noise_std * torch.randn(images.shape, generator=generator).to(images.device)
        images = images.clamp(0.0, 255.0)
    return images / 127.5 - 1.0


class Trainer(TrainingLoop):
    """RAFT's recipe in the shared training loop (`vidcli.training.loop`)."""

    METRICS = ("loss", "epe", "1px", "3px", "5px")

    def __init__(self, options: TrainOptions, samples, sparse: bool, out_dir: Path | None, resume_dir: Path,
                 device: str = "cpu", on_step=None):
        import torch

        from vidcli.training.flow_data import Augmentation

        super().__init__(options, out_dir, resume_dir, device, on_step, options.mixed_precision)
        held = min(options.validation_pairs, max(len(samples) - 1, 0))
        self.train_samples, self.validation_samples = samples[held:], samples[:held]
        self.augment = Augmentation((options.crop_height, options.crop_width), options.min_scale,
                                    options.max_scale, flip=options.flip, sparse=sparse)
        torch.manual_seed(options.seed)
        network = build_network(options.architecture)
        if options.init:
            network.load_state_dict(load_flow_checkpoint(Path(options.init))[1])
        self.wrap(network)
        self.optimizer = torch.optim.AdamW(network.parameters(), lr=options.lr,
                                           weight_decay=options.weight_decay, eps=options.epsilon)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, options.lr, options.steps + 100, pct_start=options.pct_start,
            cycle_momentum=False, anneal_strategy="linear")

    # --- data -------------------------------------------------------------------------------------------
    def _batch(self, step: int):
        """The augmented pairs of this process at `step`: epochs of the training pairs in an order drawn
        from (seed, epoch), items split between processes."""
        import torch

        count, size = len(self.train_samples), self.options.batch_size
        items = []
        for local in range(size):
            k = (step * self.world + self.rank) * size + local
            epoch, position = divmod(k, count)
            order = np.random.default_rng([self.options.seed, epoch]).permutation(count)
            sample = self.train_samples[order[position]].read()
            items.append(self.augment(sample, np.random.default_rng([self.options.seed, step, k])))
        image1, image2, flow, valid = (np.stack(parts) for parts in zip(*items))

        def tensor(array, channels_last=True):
            t = torch.from_numpy(np.ascontiguousarray(array))
            return (t.permute(0, 3, 1, 2) if channels_last else t).float().to(self.device)
        return tensor(image1), tensor(image2), tensor(flow), tensor(valid, channels_last=False)

    # --- training -----------------------------------------------------------------------------------------
    def _freeze_batch_norm(self) -> None:
        import torch

        for module in self.network.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()

    def train_step(self) -> dict:
        import torch

        options = self.options
        self.model.train()
        if options.freeze_bn:
            self._freeze_batch_norm()
        image1, image2, flow, valid = self._batch(self.step)
        if options.noise:
            generator = torch.Generator().manual_seed(options.seed * 1_000_003 + self.step)
            std = float(torch.rand(1, generator=generator)) * 5.0
            image1 = _normalise(image1, std, generator)
            image2 = _normalise(image2, std, generator)
        else:
            image1, image2 = _normalise(image1), _normalise(image2)
        self.optimizer.zero_grad(set_to_none=True)
        reduced = self.autocast_dtype
        with torch.autocast(self.device.type, dtype=reduced, enabled=reduced is not None):
            predictions = self.model(image1, image2, num_flow_updates=options.iterations)
        loss, metrics = sequence_loss([p.float() for p in predictions], flow, valid, options.gamma,
                                      options.max_flow)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), options.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return {"loss": loss.item(), **metrics}

    def validate(self) -> dict:
        """EPE, 1/3/5 px accuracy and Fl-all over the held-out pairs at their full size."""
        if not self.validation_samples:
            return {"validation_pairs": 0, "validation": None}
        import torch

        from vidcli.io.flow import flow_metrics

        self.network.eval()
        errors = []
        with torch.inference_mode():
            for sample in self.validation_samples:
                image1, image2, flow, valid = sample.read()
                estimate = predict(self.network, image1, image2, self.device, self.options.iterations)
                errors.append((estimate, flow, valid))
        return {"validation_pairs": len(errors), "validation": flow_metrics(errors)}

    def write_model(self, path: Path) -> None:
        save_model(self.network, path, self.options, self.step)


def predict(network, image1: np.ndarray, image2: np.ndarray, device, iterations: int = 12,
            mirrored_passes: int = 0) -> np.ndarray:
    """HxWx2 flow of a network on two HxWx3 uint8 images (vidcli.backends.raft.estimate_flow)."""
    from vidcli.backends.raft import estimate_flow, to_raft_input

    return estimate_flow(network, to_raft_input(image1, device), to_raft_input(image2, device), iterations,
                         mirrored_passes)
