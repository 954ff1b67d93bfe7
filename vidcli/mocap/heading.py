"""Torso heading flips in a track's 3D landmarks, found and undone from temporal consistency.

BlazePose's metric landmarks sometimes turn the whole body about its vertical axis for a moment, most
often while the person has their back to the camera: the heading jumps by 45-180 degrees within a
frame or two and jumps back 10-20 frames later, and a fit that follows them swings the legs to one
side. A person turns fast too (a pirouette), but does not turn back by the same angle at once, so a
flip is a pair: a jump, then within `max_span` rows the opposite jump. The rows between them are turned
back about the track's up axis through the hips (the landmarks' origin) by the angle they jumped,
less the person's own turning over those frames. A flip that starts the track or runs to its end (no
pair) is undone where it covers fewer rows than the rest of the track. Only a heading that is steady
around the jumps tells a flip: where BlazePose's heading scatters from frame to frame (a dance with
spins, jumping jacks), its jumps are noise, and turning rows back made them worse.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from vidcli.body.skeletons import BLAZEPOSE_33

_LEFT = [BLAZEPOSE_33.index(n) for n in ("left_hip", "left_shoulder")]
_RIGHT = [BLAZEPOSE_33.index(n) for n in ("right_hip", "right_shoulder")]
_HIPS = [BLAZEPOSE_33.index(n) for n in ("left_hip", "right_hip")]
_SHOULDERS = [BLAZEPOSE_33.index(n) for n in ("left_shoulder", "right_shoulder")]
STEP_DEG = 25.0  # a heading change per row above this belongs to a jump
JUMP_DEG = 45.0  # a jump turns the heading by at least this
RETURN_DEG = 30.0  # the jump back undoes the first within this
STEADY_DEG = 4.0  # the heading's frame-to-frame scatter (median absolute deviation) must stay below this
MAX_JUMP_STEPS = 3  # a jump takes at most this many rows; a longer fast turn is the person's
TURN_WINDOW = 15  # rows either side whose median heading change is the person's own turning


def headings(world3d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The torso heading (F,) in radians, unwrapped, of root-relative landmarks (F, 33, 3): the angle of
    the right-to-left line of hips and shoulders about the track's mean up direction (3,)."""
    up = (world3d[:, _HIPS].mean(1) - world3d[:, _SHOULDERS].mean(1)).mean(0)  # BlazePose: y down
    up /= max(np.linalg.norm(up), 1e-12)
    across = (world3d[:, _LEFT] - world3d[:, _RIGHT]).sum(1)
    helper = np.eye(3)[np.argmin(np.abs(up))]
    first = np.cross(up, helper)
    first /= np.linalg.norm(first)
    second = np.cross(up, first)
    return np.unwrap(np.arctan2(across @ second, across @ first)), up


def flip_corrections(heading: np.ndarray, max_span: int) -> np.ndarray:
    """The angle (F,) in radians to turn each row by to undo its flip (0 for unflipped rows)."""
    step = np.diff(heading)
    fast = np.abs(step) > np.radians(STEP_DEG)
    excess = np.zeros(len(step))  # the jumps, the person's own turning (the median step) taken out
    for i in np.flatnonzero(fast):
        excess[i] = step[i] - np.median(step[max(i - TURN_WINDOW, 0):i + TURN_WINDOW + 1])
    fast &= np.abs(excess) > np.radians(STEP_DEG)
    events: list[list] = []  # [first step, last step, angle] of runs of fast steps turning one way
    for i in np.flatnonzero(fast):
        if events and events[-1][1] == i - 1 and np.sign(excess[i]) == np.sign(events[-1][2]):
            events[-1][1:] = [i, events[-1][2] + excess[i]]
        else:
            events.append([i, i, excess[i]])
    events = [e for e in events if abs(e[2]) >= np.radians(JUMP_DEG) and e[1] - e[0] < MAX_JUMP_STEPS]
    calm = ~fast

    def steady(first: int, last: int) -> bool:
        """Whether the heading around steps first..last, jumps aside, is steady enough to tell a flip by."""
        around = slice(max(first - TURN_WINDOW, 0), last + TURN_WINDOW + 1)
        steps = step[around][calm[around]]
        return len(steps) >= 3 and np.median(np.abs(steps - np.median(steps))) < np.radians(STEADY_DEG)

    correction = np.zeros(len(heading))
    paired: set[int] = set()
    for a, (start, end, angle) in enumerate(events):
        for b in range(a + 1, len(events)):
            if a in paired or events[b][0] - end > max_span:
                break
            if (b not in paired and abs(angle + events[b][2]) < np.radians(RETURN_DEG)
                    and steady(start, events[b][1])):
                back_end = events[b][1]
                correction[start + 1:back_end + 1] = -np.cumsum(excess[start:back_end])
                paired.update((a, b))
    alone = [event for a, event in enumerate(events) if a not in paired]
    if len(alone) == 1 and steady(*alone[0][:2]):  # a flip at the track's start or end, or a turn
        rows, (start, end, angle) = len(heading), alone[0]
        jump = np.zeros(len(step))
        jump[start:end + 1] = excess[start:end + 1]
        if start + 1 <= max_span and start + 1 < rows - start - 1:  # rows 0..start flipped
            correction[:end + 1] = angle - np.r_[np.zeros(1), np.cumsum(jump)][:end + 1]
        elif rows - end - 1 <= max_span and rows - end - 1 < end + 1:  # rows end + 1.. flipped
            correction[start + 1:] = -np.cumsum(jump[start:])
    return correction


def repair_heading_flips(world3d: np.ndarray, max_span: int) -> tuple[np.ndarray, np.ndarray]:
    """Root-relative landmarks (F, 33, 3) of one track's consecutive rows with their heading flips turned
    back, and which rows (F,) were turned."""
    if len(world3d) < 3 or max_span < 1:
        return world3d, np.zeros(len(world3d), bool)
    heading, up = headings(np.nan_to_num(world3d))
    correction = flip_corrections(heading, max_span)
    flipped = correction != 0
    repaired = world3d.copy()
    if flipped.any():
        turn = Rotation.from_rotvec(up[None] * correction[flipped, None]).as_matrix()
        repaired[flipped] = np.einsum("fij,fpj->fpi", turn, world3d[flipped])
    return repaired, flipped
