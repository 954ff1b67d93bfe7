"""DROID-SLAM's network (Teed & Deng 2021) in plain torch, with the parameter names of the official
`droid.pth` (`load_droid_state` applies the official loader's renaming and slicing), and its
correlation pyramid computed without the CUDA extension.

The modules reproduce princeton-vl/DROID-SLAM's `droid_net.py`, `modules/extractor.py`, `gru.py` and
`corr.py` (tests/data/droid/ holds goldens from that code). What the official code does with lietorch
and its CUDA bundle adjustment is done by `vidcli.geometry` (see `vidcli.backends.droid`).
Gradient clipping layers of the heads act only in the backward pass and are left out: vidcli runs
the network for inference only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 128  # fnet output channels; cnet gives 2 x 128 (hidden state, context)
LEVELS, RADIUS = 4, 3  # correlation pyramid
CORRELATION_CHANNELS = LEVELS * (2 * RADIUS + 1) ** 2  # 196, the update operator's correlation input
SLICED_HEADS = ("update.weight.2.weight", "update.weight.2.bias",
                "update.delta.2.weight", "update.delta.2.bias")
# ImageNet statistics the official `extract_features` normalises RGB images with
IMAGE_MEAN, IMAGE_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _norm(kind: str, channels: int) -> nn.Module:
    """The official encoders' norms: InstanceNorm2d without affine parameters, or none (no state)."""
    return nn.InstanceNorm2d(channels) if kind == "instance" else nn.Sequential()


class ResidualBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, norm: str, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.norm1, self.norm2 = _norm(norm, planes), _norm(norm, planes)
        self.downsample = None if stride == 1 else nn.Sequential(
            nn.Conv2d(in_planes, planes, 1, stride=stride), _norm(norm, planes))

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        return F.relu((x if self.downsample is None else self.downsample(x)) + y)


class BasicEncoder(nn.Module):
    """A 1/8-resolution feature map (B, N, output_dim, H/8, W/8) of images (B, N, 3, H, W)."""

    def __init__(self, output_dim: int, norm: str):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, stride=2, padding=3)
        self.norm1 = _norm(norm, 32)
        self.layer1 = nn.Sequential(ResidualBlock(32, 32, norm), ResidualBlock(32, 32, norm))
        self.layer2 = nn.Sequential(ResidualBlock(32, 64, norm, 2), ResidualBlock(64, 64, norm))
        self.layer3 = nn.Sequential(ResidualBlock(64, 128, norm, 2), ResidualBlock(128, 128, norm))
        self.conv2 = nn.Conv2d(128, output_dim, 1)

    def forward(self, images):
        batch, count = images.shape[:2]
        x = F.relu(self.norm1(self.conv1(images.flatten(0, 1))))
        x = self.conv2(self.layer3(self.layer2(self.layer1(x))))
        return x.view(batch, count, *x.shape[1:])


class ConvGRU(nn.Module):
    """A convolutional GRU whose gates also see a global, attention-pooled summary of the state."""

    def __init__(self, hidden: int = 128, inputs: int = 128 + 128 + 64):
        super().__init__()
        self.convz = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)
        self.convr = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)
        self.convq = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)
        self.w = nn.Conv2d(hidden, hidden, 1)
        self.convz_glo = nn.Conv2d(hidden, hidden, 1)
        self.convr_glo = nn.Conv2d(hidden, hidden, 1)
        self.convq_glo = nn.Conv2d(hidden, hidden, 1)

    def forward(self, net, *inputs):
        inp = torch.cat(inputs, dim=1)
        glo = (torch.sigmoid(self.w(net)) * net).mean(dim=(2, 3), keepdim=True)
        both = torch.cat([net, inp], dim=1)
        z = torch.sigmoid(self.convz(both) + self.convz_glo(glo))
        r = torch.sigmoid(self.convr(both) + self.convr_glo(glo))
        q = torch.tanh(self.convq(torch.cat([r * net, inp], dim=1)) + self.convq_glo(glo))
        return (1 - z) * net + z * q


