"""CoDeF's fields (qiuyu96/CoDeF models/implicit_model.py, train.py) with the official module and parameter
names, so `state_dict()` at the published configuration has the keys of a CoDeF checkpoint.

Coordinates are CoDeF's: a pixel is (row / height, column / width) in [0, 1], time is frame / frames. The
deformation field adds `decoder(...) / 5` to a pixel's coordinates; the canonical field reads the deformed
point as `(point + 0.3) / 1.6`, so the canonical image spans [-0.3, 1.3] of the frame on both axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vidcli.canonical.tcnn_layout import FullyFusedMLP, HashGridEncoding

CANONICAL_OFFSET, CANONICAL_SPAN = 0.3, 1.6  # the canonical field's input is (point + 0.3) / 1.6
DEFORMATION_SCALE = 5.0  # the deformation decoder's output is divided by 5
N_VOCAB_W, N_W = 200, 8  # CoDeF's per-frame code table, saved though unused with hash deformation


@dataclass(frozen=True)
class FieldSizes:
    """The hash grids and MLPs; the defaults are CoDeF's configs/hash.json."""

    levels: int = 16
    canonical_log2_hashmap_size: int = 19
    deform_log2_hashmap_size: int = 19
    base_resolution: int = 16
    canonical_scale: float = 1.44
    deform_scale: float = 1.38
    canonical_hidden_layers: int = 2
    deform_hidden_layers: int = 8
    width: int = 64


class ImplicitVideoHash(nn.Module):
    """The canonical image: a 2D hash grid, its input concatenated, decoded to RGB."""

    def __init__(self, sizes: FieldSizes):
        super().__init__()
        self.encoder = HashGridEncoding(
            2,
            sizes.levels,
            2,
            sizes.canonical_log2_hashmap_size,
            sizes.base_resolution,
            sizes.canonical_scale,
        )
        self.decoder = FullyFusedMLP(
            self.encoder.n_output_dims + 2, 3, sizes.width, sizes.canonical_hidden_layers
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([x, self.encoder(x)], dim=-1))


class DeformHash3d(nn.Module):
    """The deformation: a 3D hash grid over (row, column, time), its levels annealed in, decoded to an
    offset of the point."""

    def __init__(self, sizes: FieldSizes):
        super().__init__()
        self.encoder = HashGridEncoding(
            3, sizes.levels, 2, sizes.deform_log2_hashmap_size, sizes.base_resolution, sizes.deform_scale
        )
        self.decoder = FullyFusedMLP(
            self.encoder.n_output_dims + 3, 2, sizes.width, sizes.deform_hidden_layers
        )

    def forward(self, xyt: torch.Tensor, level_weights: torch.Tensor | None = None) -> torch.Tensor:
        features = self.encoder(xyt)
        if level_weights is not None:
            features = features * level_weights
        return self.decoder(torch.cat([xyt, features], dim=-1)) / DEFORMATION_SCALE


class DeformHash3dWarp(nn.Module):
    """CoDeF's wrapper, kept for its attribute name (`Deform_Hash3d`) in the checkpoint keys."""

    def __init__(self, sizes: FieldSizes):
        super().__init__()
        self.Deform_Hash3d = DeformHash3d(sizes)

    def forward(self, xyt: torch.Tensor, level_weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.Deform_Hash3d(xyt, level_weights)


def annealed_level_weights(step: int, levels: int, begin: int, length: int) -> torch.Tensor:
    """CoDeF's AnnealedHash: level j's features are weighted (1 - cos(pi * clamp(alpha - j, 0, 1))) / 2 with
    alpha = levels * (step - begin) / length, so the deformation starts coarse and gains detail."""
    alpha = levels * max(step - begin, 0) / float(length)
    index = torch.arange(levels, dtype=torch.float32).repeat_interleave(2)
    return (1 - torch.cos(math.pi * torch.clamp(alpha - index, 0, 1))) / 2


class CoDeF(nn.Module):
    """One deformation and one canonical field per layer (`w_i`, `warping_field_i`, `implicit_video_i`)."""

    def __init__(self, sizes: FieldSizes = FieldSizes(), layers: int = 1):
        super().__init__()
        self.sizes, self.layers = sizes, layers
        for i in range(layers):
            code = nn.Embedding(N_VOCAB_W, N_W)
            nn.init.uniform_(code.weight, -0.05, 0.05)
            setattr(self, f"w_{i}", code)
            setattr(self, f"warping_field_{i}", DeformHash3dWarp(sizes))
            setattr(self, f"implicit_video_{i}", ImplicitVideoHash(sizes))

    def compile_encoders(self) -> None:
        """Run every hash-grid lookup through torch.compile (`tcnn_layout.compiled_lookup`)."""
        for module in self.modules():
            if isinstance(module, HashGridEncoding):
                module.compiled = True

    def deform(self, points: torch.Tensor, times: torch.Tensor, level_weights=None, layer: int = 0):
        """Canonical coordinates of frame points ([N, 2] rows/columns in [0, 1], [N] times in [0, 1])."""
        xyt = torch.cat([points, times[:, None]], dim=-1)
        return points + getattr(self, f"warping_field_{layer}")(xyt, level_weights)

    def canonical(self, canonical_points: torch.Tensor, layer: int = 0) -> torch.Tensor:
        """RGB of the canonical image at canonical coordinates."""
        return getattr(self, f"implicit_video_{layer}")(
            (canonical_points + CANONICAL_OFFSET) / CANONICAL_SPAN
        )

    def forward(self, points, times, level_weights=None, layer: int = 0):
        deformed = self.deform(points, times, level_weights, layer)
        return self.canonical(deformed, layer), deformed
