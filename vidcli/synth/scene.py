"""The static synthetic scenes. `textured`: a paved ground, brick walls and crates with detailed
procedural textures (many corners and blobs at several scales, so camera trackers find features).
`plain`: a chroma-key studio, floor and backdrop of one uniform colour (nothing for a camera
tracker to hold on to but the floor's edge). `room`: a low-texture room, pale walls and floor with
faint shading, skirting boards and a door frame (a few edges, few corners)."""

from __future__ import annotations

import cv2
import numpy as np

from vidcli.render.scene import Box, Scene, Texture


SCENES = ("textured", "plain", "room")
# The plain backdrop spans the view of every camera path (pans and orbits included), floor to above
# the top of the image, so neither its edges nor the sky are seen.
_BACKDROP_LO, _BACKDROP_HI = np.array([-30.0, 0.0, 8.0]), np.array([30.0, 14.0, 8.4])
CHROMA_COLOURS = [(40, 75, 170), (50, 150, 70)]  # studio blue and green, before shading


def build_scene(rng: np.random.Generator, kind: str = "textured") -> Scene:
    """The scene `kind` (see SCENES) around the walking area, with `soft_shadows` left off."""
    if kind == "plain":
        colour = CHROMA_COLOURS[int(rng.integers(len(CHROMA_COLOURS)))]
        flat = Texture(np.full((4, 4, 3), colour, np.uint8), texel_m=1.0)
        return Scene(flat, [Box(_BACKDROP_LO, _BACKDROP_HI, flat)])
    if kind == "room":
        return _room(rng)
    if kind != "textured":
        raise ValueError(f"unknown scene {kind!r}; choose from {', '.join(SCENES)}")
    return _textured(rng)


def _textured(rng: np.random.Generator) -> Scene:
    """Ground, a back and a side wall, and a few crates placed around the walking area."""
    ground = Texture(_paving(rng), texel_m=0.01)
    bricks = Texture(_bricks(rng), texel_m=0.004)
    boxes = [
        Box(np.array([-12.0, 0.0, 8.0]), np.array([12.0, 3.5, 8.4]), bricks),
        Box(np.array([-9.4, 0.0, -12.0]), np.array([-9.0, 3.0, 8.0]), bricks),
    ]
    for _ in range(4):
        size = rng.uniform(0.5, 1.1, 3)
        angle = rng.uniform(0, 2 * np.pi)
        radius = rng.uniform(4.5, 6.5)
        centre = np.array([radius * np.cos(angle), 0.0, radius * abs(np.sin(angle)) + 1.0])
        lo = centre - size / 2
        lo[1] = 0.0
        boxes.append(Box(lo, lo + size, Texture(_crate(rng), texel_m=0.005)))
    return Scene(ground, boxes)


def _room(rng: np.random.Generator) -> Scene:
    """Pale painted walls (back, left, right) and a pale floor, each with faint large-scale shading,
    skirting boards along the walls and a door frame in the back wall."""
    paint = np.array([215, 210, 195]) * rng.uniform(0.9, 1.0)
    floor = np.array([185, 170, 150]) * rng.uniform(0.9, 1.0)
    walls = Texture(_faint(rng, paint), texel_m=0.02)
    skirting = Texture(np.full((4, 4, 3), paint * 0.75, np.uint8), texel_m=1.0)
    frame = Texture(np.full((4, 4, 3), paint * 0.6, np.uint8), texel_m=1.0)
    boxes = [
        Box(np.array([-12.0, 0.0, 8.0]), np.array([12.0, 6.0, 8.4]), walls),
        Box(np.array([-12.4, 0.0, -12.0]), np.array([-12.0, 6.0, 8.4]), walls),
        Box(np.array([12.0, 0.0, -12.0]), np.array([12.4, 6.0, 8.4]), walls),
        Box(np.array([-12.0, 0.0, 7.9]), np.array([12.0, 0.12, 8.0]), skirting),
        Box(np.array([-12.0, 0.0, -12.0]), np.array([-11.9, 0.12, 8.0]), skirting),
        Box(np.array([11.9, 0.0, -12.0]), np.array([12.0, 0.12, 8.0]), skirting),
    ]
    door = rng.uniform(-4.0, 2.0)
    for lo, hi in (((door, 0.0), (door + 0.1, 2.1)), ((door + 1.0, 0.0), (door + 1.1, 2.1)),
                   ((door, 2.1), (door + 1.1, 2.2))):
        boxes.append(Box(np.array([lo[0], lo[1], 7.95]), np.array([hi[0], hi[1], 8.0]), frame))
    return Scene(Texture(_faint(rng, floor), texel_m=0.02), boxes)