class GraphAgg(nn.Module):
    """Per-keyframe damping `eta` and depth upsampling weights, from the hidden states of all edges
    leaving each keyframe (averaged over the edges of each source keyframe `ii`)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(128, 128, 3, padding=1)
        self.conv2 = nn.Conv2d(128, 128, 3, padding=1)
        self.eta = nn.Sequential(nn.Conv2d(128, 1, 3, padding=1), nn.Softplus())
        self.upmask = nn.Sequential(nn.Conv2d(128, 8 * 8 * 9, 1))

    def forward(self, net, ii):
        batch, edges, channels, height, width = net.shape
        net = F.relu(self.conv1(net.flatten(0, 1))).view(batch, edges, channels, height, width)
        _, source = torch.unique(ii, return_inverse=True)
        count = int(source.max()) + 1
        sums = net.new_zeros(batch, count, channels, height, width).index_add_(1, source, net)
        sizes = torch.bincount(source, minlength=count).to(net.dtype).view(1, count, 1, 1, 1)
        net = F.relu(self.conv2((sums / sizes).flatten(0, 1)))
        eta = self.eta(net).view(batch, count, height, width)
        upmask = self.upmask(net).view(batch, count, 8 * 8 * 9, height, width)
        return 0.01 * eta, upmask


class UpdateModule(nn.Module):
    """One ConvGRU step per edge: revisions of the target coordinates (`delta`, grid pixels) and their
    confidence (`weight`, in (0, 1)), both (B, E, H, W, 2)."""

    def __init__(self):
        super().__init__()
        self.corr_encoder = nn.Sequential(nn.Conv2d(CORRELATION_CHANNELS, 128, 1), nn.ReLU(),
                                          nn.Conv2d(128, 128, 3, padding=1), nn.ReLU())
        self.flow_encoder = nn.Sequential(nn.Conv2d(4, 128, 7, padding=3), nn.ReLU(),
                                          nn.Conv2d(128, 64, 3, padding=1), nn.ReLU())
        self.weight = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(128, 2, 3, padding=1), nn.Sigmoid())
        self.delta = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(128, 2, 3, padding=1))
        self.gru = ConvGRU()
        self.agg = GraphAgg()

    def forward(self, net, inp, corr, motion, ii=None):
        """`net`, `inp` (B, E, 128, H, W), `corr` (B, E, 196, H, W), `motion` (B, E, 4, H, W): the
        flow and the residual to the last target, clamped to +-64. With `ii`, also GraphAgg's outputs."""
        batch, edges, _, height, width = net.shape
        net = self.gru(net.flatten(0, 1), inp.flatten(0, 1), self.corr_encoder(corr.flatten(0, 1)),
                       self.flow_encoder(motion.flatten(0, 1)))
        delta = self.delta(net).view(batch, edges, 2, height, width).permute(0, 1, 3, 4, 2)
        weight = self.weight(net).view(batch, edges, 2, height, width).permute(0, 1, 3, 4, 2)
        net = net.view(batch, edges, -1, height, width)
        if ii is None:
            return net, delta, weight
        return (net, delta, weight, *self.agg(net, ii))


class DroidNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fnet = BasicEncoder(FEATURE_DIM, "instance")
        self.cnet = BasicEncoder(256, "none")
        self.update = UpdateModule()

    def extract_features(self, rgb):
        """(features, hidden state, context) of RGB images (B, N, 3, H, W) with values 0-255."""
        images = self.normalised(rgb)
        return (self.fnet(images), *self.context(images))

    @staticmethod
    def normalised(rgb):
        """The encoders' input: RGB images (B, N, 3, H, W) with values 0-255, normalised by ImageNet's
        statistics. The official code takes BGR (OpenCV's order) and flips the channels first; vidcli
        passes RGB."""
        mean = rgb.new_tensor(IMAGE_MEAN).view(3, 1, 1)
        std = rgb.new_tensor(IMAGE_STD).view(3, 1, 1)
        return (rgb / 255.0 - mean) / std

    def context(self, images):
        """(hidden state, context) of normalised images: only keyframes need them."""
        net, inp = self.cnet(images).split([128, 128], dim=2)
        return torch.tanh(net), torch.relu(inp)


