"""A still camera's focal length from upright people on one ground plane (`vidcli.slam.people_focal`)."""

import numpy as np
import pytest

from vidcli.slam.people_focal import _rotation, fit_people_focal, upright_points

FOCAL, WIDTH, HEIGHT = 554.0, 640, 360


def people_seen(depths, across, pitch_deg, noise_px, seed=0):
    """Sole, hip and shoulder image points (N, 3, 2) of people walking on the ground (camera 1.6 m above
    it, pitched down, slightly rolled) at the given depths and sideways positions (one array per person)."""
    rng = np.random.default_rng(seed)
    R = _rotation(np.radians(pitch_deg), 0.02)
    points, person = [], []
    for number, (zs, xs) in enumerate(zip(depths, across)):
        heights = np.array([0.0, 0.95, 1.42]) + 0.05 * number
        for z, x in zip(zs, xs):
            level = np.stack([np.full(3, x), 1.6 - heights, np.full(3, z)], axis=1)
            camera = level @ R.T
            uv = FOCAL * camera[:, :2] / camera[:, 2:] + [WIDTH / 2, HEIGHT / 2]
            points.append(uv + rng.normal(0.0, noise_px, uv.shape))
            person.append(number)
    return np.array(points), np.array(person)


def test_people_walking_in_depth_give_the_focal():
    points, person = people_seen([np.linspace(3, 9, 120), np.linspace(8, 4, 120)],
                                 [np.linspace(-1, 1, 120), np.linspace(1, -2, 120)], 12.0, 1.0)
    fit = fit_people_focal(points, person, WIDTH, HEIGHT)
    assert fit.focal == pytest.approx(FOCAL, rel=0.02) and fit.relative_std < 0.03
    assert fit.pitch_deg == pytest.approx(12.0, abs=1.0)
    hips_only = fit_people_focal(points[:, :2], person, WIDTH, HEIGHT)  # one point above the ground
    assert hips_only.focal == pytest.approx(FOCAL, rel=0.03)


def test_people_at_one_depth_leave_the_focal_undetermined():
    """Someone crossing the view at one depth looks the same through any focal (weak perspective): the
    fit says so by its spread instead of returning a number to trust."""
    points, person = people_seen([np.full(120, 7.5)], [np.linspace(-3, 3, 120)], 4.6, 3.0)
    assert fit_people_focal(points, person, WIDTH, HEIGHT).relative_std > 0.05
    assert fit_people_focal(points[:5], person[:5], WIDTH, HEIGHT) is None  # too few rows


def test_upright_points_need_soles_hips_and_shoulders():
    keypoints = np.zeros((2, 33, 3))
    keypoints[:, :, 2] = 1.0
    keypoints[:, 11:13, :2] = [[10, 20], [30, 20]]  # shoulders
    keypoints[1, 29, 2] = 0.1  # a heel hidden in the second row
    points, usable = upright_points(keypoints)
    assert usable.tolist() == [True, False] and points[0, 2].tolist() == [20, 20]