def _faint(rng: np.random.Generator, colour: np.ndarray, size: int = 256) -> np.ndarray:
    """A surface of `colour` whose brightness varies by about 2% over metres (no edges, no corners)."""
    shading = 1 + 0.02 * _noise(rng, size, scales=(2, 4), weights=(1.0, 0.5))
    return np.clip(shading[..., None] * colour, 0, 255).astype(np.uint8)


def _noise(rng: np.random.Generator, size: int, scales=(4, 16, 64, 256), weights=(1.0, 0.6, 0.35, 0.2)) -> np.ndarray:
    """Tileable multi-scale value noise in about [-1, 1], (size, size)."""
    total = np.zeros((size, size), np.float32)
    for cells, weight in zip(scales, weights):
        grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
        tiled = np.tile(grid, (3, 3))
        big = cv2.resize(tiled, (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)
        total += weight * big[size:2 * size, size:2 * size]
    return total / sum(weights)


def _paving(rng: np.random.Generator, size: int = 1024, tile_px: int = 64) -> np.ndarray:
    """Stone slabs of varied colour with dark joints, speckles and stains (tileable)."""
    tiles = size // tile_px
    base = rng.uniform(0.55, 1.0, (tiles, tiles, 1)) * np.array([150, 140, 125]) + rng.uniform(-15, 15, (tiles, tiles, 3))
    image = np.repeat(np.repeat(base, tile_px, axis=0), tile_px, axis=1).astype(np.float32)
    image *= (1 + 0.35 * _noise(rng, size))[..., None]
    speckle = rng.uniform(size=(size, size)) < 0.02
    image[speckle] *= 0.5
    joints = np.zeros((size, size), bool)
    joints[np.arange(size) % tile_px < 3, :] = True
    joints[:, np.arange(size) % tile_px < 3] = True
    image[joints] = (55, 50, 45)
    for _ in range(40):
        centre = rng.integers(0, size, 2)
        cv2.circle(image, (int(centre[0]), int(centre[1])), int(rng.integers(4, 20)),
                   tuple(float(c) for c in rng.uniform(40, 200, 3)), -1)
    return np.clip(image, 0, 255).astype(np.uint8)


def _bricks(rng: np.random.Generator, size: int = 1024, brick=(64, 16)) -> np.ndarray:
    """Running-bond bricks of varied red-brown with mortar lines (tileable)."""
    width, height = brick
    rows, columns = size // height, size // width
    colours = rng.uniform(0.6, 1.1, (rows, columns, 1)) * np.array([165, 80, 60]) + rng.uniform(-12, 12, (rows, columns, 3))
    y, x = np.mgrid[0:size, 0:size]
    row = y // height
    shifted = (x + (row % 2) * width // 2) % size
    image = colours[row, shifted // width].astype(np.float32)
    image *= (1 + 0.25 * _noise(rng, size, scales=(8, 32, 128, 512)))[..., None]
    mortar = (y % height < 2) | (shifted % width < 2)
    image[mortar] = (190, 185, 175)
    return np.clip(image, 0, 255).astype(np.uint8)


def _crate(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Wooden planks with grain and a painted stencil-like mark."""
    tint = rng.uniform(0.7, 1.1) * np.array([175, 130, 80])
    image = np.tile(tint, (size, size, 1)).astype(np.float32)
    grain = _noise(rng, size, scales=(2, 8, 64, 128))
    image *= (1 + 0.3 * grain)[..., None]
    image[np.arange(size) % 32 < 2, :] *= 0.45
    image = np.clip(image, 0, 255).astype(np.uint8)
    cv2.rectangle(image, (8, 8), (size - 9, size - 9), (60, 45, 30), 6)
    cv2.putText(image, str(int(rng.integers(10, 99))), (60, 170), cv2.FONT_HERSHEY_SIMPLEX, 4,
                (40, 40, 40), 10)
    return image