def load_droid_state(state: dict) -> dict:
    """The official `Droid.load_weights` renaming: the DDP prefix `module.` removed (every occurrence, as
    `str.replace` does), and the confidence and flow heads cut to their first two output channels."""
    state = {key.replace("module.", ""): value for key, value in state.items()}
    for key in SLICED_HEADS:
        if key in state:
            state[key] = state[key][:2]
    return state


def convex_upsample(disparity, mask):
    """Disparities (B, N, H, W) upsampled 8x with GraphAgg's convex-combination weights (B, N, 576, H, W)."""
    batch, count, height, width = disparity.shape
    weights = torch.softmax(mask.reshape(batch * count, 1, 9, 8, 8, height, width), dim=2)
    patches = F.unfold(disparity.reshape(batch * count, 1, height, width), [3, 3], padding=1)
    patches = patches.view(batch * count, 1, 9, 1, 1, height, width)
    up = (weights * patches).sum(dim=2)  # (BN, 1, 8, 8, H, W)
    return up.permute(0, 4, 2, 5, 3, 1).reshape(batch, count, 8 * height, 8 * width)


class CorrelationPyramid:
    """DROID's correlation lookup, computed on demand from pooled target features instead of a stored
    all-pairs volume: average-pooling the volume over the target pixels (as the official pyramid does)
    equals correlating with average-pooled target features, so memory grows with `chunk` (source
    pixels per step) times the image, not with its square (256 pixels of a 640x360 image: 3.7 MB per
    edge). Out-of-image samples are zero and the (2r+1)^2 window is ordered x-major, as the official
    CUDA kernel `corr_index_forward` writes it."""

    def __init__(self, source, target, levels: int = LEVELS, radius: int = RADIUS, chunk: int = 256):
        """`source`, `target`: (E, C, H, W) features of each edge's two frames."""
        self.source = source.flatten(2).transpose(1, 2) / 4.0  # (E, HW, C), scaled as the official corr
        self.radius, self.chunk = radius, chunk
        self.targets = [target / 4.0]
        for _ in range(levels - 1):
            self.targets.append(F.avg_pool2d(self.targets[-1], 2, stride=2))

    def __call__(self, coords):
        """(E, levels * (2r+1)^2, H, W) correlation features around `coords` (E, H, W, 2), grid pixels."""
        edges, height, width, _ = coords.shape
        points = coords.reshape(edges, height * width, 2)
        out = []
        for level, target in enumerate(self.targets):
            out.append(torch.cat([self._lookup(target, self.source[:, s:s + self.chunk],
                                               points[:, s:s + self.chunk] / 2**level)
                                  for s in range(0, height * width, self.chunk)], dim=1))
        return torch.cat(out, dim=2).transpose(1, 2).reshape(edges, -1, height, width)

    def _lookup(self, target, source, points):
        """(E, P, (2r+1)^2) bilinear correlations of source features (E, P, C) around `points` (E, P, 2):
        the chunk's rows of the volume at this level, (E, P, H * W), then its window's corners."""
        height, width = target.shape[-2:]
        volume = torch.bmm(source, target.flatten(2))  # (E, P, HW)
        side = 2 * self.radius + 2  # integer corners spanning the window
        base = torch.floor(points)
        frac = points - base
        offsets = torch.arange(side, device=points.device) - self.radius
        xs = base[..., 0, None].long() + offsets  # (E, P, side)
        ys = base[..., 1, None].long() + offsets
        inside = ((xs >= 0) & (xs < width))[..., :, None] & ((ys >= 0) & (ys < height))[..., None, :]
        index = (ys.clamp(0, height - 1)[..., None, :] * width + xs.clamp(0, width - 1)[..., :, None])
        # [x index i, y index j]
        values = torch.gather(volume, 2, index.flatten(2)).view(index.shape) * inside
        dx, dy = frac[..., 0, None, None], frac[..., 1, None, None]
        sampled = ((1 - dx) * (1 - dy) * values[..., :-1, :-1] + dx * (1 - dy) * values[..., 1:, :-1]
                   + (1 - dx) * dy * values[..., :-1, 1:] + dx * dy * values[..., 1:, 1:])
        return sampled.flatten(2)
