"""STTN (Zeng, Fu and Chao, "Learning Joint Spatial-Temporal Transformations for Video Inpainting",
ECCV 2020): a convolutional encoder to 1/4 resolution, transformer blocks whose attention compares
patches of several sizes across all given frames (each size on its share of the channels), and a
convolutional decoder. Parameter names follow the authors' `InpaintGenerator`, so their released
checkpoint loads with `strict=True`.

The authors' attention calls `masked_fill` on the scores without keeping its result: the released
weights were trained and evaluated with every patch, holes included, visible to the attention.
`masked_attention=False` (the default) reproduces that; True hides key patches that are mostly hole.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PATCH_SIZES = ((108, 60), (36, 20), (18, 10), (9, 5))  # (width, height) of patches on 108x60 features
SIZE = (432, 240)  # (width, height) the released model works at


class _Upsample(nn.Module):
    """Bilinear x2 (corners aligned), then a 3x3 convolution (the authors' `deconv`)."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class _PatchAttention(nn.Module):
    def __init__(self, patch_sizes, channels: int, masked: bool):
        super().__init__()
        self.patch_sizes, self.masked = patch_sizes, masked
        self.query_embedding = nn.Conv2d(channels, channels, kernel_size=1)
        self.value_embedding = nn.Conv2d(channels, channels, kernel_size=1)
        self.key_embedding = nn.Conv2d(channels, channels, kernel_size=1)
        self.output_linear = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1), nn.LeakyReLU(0.2, inplace=True)
        )

    def forward(self, x, hole):
        """x (T, C, h, w) features of T frames; hole (T, 1, h, w), 1 inside the holes."""
        frames, channels, height, width = x.shape
        share = channels // len(self.patch_sizes)
        parts = zip(
            self.patch_sizes,
            *(
                torch.chunk(embed(x), len(self.patch_sizes), dim=1)
                for embed in (self.query_embedding, self.key_embedding, self.value_embedding)
            ),
        )
        outputs = []
        for (patch_w, patch_h), query, key, value in parts:
            rows, cols = height // patch_h, width // patch_w

            def tokens(z, depth=share):
                z = z.reshape(frames, depth, rows, patch_h, cols, patch_w).permute(0, 2, 4, 1, 3, 5)
                return z.reshape(frames * rows * cols, depth * patch_h * patch_w)

            query, key, value = tokens(query), tokens(key), tokens(value)
            scores = query @ key.transpose(0, 1) / math.sqrt(query.shape[-1])
            if self.masked:
                hidden = tokens(hole, 1).mean(-1) > 0.5
                scores = scores.masked_fill(hidden[None, :], -1e9)
            attended = torch.softmax(scores, dim=-1) @ value
            attended = attended.reshape(frames, rows, cols, share, patch_h, patch_w).permute(0, 3, 1, 4, 2, 5)
            outputs.append(attended.reshape(frames, share, height, width))
        return self.output_linear(torch.cat(outputs, 1))


class _FeedForward(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=2, dilation=2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x):
        return self.conv(x)


class _Block(nn.Module):
    def __init__(self, patch_sizes, channels: int, masked: bool):
        super().__init__()
        self.attention = _PatchAttention(patch_sizes, channels, masked)
        self.feed_forward = _FeedForward(channels)

    def forward(self, x, hole):
        x = x + self.attention(x, hole)
        return x + self.feed_forward(x)


class STTN(nn.Module):
    """The generator; `channels`, `blocks` and `patch_sizes` other than the defaults only for tests."""

    def __init__(self, channels: int = 256, blocks: int = 8, patch_sizes=PATCH_SIZES, masked_attention=False):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, channels, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.transformer = nn.ModuleList(
            _Block(patch_sizes, channels, masked_attention) for _ in range(blocks)
        )
        self.decoder = nn.Sequential(
            _Upsample(channels, 128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 64, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            _Upsample(64, 64),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 3, kernel_size=3, padding=1),
        )

    def encode(self, frames, holes):
        """Features (T, C, H/4, W/4) of frames (T, 3, H, W) in [-1, 1], their holes (T, 1, H, W) blanked."""
        return self.encoder(frames * (1 - holes))

    def complete(self, features, holes):
        """Features of T frames after the transformer blocks, all frames attending to all."""
        small = F.interpolate(holes, scale_factor=0.25)
        for block in self.transformer:
            features = block(features, small)
        return features

    def decode(self, features):
        """Frames (T, 3, H, W) in [-1, 1]."""
        return torch.tanh(self.decoder(features))

    def forward(self, frames, holes):
        return self.decode(self.complete(self.encode(frames, holes), holes))
