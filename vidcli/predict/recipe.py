"""Training a frame predictor (stage `train_predictor`) in the shared loop of `vidcli.training.loop`.

Each step draws `batch_size` sequences, feeds the first `context` true frames, then lets the network run on
its own predictions for the rest (the test protocol), and minimises the per-pixel loss over every predicted
frame. Adam with a cosine-decayed learning rate and gradient clipping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.predict.network import HEADS
from vidcli.settings import setting
from vidcli.training.loop import TrainingLoop, read_safetensors, save_safetensors

LOSSES = ("bce", "l1")
ARCHITECTURE = "dfn"
PREDICTION_VIDEO = "prediction.mp4"  # the files of the `predict` stage
PREDICTION_FRAMES = "prediction.npz"
PREDICTION_INDEX = "prediction.json"


@dataclass
class PredictorOptions:
    """The network, its data and the recipe; the defaults are the paper's Moving MNIST setting (10 frames
    in, 10 out, 9 x 9 filters, binary cross-entropy) at a size that trains on a CPU."""

    head: str = setting("dynamic", "dynamic: per-pixel filters applied to the last frame (DFN); fixed: the "
                                   "network outputs the frame itself (the paper's fixed-filter baseline)",
                        choices=HEADS)
    filter_size: int = setting(9, "side of the generated filters (largest motion: half of it per frame)",
                               bounds="[1, 31]")
    depth: int = setting(2, "down-sampling levels of the filter-generating network", bounds="[0, 5]")
    width: int = setting(8, "channels at full size (doubled per level)", bounds="[1, 512]")
    hidden: int = setting(32, "channels of the convolutional LSTM", bounds="[1, 1024]")
    refine: bool = setting(False, "add a convolutional refinement of the filtered frame")
    inputs: int = setting(2, "frames the network sees per step (the last and those before it; the motion "
                             "between them is then visible to its first layers)", bounds="[1, 8]")
    context: int = setting(10, "true frames seen before predicting", bounds="[1, 1000]")
    future: int = setting(10, "frames predicted from the model's own output in training", bounds="[0, 1000]")
    digits: int = setting(2, "digits per generated sequence (moving-digits data)", bounds="[1, 10]")
    size: int = setting(64, "side of generated frames; of the square training crops of clips",
                        bounds="[8, 4096]")
    height: int = setting(96, "clips are scaled to this height before cropping", bounds="[8, 4096]")
    colour: bool = setting(False, "train on clips in colour (moving digits are grey)")
    loss: str = setting("bce", "per-pixel loss: binary cross-entropy (the paper's) or L1", choices=LOSSES)
    steps: int = setting(2000, "optimizer steps", bounds="[1, 10000000]")
    batch_size: int = setting(8, "sequences per step (per process under torchrun)", bounds="[1, 4096]")
    lr: float = setting(2e-3, "Adam learning rate, decayed to zero on a cosine", bounds="(0, 1]")
    clip: float = setting(1.0, "gradient norm clipping", bounds="(0, 1e6]")
    validation_sequences: int = setting(32, "held-out sequences scored at the end", bounds="[0, 100000]")
    seed: int = setting(0, "seed of the data and the initial weights", bounds="[0, 4294967295]")
    save_every: int = setting(100, "steps between resumable saves", significant=False, bounds="[1, 10000000]")
    log_every: int = setting(20, "steps between log lines", significant=False, bounds="[1, 10000000]")

    def check(self) -> None:
        from vidcli.errors import ConfigError

        if self.filter_size % 2 == 0:
            raise ConfigError("filter_size must be odd")

    def data_options(self):
        from vidcli.predict.data import DataOptions

        return DataOptions(self.context + self.future, self.digits, self.size, self.height, self.colour,
                           self.seed, self.validation_sequences)


NETWORK_FIELDS = ("head", "filter_size", "depth", "width", "hidden", "refine", "inputs")


def build_predictor(options, channels: int):
    from vidcli.predict.network import FramePredictor

    return FramePredictor(channels, **{name: getattr(options, name) for name in NETWORK_FIELDS})


def pixel_loss(predicted, truth, kind: str):
    """Mean per-pixel loss."""
    from torch.nn import functional as F

    if kind == "bce":
        return F.binary_cross_entropy(predicted, truth)
    return (predicted - truth).abs().mean()


def sequence_bce(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Binary cross-entropy summed over each sequence's pixels and frames, averaged over sequences (the
    Moving MNIST figure); predictions clipped to [1e-7, 1 - 1e-7]."""
    p = np.clip(predicted.astype(np.float64), 1e-7, 1 - 1e-7)
    t = truth.astype(np.float64)
    return float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).reshape(len(p), -1).sum(1).mean())


