"""Consistent left/right legs (`vidcli.perception.sides`) on a synthetic side-view walk."""

import numpy as np

from vidcli.body.skeletons import BLAZEPOSE_33
from vidcli.perception.sides import LEFT_LEG, RIGHT_LEG, consistent_legs, leg_swaps, swap_legs

STEP = 30  # frames per step; a foot's cycle is two steps
POINT = {name: BLAZEPOSE_33.index(name) for name in BLAZEPOSE_33}


def foot_x(frames: np.ndarray, phase: int, speed: float) -> np.ndarray:
    """x of a foot that stands still for 36 of every 60 frames and swings forward in the other 24,
    keeping up with a body moving `speed` pixels per frame."""
    cycle, swing = 2 * STEP, 24
    x = np.empty(len(frames))
    for i, f in enumerate(frames):
        k, t = divmod(f + phase, cycle)
        landed = k * cycle * speed
        x[i] = landed + speed * cycle * min(max(t - (cycle - swing), 0) / swing, 1.0)
    return x


def side_walk(frames: int = 150, seed: int = 0) -> np.ndarray:
    """(F, 33, 3) keypoints of a person walking right across the image, seen from the side: legs
    cross every step; all landmarks visible; half a pixel of noise."""
    rng = np.random.default_rng(seed)
    f = np.arange(frames)
    speed = 2.0
    hip_x = 100 + speed * f - speed * STEP / 2
    points = np.zeros((frames, 33, 3))
    points[..., 2] = 1.0
    for side in ("left", "right"):
        points[:, POINT[f"{side}_shoulder"], :2] = np.stack([hip_x, np.full(frames, 100.0)], 1)
        points[:, POINT[f"{side}_hip"], :2] = np.stack([hip_x, np.full(frames, 160.0)], 1)
    for side, phase in (("left", 0), ("right", STEP)):
        ankle = 100 + foot_x(f, phase, speed) - speed * phase  # the right foot starts half a stride behind
        points[:, POINT[f"{side}_ankle"], :2] = np.stack([ankle, np.full(frames, 280.0)], 1)
        points[:, POINT[f"{side}_knee"], :2] = np.stack([(ankle + hip_x) / 2 + 6, np.full(frames, 220.0)], 1)
        points[:, POINT[f"{side}_heel"], :2] = np.stack([ankle - 6, np.full(frames, 288.0)], 1)
        points[:, POINT[f"{side}_foot_index"], :2] = np.stack([ankle + 14, np.full(frames, 290.0)], 1)
    points[..., :2] += rng.normal(0.0, 0.5, (frames, 33, 2))
    return points


def legs_apart(points: np.ndarray) -> np.ndarray:
    """Frames whose ankles are more than 8 px apart (elsewhere a swap is not visible)."""
    gap = points[:, POINT["left_ankle"], :2] - points[:, POINT["right_ankle"], :2]
    return np.linalg.norm(gap, axis=1) > 8


def test_a_clean_walk_keeps_its_labels():
    walk = side_walk()
    assert not (leg_swaps(walk) & legs_apart(walk)).any()


def test_swapped_runs_are_found_where_the_legs_are_apart():
    truth = side_walk()
    swapped = np.zeros(len(truth), bool)
    swapped[[20, 21, 22, 23, 24, 25, 31, 33, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83]] = True
    observed = truth.copy()
    observed[swapped] = swap_legs(truth[swapped])
    found = leg_swaps(observed)
    visible = legs_apart(truth)
    wrong = (found != swapped) & visible
    assert wrong.sum() <= 2, np.flatnonzero(wrong)


def test_missing_keypoints_are_not_evidence():
    truth = side_walk()
    swapped = np.zeros(len(truth), bool)
    swapped[[20, 21, 22, 23, 24, 25, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83]] = True
    observed = truth.copy()
    observed[swapped] = swap_legs(truth[swapped])
    observed[40:44] = np.nan
    found = leg_swaps(observed)
    wrong = (found != swapped) & legs_apart(truth)
    wrong[40:44] = False
    assert wrong.sum() <= 2, np.flatnonzero(wrong)


def test_consistent_legs_relabels_2d_and_3d_together_and_searches_runs_separately():
    truth = side_walk(frames=90)
    world = np.zeros((90, 33, 3))
    world[:, LEFT_LEG, 0], world[:, RIGHT_LEG, 0] = 0.1, -0.1  # left leg on +x
    frames = np.r_[np.arange(40), np.arange(50, 100)]  # a gap of ten frames
    observed2d, observed3d = truth.copy(), world.copy()
    swapped = np.zeros(90, bool)
    swapped[[10, 11, 12, 13, 14, 15, 16, 60, 61, 62, 63, 64, 65]] = True
    observed2d[swapped], observed3d[swapped] = swap_legs(truth[swapped]), swap_legs(world[swapped])
    fixed2d, fixed3d, found = consistent_legs(frames, observed2d, observed3d)
    visible = legs_apart(truth)
    assert ((found != swapped) & visible).sum() <= 2
    agree = found == swapped
    np.testing.assert_array_equal(fixed3d[agree, LEFT_LEG[0], 0], 0.1)
    np.testing.assert_allclose(fixed2d[agree & visible], truth[agree & visible])
