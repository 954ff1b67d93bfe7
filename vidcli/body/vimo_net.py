"""VIMO (Wang et al. 2024, TRAM): HMR2.0 with two temporal transformers over 16-frame windows of one track,
one over the image tokens (each of the 16x12 token positions attends across time, with the box's CLIFF
features) and one over the regressed 6D poses. vidcli's own implementation with the parameter names of the
released `vimo_checkpoint.pth.tar`; `tests/test_vimo.py` checks them against the official model's key
manifest and the outputs against the official code."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vidcli.body.hmr2_net import CROP_MARGIN, SMPL_JOINTS, Hmr2Size, SmplHead, VitBackbone, rot6d_to_matrix

WINDOW = 16  # frames the temporal transformers see at once
TOKEN_GRID = (16, 12)  # the ViT's token rows and columns


@dataclass(frozen=True)
class VimoSize:
    """The released VIMO: HMR2.0's sizes, a 6-layer space-time module of width 512 and a 6-layer motion
    module of width 384 (4 heads and 1024-wide feed-forward layers each)."""

    hmr2: Hmr2Size = Hmr2Size()
    st_dim: int = 512
    st_layers: int = 6
    motion_dim: int = 384
    motion_layers: int = 6
    heads: int = 4
    feedforward: int = 1024


class _SinusoidalPositions(nn.Module):
    """The fixed sine/cosine table of "Attention is all you need" for 100 steps, kept as a buffer."""

    def __init__(self, dim: int, steps: int = 100):
        super().__init__()
        position = torch.arange(steps, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        table = torch.zeros(steps, dim)
        table[:, 0::2], table[:, 1::2] = torch.sin(position * rate), torch.cos(position * rate)
        self.register_buffer("pe", table[:, None, :])

    def forward(self, x):  # (T, B, dim)
        return x + self.pe[:len(x)]


class TemporalTransformer(nn.Module):
    """In-projection, positions, a post-norm GELU transformer encoder over time, out-projection; with
    `residual`, the output is added to the first `out_dim` input channels."""

    def __init__(self, in_dim: int, out_dim: int, dim: int, layers: int, heads: int, feedforward: int,
                 residual: bool):
        super().__init__()
        self.out_dim, self.residual = out_dim, residual
        self.l1, self.l2 = nn.Linear(in_dim, dim), nn.Linear(dim, out_dim)
        self.pos_embedding = _SinusoidalPositions(dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=feedforward, dropout=0.0,
                                           activation="gelu")
        self.trans = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x):
        """(B, T, in_dim) to (B, T, out_dim)."""
        h = self.l2(self.trans(self.pos_embedding(self.l1(x.transpose(0, 1))))).transpose(0, 1)
        return x[..., :self.out_dim] + h if self.residual else h


class Vimo(nn.Module):
    """The regressor of the released VIMO checkpoint: 16-frame windows of one track's crops to SMPL."""

    def __init__(self, size: VimoSize = VimoSize()):
        super().__init__()
        embed = size.hmr2.embed_dim
        self.backbone = VitBackbone(size.hmr2)
        self.st_module = TemporalTransformer(embed + 3, embed, size.st_dim, size.st_layers, size.heads,
                                             size.feedforward, residual=True)
        self.motion_module = TemporalTransformer(6 * SMPL_JOINTS + 3, 6 * SMPL_JOINTS, size.motion_dim,
                                                 size.motion_layers, size.heads, size.feedforward,
                                                 residual=False)
        self.smpl_head = SmplHead(size.hmr2)

    def features(self, crops):
        """(B, 192, dim) image tokens of (B, 3, 256, 256) crops: computed once per frame, whatever windows
        the frame falls in."""
        return self.backbone(crops[:, :, :, CROP_MARGIN:-CROP_MARGIN])

    def forward(self, tokens, box_features):
        """Rotations (W, 16, 24, 3, 3), betas (W, 16, 10) and crop cameras (W, 16, 3) of W windows of
        tokens (W, 16, 192, dim) with their boxes' `box_features` (W, 16, 3)."""
        windows, steps, count, dim = tokens.shape
        boxes = box_features[:, :, None, :].expand(-1, -1, count, -1)
        joined = torch.cat([tokens, boxes], dim=-1).permute(0, 2, 1, 3).reshape(windows * count, steps, -1)
        tokens = self.st_module(joined).reshape(windows, count, steps, dim).permute(0, 2, 1, 3)
        pose6d, betas, cam = self.smpl_head(tokens.reshape(windows * steps, count, dim))
        pose6d = self.motion_module(torch.cat([pose6d.reshape(windows, steps, -1), box_features], dim=-1))
        rotations = rot6d_to_matrix(pose6d).reshape(windows, steps, SMPL_JOINTS, 3, 3)
        return rotations, betas.reshape(windows, steps, -1), cam.reshape(windows, steps, -1)


def box_features(center: torch.Tensor, side: torch.Tensor, focal: float, principal) -> torch.Tensor:
    """CLIFF's box features as VIMO scales them: the box centre's offset from the principal point and its
    size, both relative to the focal length (N, 3)."""
    offset = (center - center.new_tensor(principal)) / focal * 2.8
    size = (side - 0.24 * focal) / (0.06 * focal)
    return torch.cat([offset, size[:, None]], dim=-1)


def window_outputs(count: int) -> list[tuple[int, slice]]:
    """For a chunk of `count` >= 16 frames seen through windows starting at 0, 1, ..., count - 16: which
    window gives which frames, as TRAM's inference takes them: the first window its first 9 frames, each
    later one its 9th, the last one its last 8 (a single window gives all 16)."""
    last = count - WINDOW
    if last == 0:
        return [(0, slice(0, WINDOW))]
    middle = [(start, slice(8, 9)) for start in range(1, last)]
    return [(0, slice(0, 9))] + middle + [(last, slice(8, WINDOW))]