def predict_future(network, sequences: np.ndarray, context: int, device="cpu", batch: int = 32) -> np.ndarray:
    """The network's predictions of frames context..T-1 of (N, T, C, H, W) sequences from their first
    `context` frames."""
    import torch

    network.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(sequences), batch):
            chunk = torch.from_numpy(np.ascontiguousarray(sequences[start:start + batch])).to(device)
            out.append(network(chunk, context)[:, context - 1:].float().cpu().numpy())
    return np.concatenate(out)


class PredictorTrainer(TrainingLoop):
    METRICS = ("loss",)

    def __init__(self, options: PredictorOptions, data, out_dir: Path | None, resume_dir: Path,
                 device: str = "cpu", on_step=None):
        import torch

        super().__init__(options, out_dir, resume_dir, device, on_step)
        self.data = data
        torch.manual_seed(options.seed)
        network = build_predictor(options, data.channels)
        self.wrap(network)
        self.optimizer = torch.optim.Adam(network.parameters(), lr=options.lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, options.steps)

    def _batch(self, step: int):
        import torch

        size = self.options.batch_size
        items = [self.data.item((step * self.world + self.rank) * size + local) for local in range(size)]
        return torch.from_numpy(np.stack(items)).to(self.device)

    def train_step(self) -> dict:
        import torch

        options = self.options
        self.model.train()
        sequences = self._batch(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        predicted = self.model(sequences, options.context)
        loss = pixel_loss(predicted, sequences[:, 1:], options.loss)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), options.clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return {"loss": loss.item()}

    def validate(self) -> dict:
        """Binary cross-entropy per sequence and PSNR of the predicted frames on the held-out sequences,
        beside copying the last observed frame."""
        if not self.data.validation:
            return {"validation_sequences": 0, "validation": None}
        sequences = np.stack(self.data.validation)
        context = self.options.context
        truth = sequences[:, context:]
        predicted = predict_future(self.network, sequences, context, self.device)
        copied = np.repeat(sequences[:, context - 1:context], truth.shape[1], axis=1)

        def psnr(estimate):
            return float(np.mean(10 * np.log10(1.0 / np.maximum(
                ((estimate - truth) ** 2).reshape(len(truth), truth.shape[1], -1).mean(2), 1e-10))))
        return {"validation_sequences": len(sequences),
                "validation": {"bce": sequence_bce(predicted, truth), "psnr": psnr(predicted),
                               "copy_last_bce": sequence_bce(copied, truth), "copy_last_psnr": psnr(copied)}}

    def write_model(self, path: Path) -> None:
        about = {"architecture": ARCHITECTURE, "channels": self.data.channels,
                 "context": self.options.context,
                 "height": self.options.height if self.data.kind == "clips" else self.options.size,
                 "step": self.step, **{name: getattr(self.options, name) for name in NETWORK_FIELDS}}
        save_safetensors(self.network, path, about)


def load_predictor(path: Path):
    """(network, about) of a model.safetensors written by `train_predictor`."""
    from types import SimpleNamespace

    from vidcli.errors import InputError

    try:
        about, state = read_safetensors(path)
    except Exception as error:  # safetensors raises its own error types for a damaged file
        raise InputError(f"{path}: not a safetensors checkpoint ({error})") from None
    if about.get("architecture") != ARCHITECTURE:
        raise InputError(f"{path}: not a frame predictor checkpoint of `vidcli train predictor`")
    network = build_predictor(SimpleNamespace(**{"inputs": 1, **about}), about["channels"])
    network.load_state_dict(state)
    return network.eval(), about


def predict_sequence(network, frames: np.ndarray, context: int, total: int, device="cpu") -> np.ndarray:
    """Predictions of frames 1..total (total, C, H, W) from (T, C, H, W) frames in [0, 1]: frame t+1 from the
    true frame t while t < context, else from the model's own prediction of frame t. With context = T the
    model sees every true frame (teacher forcing) and its last prediction is the frame after the end."""
    import torch

    network.eval()
    state, previous, out = None, None, []
    with torch.inference_mode():
        for t in range(total):
            frame = torch.from_numpy(frames[t][None].copy()).to(device) if t < context else previous
            previous, state = network.step(frame, state)
            out.append(previous[0].float().cpu().numpy())
    return np.stack(out)
