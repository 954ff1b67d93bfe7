"""vidcli.bvh.continuous_euler: BVH rotation channels that stay continuous through flips and gimbal lock."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vidcli import bvh

FRAMES = 239  # b crosses 90° exactly at frame 126 (170 * 126 / 238 = 90)


def _generating_angles() -> np.ndarray:
    """(F, 3 joints, 3) smooth ZYX triples: pitch over the top through gimbal lock, two full turns,
    pitch below -90°."""
    t = np.linspace(0.0, 1.0, FRAMES)
    over_the_top = np.stack([40 * np.sin(2 * np.pi * t), np.linspace(0, 170, FRAMES),
                             30 * np.cos(3 * np.pi * t)], 1)
    spinning = np.stack([720 * t, 25 * np.sin(4 * np.pi * t), 60 * np.sin(np.pi * t)], 1)
    under = np.stack([10 * t, -np.linspace(0, 160, FRAMES), 50 * t], 1)
    return np.stack([over_the_top, spinning, under], axis=1)


def _matrices(angles: np.ndarray) -> np.ndarray:
    matrices = Rotation.from_euler("ZYX", angles.reshape(-1, 3), degrees=True).as_matrix()
    return matrices.reshape(angles.shape + (3,))


def _largest_channel_steps(angles: np.ndarray) -> np.ndarray:
    """Per joint, the largest change of any channel between consecutive frames (degrees)."""
    return np.abs(np.diff(angles, axis=0)).max(axis=(0, 2))


def _largest_rotation_steps(rotations: np.ndarray) -> np.ndarray:
    """Per joint, the largest angle (degrees) between consecutive frames' rotations."""
    relative = np.swapaxes(rotations[:-1], -1, -2) @ rotations[1:]
    cosine = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    return np.degrees(np.arccos(cosine)).max(axis=0)


@pytest.mark.filterwarnings("ignore:Gimbal lock detected")
def test_channels_follow_the_rotation_and_read_back_equal(tmp_path):
    generating = _generating_angles()
    rotations = _matrices(generating)
    naive = Rotation.from_matrix(rotations.reshape(-1, 3, 3)).as_euler("ZYX", degrees=True)
    naive = naive.reshape(FRAMES, 3, 3)
    assert (_largest_channel_steps(naive) > 170).all()  # the flips this function removes

    angles = bvh.continuous_euler(rotations, "ZYX")
    rotation_steps = _largest_rotation_steps(rotations)
    assert (rotation_steps < 6).all()
    assert (_largest_channel_steps(angles) < rotation_steps + 0.5).all()
    # The channels are the smooth triples the motion was made from; at the locked frame only a - c is
    # fixed, and the split nearest the previous frame differs from the generating one by a hair.
    assert np.abs(angles - generating).max() < 0.1
    np.testing.assert_allclose(_matrices(angles), rotations, atol=1e-9)

    channels = ["Zrotation", "Yrotation", "Xrotation"]
    offsets = np.array([[0, 0, 0], [0, 10, 0], [0, 10, 0.0]])
    motion = bvh.Motion(["Hips", "Spine", "Head"], [-1, 0, 1], offsets,
                        [["Xposition", "Yposition", "Zposition", *channels], channels, channels],
                        [None, None, np.array([0, 5, 0.0])],
                        np.concatenate([np.zeros((FRAMES, 3)), angles.reshape(FRAMES, -1)], axis=1), 1 / 30)
    bvh.write(motion, tmp_path / "turning.bvh")
    local, _ = bvh.parse(tmp_path / "turning.bvh").local_transforms()
    np.testing.assert_allclose(local, rotations, atol=1e-7)


def test_every_axis_order_and_exact_gimbal_lock():
    for order in ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"):
        angles = np.array([[10.0, 80.0, -20.0], [12.0, 90.0, -18.0], [14.0, 100.0, -16.0]])
        rotations = Rotation.from_euler(order, angles, degrees=True).as_matrix()
        continuous = bvh.continuous_euler(rotations, order)
        back = Rotation.from_euler(order, continuous, degrees=True).as_matrix()
        np.testing.assert_allclose(back, rotations, atol=1e-9)
        assert np.abs(np.diff(continuous, axis=0)).max() < 12, order
