"""HMR2.0 (Goel et al. 2023, "Humans in 4D"): a ViT-H/16 image encoder on a 256x192 person crop and a
cross-attention transformer decoder that regresses SMPL pose (6D rotations), shape and a weak-perspective
camera. vidcli's own implementation, with the parameter names of the official Lightning checkpoint
(`backbone.*`, `smpl_head.*`) so that the released weights load strictly; `tests/test_hmr2.py` checks the
names and shapes against the official model's key manifest and the outputs against the official code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SMPL_JOINTS = 24  # the pelvis (global orientation) and 23 body joints
BETAS = 10
CROP_MARGIN = 32  # columns cut on each side of the 256x256 crop: the ViT sees the middle 192
# Keys of the official checkpoint that are not part of the regressor: the training-only adversarial
# discriminator, the SMPL layer's buffers (vidcli poses the user's own SMPL files) and a Lightning flag.
NOT_REGRESSOR = ("discriminator.", "smpl.", "initialized")


@dataclass(frozen=True)
class Hmr2Size:
    """The architecture's sizes; the defaults are the released HMR2.0 (ViT-H/16, 6-layer decoder)."""

    embed_dim: int = 1280
    depth: int = 32
    heads: int = 16
    mlp_ratio: int = 4
    decoder_dim: int = 1024
    decoder_depth: int = 6
    decoder_heads: int = 8
    decoder_dim_head: int = 64
    decoder_mlp_dim: int = 1024


def _attend(q, k, v, heads: int):
    """Multi-head softmax attention of (B, N, heads * d) queries over keys and values."""
    def split(t):
        return t.unflatten(-1, (heads, -1)).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v))
    return out.transpose(1, 2).flatten(2)


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        return self.proj(_attend(*self.qkv(x).chunk(3, dim=-1), self.heads))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn, self.mlp = _SelfAttention(dim, heads), _Mlp(dim, dim * mlp_ratio)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        # 16x16 patches with 2 pixels of zero padding: 16x12 tokens from 256x192 (ViTPose's layout)
        self.proj = nn.Conv2d(3, dim, kernel_size=16, stride=16, padding=2)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VitBackbone(nn.Module):
    """ViTPose's plain ViT: (B, 3, 256, 192) images to (B, 192, dim) tokens."""

    def __init__(self, size: Hmr2Size):
        super().__init__()
        self.patch_embed = _PatchEmbed(size.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, 16 * 12 + 1, size.embed_dim))  # + an unused class slot
        self.blocks = nn.ModuleList(_Block(size.embed_dim, size.heads, size.mlp_ratio)
                                    for _ in range(size.depth))
        self.last_norm = nn.LayerNorm(size.embed_dim, eps=1e-6)

    def forward(self, images):
        # the released weights were trained with the class slot's embedding added to every patch
        x = self.patch_embed(images) + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for block in self.blocks:
            x = block(x)
        return self.last_norm(x)


class _PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm, self.fn = nn.LayerNorm(dim), fn

    def forward(self, x, **kwargs):
        return self.fn(self.norm(x), **kwargs)


class _DecoderSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x):
        return self.to_out(_attend(*self.to_qkv(x).chunk(3, dim=-1), self.heads))


class _CrossAttention(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.to_kv = nn.Linear(context_dim, 2 * heads * dim_head, bias=False)
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x, context):
        return self.to_out(_attend(self.to_q(x), *self.to_kv(context).chunk(2, dim=-1), self.heads))


class _FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        # indices 0 and 3 as in the checkpoint (GELU and dropout sat between them)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Identity(), nn.Linear(hidden, dim))

    def forward(self, x):
        return self.net(x)


class _CrossAttentionLayers(nn.Module):
    def __init__(self, size: Hmr2Size):
        super().__init__()
        dim, heads, dim_head = size.decoder_dim, size.decoder_heads, size.decoder_dim_head
        self.layers = nn.ModuleList(nn.ModuleList([
            _PreNorm(dim, _DecoderSelfAttention(dim, heads, dim_head)),
            _PreNorm(dim, _CrossAttention(dim, size.embed_dim, heads, dim_head)),
            _PreNorm(dim, _FeedForward(dim, size.decoder_mlp_dim)),
        ]) for _ in range(size.decoder_depth))

    def forward(self, x, context):
        for self_attention, cross_attention, feed_forward in self.layers:
            x = self_attention(x) + x
            x = cross_attention(x, context=context) + x
            x = feed_forward(x) + x
        return x


class _TokenDecoder(nn.Module):
    def __init__(self, size: Hmr2Size):
        super().__init__()
        self.to_token_embedding = nn.Linear(1, size.decoder_dim)
        self.pos_embedding = nn.Parameter(torch.zeros(1, 1, size.decoder_dim))
        self.transformer = _CrossAttentionLayers(size)

    def forward(self, token, context):
        return self.transformer(self.to_token_embedding(token) + self.pos_embedding, context)


class SmplHead(nn.Module):
    """One zero query token attends to the image tokens; linear read-outs add to the mean SMPL parameters."""

    def __init__(self, size: Hmr2Size):
        super().__init__()
        self.transformer = _TokenDecoder(size)
        self.decpose = nn.Linear(size.decoder_dim, 6 * SMPL_JOINTS)
        self.decshape = nn.Linear(size.decoder_dim, BETAS)
        self.deccam = nn.Linear(size.decoder_dim, 3)
        self.register_buffer("init_body_pose", torch.zeros(1, 6 * SMPL_JOINTS))
        self.register_buffer("init_betas", torch.zeros(1, BETAS))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def forward(self, tokens):
        """(B, 144) pose as 6D rotations, (B, 10) betas, (B, 3) camera (scale, tx, ty) of the crop."""
        query = tokens.new_zeros(len(tokens), 1, 1)
        out = self.transformer(query, tokens)[:, 0]
        return (self.decpose(out) + self.init_body_pose, self.decshape(out) + self.init_betas,
                self.deccam(out) + self.init_cam)


class Hmr2(nn.Module):
    """The regressor of the released HMR2.0 checkpoint: 256x256 normalised crops to SMPL and a camera."""

    def __init__(self, size: Hmr2Size = Hmr2Size()):
        super().__init__()
        self.backbone = VitBackbone(size)
        self.smpl_head = SmplHead(size)

    def forward(self, crops):
        """(B, 24, 3, 3) rotations, (B, 10) betas and (B, 3) crop cameras of (B, 3, 256, 256) crops as
        `vidcli.body.person_crop` makes them."""
        pose6d, betas, cam = self.smpl_head(self.backbone(crops[:, :, :, CROP_MARGIN:-CROP_MARGIN]))
        return rot6d_to_matrix(pose6d).unflatten(0, (len(crops), SMPL_JOINTS)), betas, cam


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 6 * n) 6D rotations (Zhou et al. 2019; two columns interleaved as HMR2 stores them) to
    (N, 3, 3) matrices, Gram-Schmidt on the two columns."""
    columns = x.reshape(-1, 2, 3)
    b1 = F.normalize(columns[:, 0], dim=-1)
    a2 = columns[:, 1]
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    return torch.stack((b1, b2, torch.linalg.cross(b1, b2)), dim=-1)


def regressor_state(state: dict) -> dict:
    """The regressor's part of an official checkpoint's state dict (without the `NOT_REGRESSOR` keys)."""
    return {k: v for k, v in state.items() if not k.startswith(NOT_REGRESSOR)}
