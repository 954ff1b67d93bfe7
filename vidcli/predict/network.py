"""Dynamic Filter Networks for next-frame prediction (De Brabandere, Jia, Tuytelaars, Van Gool, NeurIPS 2016).

A filter-generating network reads one frame per step (an encoder down to 1/2^depth of the size, a
convolutional LSTM there that carries the motion seen so far, a decoder back up with skip connections) and
outputs, for every pixel, a K x K filter (softmax over its K^2 weights); the dynamic local filtering layer
applies each pixel's filter to the last frame around that pixel. The prediction is thus a local, convex
mix of the last frame's pixels: motion is copying from where the content was. The `fixed` head is the
paper's baseline (the authors' code): the layer that writes the K^2 filter channels stays, and a learned
1 x 1 convolution (the same for every input) turns them into the frame, in place of the dynamic filtering.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

HEADS = ("dynamic", "fixed")
CENTRE_LOGIT = 4.0  # initial filters: e^4 / (e^4 + K^2 - 1) of the weight at the centre (0.4 for 9 x 9)


def dynamic_local_filter(image: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Each pixel's own K x K filter applied to `image` around it (edges replicated).

    image: (B, C, H, W); filters: (B, K*K, H, W), row-major over the window (index i*K + j weighs the pixel
    at row offset i - K//2, column offset j - K//2); the same filter serves every channel.
    """
    batch, channels, height, width = image.shape
    size = round(filters.shape[1] ** 0.5)
    if size * size != filters.shape[1] or size % 2 == 0:
        raise ValueError(f"{filters.shape[1]} filter weights are not an odd square")
    pad = size // 2
    padded = F.pad(image, (pad, pad, pad, pad), mode="replicate")
    windows = F.unfold(padded, size).view(batch, channels, size * size, height, width)
    return (windows * filters[:, None]).sum(2)


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell (Shi et al. 2015) without peepholes."""

    def __init__(self, channels_in: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(channels_in + hidden, 4 * hidden, 3, padding=1)

    def forward(self, x, state):
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class FramePredictor(nn.Module):
    """Predicts frame t+1 from frames 0..t, one frame per `step`; called on a sequence, runs it whole."""

    def __init__(self, channels: int = 1, filter_size: int = 9, depth: int = 2, width: int = 32,
                 hidden: int = 64, head: str = "dynamic", refine: bool = False, inputs: int = 1):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}")
        self.channels, self.filter_size, self.head, self.depth = channels, filter_size, head, depth
        self.inputs = inputs
        widths = [width * 2 ** level for level in range(depth + 1)]
        self.stem = nn.Conv2d(channels * inputs, widths[0], 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(widths[k], widths[k + 1], 3, stride=2, padding=1)
                                  for k in range(depth))
        self.recurrent = ConvLSTMCell(widths[-1], hidden)
        # Up level k (from 1/2^(k+1) to 1/2^k) joins the upsampled features with the encoder's skip there.
        ups, above = [], hidden
        for k in reversed(range(depth)):
            ups.append(nn.Conv2d(above + widths[k], widths[k], 3, padding=1))
            above = widths[k]
        self.up = nn.ModuleList(ups)
        self.out = nn.Conv2d(widths[0], filter_size ** 2, 1)
        with torch.no_grad():  # dynamic: start near copying the last frame, most filter weight at the centre
            self.out.bias.zero_()
            self.out.bias[filter_size ** 2 // 2] = CENTRE_LOGIT
        self.fixed = nn.Conv2d(filter_size ** 2, channels, 1) if head == "fixed" else None
        self.refine = nn.Sequential(nn.Conv2d(2 * channels, widths[0], 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(widths[0], channels, 3, padding=1)) if refine else None

    def step(self, frame: torch.Tensor, state=None):
        """(prediction of the next frame, new state) from `frame` (B, C, H, W in [0, 1]) and the state
        carried from the earlier frames (None at the first): the LSTM's and the last `inputs` - 1 frames,
        which the network sees beside `frame` (the first frame stands for those before it)."""
        memory, earlier = state if state is not None else (None, [frame] * (self.inputs - 1))
        recent = [*earlier, frame]
        x = F.relu(self.stem(torch.cat(recent, 1)))
        skips = [x]
        for conv in self.down:
            x = F.relu(conv(x))
            skips.append(x)
        x, memory = self.recurrent(x, memory)
        for conv, skip in zip(self.up, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[2:], mode="nearest")
            x = F.relu(conv(torch.cat([x, skip], 1)))
        out = self.out(x)
        if self.fixed is None:
            predicted = dynamic_local_filter(frame, torch.softmax(out, 1))
        else:
            predicted = torch.sigmoid(self.fixed(out))
        if self.refine is not None:
            predicted = predicted + self.refine(torch.cat([predicted, frame], 1))
        return predicted.clamp(0.0, 1.0), (memory, recent[1:])

    def forward(self, frames: torch.Tensor, context: int) -> torch.Tensor:
        """Predictions of frames 1..T-1 of `frames` (B, T, C, H, W): frames 1..context-1 each from the true
        frames before it, the rest from the model's own predictions after the first `context` frames (the
        protocol of predicting T - context frames from `context` observed ones)."""
        state, predictions, previous = None, [], None
        for t in range(frames.shape[1] - 1):
            frame = frames[:, t] if t < context else previous
            previous, state = self.step(frame, state)
            predictions.append(previous)
        return torch.stack(predictions, 1)


def parameter_count(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())
