"""tiny-cuda-nn's multi-resolution hash encoding and fully fused MLP in plain torch, with their parameters
laid out as tiny-cuda-nn lays them out (one flat float32 vector `params` per module), so that the fields of
a CoDeF checkpoint load as they are.

Facts from NVlabs/tiny-cuda-nn (encodings/grid.h, networks/fully_fused_mlp.cu at 6f018a9): level l has
scale `base * per_level_scale**l - 1` and resolution `ceil(scale) + 1`; it holds
`min(next_multiple(resolution**dims, 8), 2**log2_hashmap_size)` entries of `n_features` floats, levels one
after another; a point's cell is `floor(x * scale + 0.5)` (uint32 arithmetic), indexed densely
(`sum(cell_d * resolution**d)`) while the level fits, else by the coherent prime hash (XOR of `cell_d *
prime_d`), both modulo the level's entries; corners are blended with multilinear weights. The output is
level-major (level 0's features, then level 1's, ...). The MLP has no biases; its input width is padded to
a multiple of 16 and its output to 16; the weights are the layers' [out, in] matrices one after another.
"""

from __future__ import annotations

import functools
import math
import shutil
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)
UINT32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Level:
    scale: float
    resolution: int
    entries: int
    offset: int  # first entry of the level in the table
    dense: bool


def hash_grid_levels(
    dims: int, n_levels: int, log2_hashmap_size: int, base_resolution: int, per_level_scale: float
) -> list[Level]:
    """Each level's scale, resolution, entry count and offset, by tiny-cuda-nn's formulas."""
    levels, offset = [], 0
    for level in range(n_levels):
        # tiny-cuda-nn computes exp2(level * log2(per_level_scale)) * base - 1 in float32
        scale = float(
            np.exp2(np.float32(level) * np.float32(np.log2(np.float32(per_level_scale))))
            * np.float32(base_resolution)
            - np.float32(1.0)
        )
        resolution = math.ceil(scale) + 1
        dense_size = resolution**dims
        entries = min(-(-dense_size // 8) * 8, 2**log2_hashmap_size)
        levels.append(Level(scale, resolution, entries, offset, dense_size <= entries))
        offset += entries
    return levels


class HashGridEncoding(nn.Module):
    """tcnn.Encoding(otype=HashGrid) with linear interpolation: maps points of [0, 1]^dims to
    n_levels * n_features features."""

    def __init__(
        self,
        dims: int,
        n_levels: int = 16,
        n_features: int = 2,
        log2_hashmap_size: int = 19,
        base_resolution: int = 16,
        per_level_scale: float = 1.44,
    ):
        super().__init__()
        self.dims, self.n_features = dims, n_features
        self.compiled = False  # True: the lookup runs through torch.compile (`compiled_lookup`)
        self.levels = hash_grid_levels(dims, n_levels, log2_hashmap_size, base_resolution, per_level_scale)
        total = self.levels[-1].offset + self.levels[-1].entries
        # tiny-cuda-nn initialises the table uniformly in [-1e-4, 1e-4]
        self.params = nn.Parameter(torch.empty(total * n_features).uniform_(-1e-4, 1e-4))
        # per-level constants, so that one gather serves every level (one gradient buffer, not one per level)
        constants = {
            "scales": torch.tensor([level.scale for level in self.levels], dtype=torch.float32),
            "strides": torch.tensor([[level.resolution**d for d in range(dims)] for level in self.levels]),
            "dense": torch.tensor([level.dense for level in self.levels]),
            "entries": torch.tensor([level.entries for level in self.levels]),
            "offsets": torch.tensor([level.offset for level in self.levels]),
        }
        for name, value in constants.items():
            self.register_buffer(name, value, persistent=False)

    @property
    def n_output_dims(self) -> int:
        return len(self.levels) * self.n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lookup = compiled_lookup() if self.compiled else hash_grid_lookup
        table = self.params.view(-1, self.n_features)
        return lookup(x, table, self.scales, self.strides, self.dense, self.entries, self.offsets)


def hash_grid_lookup(x, table, scales, strides, dense_levels, entries, offsets) -> torch.Tensor:
    """The encoding of points `x` [N, dims] by `table` [entries, features] and the levels' constants.
    Corners are combined per dimension (each dimension's two cells, then their 2^dims combinations), which
    keeps the integer work at [N, levels, 2] per dimension rather than [N, levels, 2^dims, dims]."""
    position = x[:, None, :].float() * scales[None, :, None] + 0.5  # [N, L, D]
    cell = torch.floor(position)
    fraction = position - cell
    cell = cell.long()
    dense, hashed, weight = None, None, None
    for d in range(strides.shape[1]):
        cells = torch.stack([cell[..., d], cell[..., d] + 1], dim=-1) & UINT32  # (uint32_t)(int); [N, L, 2]
        dense_term = (cells * strides[:, d, None]) & UINT32
        hash_term = (cells * PRIMES[d]) & UINT32
        weight_term = torch.stack([1 - fraction[..., d], fraction[..., d]], dim=-1)
        if d == 0:
            dense, hashed, weight = dense_term, hash_term, weight_term
        else:  # corner index grows with dimension d as the slowest-varying bit
            dense = (dense_term[..., :, None] + dense[..., None, :]).flatten(-2)
            hashed = (hash_term[..., :, None] ^ hashed[..., None, :]).flatten(-2)
            weight = (weight_term[..., :, None] * weight[..., None, :]).flatten(-2)
    index = torch.where(dense_levels[:, None], dense & UINT32, hashed) % entries[:, None]
    values = table[index + offsets[:, None]]  # [N, L, 2^D, F]
    return (weight[..., None] * values).sum(dim=2).reshape(len(x), -1)


def compiler_available() -> bool:
    """Whether torch.compile's CPU backend (inductor) finds the C++ compiler it builds kernels with."""
    return any(shutil.which(name) for name in ("g++", "clang++"))


@functools.cache
def compiled_lookup():
    """`hash_grid_lookup` fused by torch.compile into one C++ loop (about 5x faster on a CPU than the dozen
    separate [N, levels, corners] tensor operations eager torch runs); needs a C++ compiler."""
    return torch.compile(hash_grid_lookup, dynamic=True)


def padded(width: int, multiple: int = 16) -> int:
    return -(-width // multiple) * multiple


class FullyFusedMLP(nn.Module):
    """tcnn.Network(otype=FullyFusedMLP, activation=ReLU, output_activation=None): `hidden_layers` ReLU
    layers of `width` neurons, no biases, all weights in one flat vector."""

    def __init__(self, n_input: int, n_output: int, width: int = 64, hidden_layers: int = 2):
        super().__init__()
        self.n_input, self.n_output = n_input, n_output
        self.shapes = (
            [(width, padded(n_input))] + [(width, width)] * (hidden_layers - 1) + [(padded(n_output), width)]
        )
        params = []
        for rows, cols in self.shapes:
            bound = math.sqrt(6.0 / (rows + cols))  # tiny-cuda-nn's Xavier-uniform initialisation
            params.append(torch.empty(rows * cols).uniform_(-bound, bound))
        self.params = nn.Parameter(torch.cat(params))

    def matrices(self) -> list[torch.Tensor]:
        out, start = [], 0
        for rows, cols in self.shapes:
            out.append(self.params[start : start + rows * cols].view(rows, cols))
            start += rows * cols
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        matrices = self.matrices()
        h = x @ matrices[0][:, : self.n_input].t()  # padded inputs are zeros: their columns never matter
        for matrix in matrices[1:]:
            h = torch.relu(h) @ matrix.t()
        return h[:, : self.n_output]
