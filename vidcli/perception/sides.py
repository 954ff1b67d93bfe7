"""Consistent left and right legs in keypoints over time (any layout; measured on BlazePose).

BlazePose often gives a leg the other leg's label, most of all in side views, where the legs cross in
the image at every step: on the synthetic benchmark's walking clips a quarter to a third of the frames
have the legs' 2D landmarks swapped, in runs of a few to a dozen frames. The labels are fixed per
track by a search (Viterbi) over the swap state of every frame, whose states are the labels of a window
of `HISTORY` frames: a window costs how far its newest frame's leg landmarks lie from the
constant-velocity line through the window's other frames, and its oldest frame's from the line through
the others the other way round, in units of `SIGMA` torso lengths and capped at `CAP` per landmark;
each swapped frame costs `SWAP_COST` more, so the model's labels win where motion does not tell. Lines
through several frames, from both sides, carry the legs' identities across the frames where they meet;
a one-sided search kept runs of wrong labels going past the end of BlazePose's own.

The 3D world landmarks of a frame are relabelled with its 2D ones: BlazePose swaps both together (on
three benchmark clips, relabelling the 2D legs alone left PA-MPJPE at 91-98 mm where relabelling both
gave 66-83).
"""

from __future__ import annotations

import itertools

import numpy as np

from vidcli.body.skeletons import indices

LEG_PARTS = ("knee", "ankle", "heel", "foot_index", "big_toe", "small_toe")  # those a layout has


def legs(layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the left and the right leg's keypoints in `layout`, part for part."""
    return tuple(indices(layout, [f"{side}_{part}" for part in LEG_PARTS]) for side in ("left", "right"))


LEFT_LEG, RIGHT_LEG = legs("blazepose33")

HISTORY = 6
SIGMA = 0.1
CAP = 9.0
SWAP_COST = 1.0


def swap_legs(points: np.ndarray, layout: str = "blazepose33") -> np.ndarray:
    """A copy of keypoints (..., K, D) of `layout` with the left and right leg keypoints exchanged."""
    left, right = legs(layout)
    out = points.copy()
    out[..., left, :] = points[..., right, :]
    out[..., right, :] = points[..., left, :]
    return out


def leg_swaps(keypoints2d: np.ndarray, layout: str = "blazepose33") -> np.ndarray:
    """(F,) frames of one track, consecutive, whose legs' labels should be exchanged.

    `keypoints2d` (F, K, 3) of `layout`: pixels and visibility. A track no longer than one window
    (HISTORY frames) gives motion too short to judge by, and keeps the estimator's labels.
    """
    frames = len(keypoints2d)
    if frames <= HISTORY:
        return np.zeros(frames, bool)
    leg = np.concatenate(legs(layout))
    hips, shoulders = (indices(layout, [f"left_{part}", f"right_{part}"]) for part in ("hip", "shoulder"))
    keypoints2d = np.nan_to_num(keypoints2d)  # a missing keypoint (NaN) has visibility 0
    swapped = swap_legs(keypoints2d, layout)
    # positions[label, frame]: the leg keypoints as given (label 0) or exchanged (label 1)
    positions = np.stack([keypoints2d[:, leg, :2], swapped[:, leg, :2]])
    weights = np.stack([keypoints2d[:, leg, 2], swapped[:, leg, 2]]).clip(0.0, 1.0)
    torso = np.linalg.norm(keypoints2d[:, shoulders, :2].mean(1) - keypoints2d[:, hips, :2].mean(1), axis=1)
    sigma = SIGMA * np.maximum(torso, 1.0)

    lag = HISTORY - 1
    # Least-squares line through `lag` positions at times 0..lag-1, evaluated at time `lag`.
    times = np.stack([np.ones(lag), np.arange(lag)], axis=1)
    extrapolate = np.array([1.0, lag]) @ np.linalg.pinv(times)  # (lag,)
    # A state is the labels of a window of HISTORY frames (oldest first); one cost is kept per state.
    labels = np.array(list(itertools.product((0, 1), repeat=HISTORY)))
    half = 2 ** lag
    cost = labels.sum(axis=1) * SWAP_COST
    previous = np.zeros((frames, len(labels)), np.int64)
    for last in range(lag, frames):
        window = np.arange(last - lag, last + 1)
        points, weight = positions[labels, window], weights[labels, window]  # (states, HISTORY, J, ...)
        forward = np.tensordot(extrapolate, points[:, :lag], axes=(0, 1))  # the newest, from the others
        backward = np.tensordot(extrapolate, points[:, :0:-1], axes=(0, 1))  # the oldest, from the others
        window_cost = (_misfit(points[:, -1], forward, weight[:, -1], sigma[last])
                       + _misfit(points[:, 0], backward, weight[:, 0], sigma[window[0]]))
        if last == lag:
            cost = cost + window_cost
            continue
        by_rest = cost.reshape(2, half)  # [the label dropped from the window, the rest]
        dropped = by_rest.argmin(axis=0)
        cost = (by_rest.min(axis=0)[:, None] + SWAP_COST * np.arange(2)).reshape(-1) + window_cost
        previous[last] = np.repeat(dropped * half + np.arange(half), 2)
    state = int(cost.argmin())
    swapped = np.zeros(frames, bool)
    for last in range(frames - 1, lag, -1):
        swapped[last] = labels[state, -1]
        state = previous[last, state]
    swapped[:HISTORY] = labels[state].astype(bool)
    return swapped


def _misfit(points: np.ndarray, predicted: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Per state: the visibility-weighted squared distances (in sigma) of the landmarks (states, J, 2)
    from their predictions, each capped at CAP."""
    return (weight * np.minimum(((points - predicted) ** 2).sum(-1) / sigma**2, CAP)).sum(-1)


def consistent_legs(frame: np.ndarray, keypoints2d: np.ndarray, world3d: np.ndarray,
                    layout: str = "blazepose33"):
    """One track's keypoints of `layout` (`frame` (F,) sorted, `keypoints2d` (F, K, 3), `world3d`
    (F, K, 3)) with its legs labelled consistently over time; (keypoints2d, world3d, swapped (F,)). Runs
    of consecutive frame numbers are searched separately."""
    keypoints2d, world3d = keypoints2d.copy(), world3d.copy()
    swapped = np.zeros(len(frame), bool)
    cuts = np.flatnonzero(np.diff(frame) != 1) + 1
    for run in np.split(np.arange(len(frame)), cuts):
        swapped[run] = leg_swaps(keypoints2d[run], layout)
    keypoints2d[swapped] = swap_legs(keypoints2d[swapped], layout)
    world3d[swapped] = swap_legs(world3d[swapped], layout)
    return keypoints2d, world3d, swapped
