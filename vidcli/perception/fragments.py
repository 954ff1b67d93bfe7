"""One track per person: fragments of one person's track joined after tracking.

A tracker splits a person in three ways, all seen on the synthetic benchmark. The detector finds them
twice for a while (a second landmark pass locks on to the same body), so two tracks run side by side
over one box; a second detection locks on to part of the person or the floor beside them for under a
second (a ghost); or the first track is lost and another id, a ghost until then, or a new one, carries
on where it was. All three are joined here, on the whole video's tracks at once, which the
frame-by-frame tracker cannot do. Two tracks are one person when:

- **side by side**: their boxes overlap, a median IoU of at least `SAME_IOU` over the frames they share;
- **ghost**: the later one lies within the earlier one's span, lasts at most `max_gap` frames and
  touches it (median IoU of at least `TOUCH_IOU`);
- **continued**: the later one starts at most `max_gap` frames after the earlier one ends, or overlaps it
  for at most `max_gap` frames while touching it, and its first box after the earlier one's end is where
  that one, moved on at its last velocity, would be (centre within `REACH` box heights, height within
  `SIZE_RATIO`).

Where joined tracks share a frame, the row of the earliest track is kept. A group is only joined
while every pair of its tracks that shares frames is one of these: two people walking together
share their whole time in view, and two people crossing touch for a few frames of a long overlap.
"""

from __future__ import annotations

import numpy as np

from vidcli.geometry.boxes import box_iou

SAME_IOU = 0.5
TOUCH_IOU = 0.2
REACH = 0.5
SIZE_RATIO = 1.33
VELOCITY_FRAMES = 5  # the last frames of a track its velocity is measured over


def _continues(a: dict, b: dict, max_gap: int) -> bool:
    """Whether track `b`'s first box after track `a` ends lies where `a`'s would be then."""
    last = max(a)
    after = [f for f in b if f > last]
    if not after or min(after) - last > max_gap:
        return False
    first = min(after)
    recent = sorted(a)[-VELOCITY_FRAMES:]
    centres = np.array([(a[f][:2] + a[f][2:]) / 2 for f in recent])
    velocity = (centres[-1] - centres[0]) / max(recent[-1] - recent[0], 1)
    expected = centres[-1] + velocity * (first - last)
    height_a, height_b = a[last][3] - a[last][1], b[first][3] - b[first][1]
    if not 1 / SIZE_RATIO <= height_b / max(height_a, 1e-6) <= SIZE_RATIO:
        return False
    return bool(np.linalg.norm((b[first][:2] + b[first][2:]) / 2 - expected) <= REACH * height_a)


def _link(a: dict, b: dict, max_gap: int) -> float | None:
    """How surely tracks `a` and `b` (frame -> box) are one person (higher: surer), None if they are not."""
    a, b = sorted((a, b), key=min)
    shared = sorted(set(a) & set(b))
    iou = float(np.median([box_iou(a[f][None], b[f][None])[0, 0] for f in shared])) if shared else 0.0
    if shared and iou >= SAME_IOU:
        return 3.0 + iou
    if shared and (iou < TOUCH_IOU or len(shared) > max_gap):
        return None
    if max(b) <= max(a):
        return 2.0 + iou if shared and len(b) <= max_gap else None
    return 1.0 + iou if _continues(a, b, max_gap) else None


def merge_fragments(frame: np.ndarray, track_id: np.ndarray, box: np.ndarray, max_gap: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Join fragments of one person: (which rows (N,) to keep, their track ids (N,) renumbered 1, 2, ...
    by first appearance). `frame`, `track_id` (N,), `box` (N, 4) x1, y1, x2, y2, one row per track and
    frame."""
    ids = np.unique(track_id)
    boxes = {int(t): {int(f): b for f, b in zip(frame[track_id == t], box[track_id == t])} for t in ids}
    group = {int(t): int(t) for t in ids}
    members = {int(t): [int(t)] for t in ids}

    def compatible(x: int, y: int) -> bool:
        return all(_link(boxes[a], boxes[b], max_gap) is not None for a in members[x] for b in members[y]
                   if set(boxes[a]) & set(boxes[b]))

    pairs = [(strength, int(a), int(b)) for i, a in enumerate(ids) for b in ids[i + 1:]
             if (strength := _link(boxes[int(a)], boxes[int(b)], max_gap)) is not None]
    for _, a, b in sorted(pairs, reverse=True):
        x, y = group[a], group[b]
        if x != y and compatible(x, y):
            for t in members[y]:
                group[t] = x
            members[x] += members.pop(y)

    owner: dict[tuple[int, int], int] = {}  # (group, frame) -> the track whose row is kept
    for t in sorted(boxes, key=lambda t: min(boxes[t])):
        for f in boxes[t]:
            owner.setdefault((group[t], f), t)
    keep = np.array([owner[group[int(t)], int(f)] == int(t) for f, t in zip(frame, track_id)], bool)
    numbers: dict[int, int] = {}
    for f, t in sorted(zip(frame[keep], track_id[keep])):
        numbers.setdefault(group[int(t)], len(numbers) + 1)
    return keep, np.array([numbers.get(group[int(t)], 0) for t in track_id])
