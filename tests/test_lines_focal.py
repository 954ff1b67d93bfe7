"""A still camera's focal from scene lines and a tiled floor's square grid (`vidcli.slam.lines_focal`)."""

from itertools import pairwise

import numpy as np
import pytest

from vidcli.slam.lines_focal import fit_floor_grid, fit_lines_focal, line_segments

FOCAL, WIDTH, HEIGHT = 554.0, 640, 360
TILE = 0.4  # the tile's side in camera heights


def camera_from_scene(pitch_deg: float, yaw_deg: float) -> np.ndarray:
    """Scene axes x (across), y (down), z (along the floor) as columns in a camera pitched down and yawed."""
    pitch, yaw = np.radians(pitch_deg), np.radians(yaw_deg)
    turn = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    return tilt @ turn


def floor_segments(rotation, positions=None, noise_px=0.3, seed=0, pieces=8):
    """Segments (N, 4) of grid lines on the floor (1 camera height below), cut into short pieces, with
    noisy ends, plus a few vertical box edges. `positions`: the lines' (across, along) offsets, default
    the square grid's."""
    rng = np.random.default_rng(seed)
    across, along = positions or (TILE * np.arange(-12, 13) + 0.1, TILE * np.arange(3, 40) + 0.05)
    lines = [((x, 2.0), (x, 16.0)) for x in across] + [((-6.0, z), (6.0, z)) for z in along]
    points = []
    for (x0, z0), (x1, z1) in lines:
        t = np.linspace(0, 1, pieces + 1)
        points.append(np.stack([x0 + t * (x1 - x0), np.ones_like(t), z0 + t * (z1 - z0)], axis=1))
    for x, z in ((-2.0, 9.0), (1.5, 8.0), (3.0, 10.0)):  # box edges: from the floor up
        points.append(np.stack([np.full(5, x), np.linspace(1.0, 0.4, 5), np.full(5, z)], axis=1))
    segments = []
    for world in points:
        camera = world @ rotation.T
        image = FOCAL * camera[:, :2] / camera[:, 2:] + [WIDTH / 2, HEIGHT / 2]
        for a, b in pairwise(image):
            inside = np.all((a >= 0) & (b >= 0) & (a < [WIDTH, HEIGHT]) & (b < [WIDTH, HEIGHT]))
            if inside and np.hypot(*(b - a)) >= 20:
                segments.append(np.concatenate([a, b]) + rng.normal(0, noise_px, 4))
    return np.array(segments)


@pytest.mark.parametrize("pitch, yaw", [(4.6, 4.6), (15.0, 30.0)])
def test_a_square_floor_grid_gives_the_focal(pitch, yaw):
    """The benchmark's still camera (pitched and turned 4.6 degrees, where the vanishing points alone
    are biased by a few tenths of a degree of segment angle) and a steeper one."""
    segments = floor_segments(camera_from_scene(pitch, yaw))
    lines = fit_lines_focal(segments, WIDTH, HEIGHT)
    grid = fit_floor_grid(segments, lines, WIDTH, HEIGHT)
    assert grid.focal == pytest.approx(FOCAL, rel=0.02) and grid.relative_std < 0.03
    assert grid.tile == pytest.approx(TILE, rel=0.02) and min(grid.power) > 0.7


def test_lines_without_a_period_give_no_floor_focal():
    """Edges along the same directions at irregular places (planks, kerbs) have no grid to measure."""
    rng = np.random.default_rng(1)
    positions = (np.sort(rng.uniform(-5, 5, 25)), np.sort(rng.uniform(1.2, 16, 37)))
    segments = floor_segments(camera_from_scene(4.6, 4.6), positions)
    assert fit_floor_grid(segments, fit_lines_focal(segments, WIDTH, HEIGHT), WIDTH, HEIGHT) is None


def test_a_plain_image_has_no_lines_to_fit():
    gray = np.full((HEIGHT, WIDTH), 128, np.uint8)
    assert fit_lines_focal(line_segments(gray), WIDTH, HEIGHT) is None
