"""Torso heading flips found and undone from temporal consistency (`vidcli.mocap.heading`)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vidcli.mocap.heading import headings, repair_heading_flips


def turning_person(frames: int, degrees_per_frame: float, seed: int = 0) -> np.ndarray:
    """Root-relative landmarks (F, 33, 3) (BlazePose axes: y down) of a rigid body turning about the
    vertical at a steady rate."""
    rng = np.random.default_rng(seed)
    body = rng.normal(0.0, 0.15, (33, 3))
    body[[11, 12, 23, 24]] = [[0.18, -0.5, 0.0], [-0.18, -0.5, 0.0], [0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]]
    angles = np.radians(degrees_per_frame * np.arange(frames))
    turns = Rotation.from_rotvec(np.outer(angles, [0.0, -1.0, 0.0])).as_matrix()
    return np.einsum("fij,pj->fpi", turns, body)


def flipped(landmarks: np.ndarray, rows: slice, degrees: float) -> np.ndarray:
    out = landmarks.copy()
    turn = Rotation.from_rotvec([0.0, -np.radians(degrees), 0.0]).as_matrix()
    out[rows] = landmarks[rows] @ turn.T
    return out


@pytest.mark.parametrize("degrees, rate", [(85.0, 0.0), (-74.0, 2.0), (160.0, -1.0)])
def test_a_flip_for_some_frames_is_turned_back(degrees, rate):
    truth = turning_person(90, rate)
    seen = flipped(truth, slice(40, 57), degrees)
    repaired, turned = repair_heading_flips(seen, max_span=30)
    assert np.flatnonzero(turned).tolist() == list(range(40, 57))
    np.testing.assert_allclose(repaired, truth, atol=1e-6)


def test_flips_at_the_ends_are_turned_back_and_long_ones_left():
    truth = turning_person(90, 1.0)
    for rows in (slice(0, 12), slice(75, 90)):
        repaired, turned = repair_heading_flips(flipped(truth, rows, 90.0), max_span=30)
        assert turned[rows].all() and turned.sum() == rows.stop - rows.start
        np.testing.assert_allclose(repaired, truth, atol=1e-6)
    _, turned = repair_heading_flips(flipped(truth, slice(20, 70), 90.0), max_span=30)  # longer than a flip
    assert not turned.any()


def test_a_fast_turn_is_not_a_flip():
    """A pirouette turns 360 degrees in a second, up to 30 degrees a frame, and does not turn back."""
    truth = turning_person(60, 30.0)
    repaired, turned = repair_heading_flips(truth, max_span=30)
    assert not turned.any() and repaired is not None
    assert np.ptp(headings(truth)[0]) == pytest.approx(np.radians(30.0 * 59), rel=1e-6)
