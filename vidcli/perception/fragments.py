"""One track per person: fragments of one person's track joined after tracking.

A tracker splits a person in four ways, all seen on the synthetic benchmark. The detector finds them
twice for a while (a second landmark pass locks on to the same body), so two tracks run side by side
over one box; a second detection locks on to part of the person or the floor beside them for under a
second (a ghost); or the first track is lost and another id, a ghost until then, or a new one, carries
on where it was; or the person is hidden behind others for longer than the tracker waits and comes
back under a new id. All four are joined here, on the whole video's tracks at once, which the
frame-by-frame tracker cannot do. Two tracks are one person when:

- **side by side**: their boxes overlap, a median IoU of at least `SAME_IOU` over the frames they share;
- **ghost**: the later one lies within the earlier one's span, lasts at most `max_gap` frames and
  touches it (median IoU of at least `TOUCH_IOU`);
- **continued**: the later one starts at most `max_gap` frames after the earlier one ends, or overlaps it
  for at most `max_gap` frames while touching it, and its first box after the earlier one's end is where
  that one, moved on at its last velocity, would be (centre within `REACH` box heights, height within
  `SIZE_RATIO`);
- **found again** (with colours, `feature`): the later one starts after the earlier one ends, however
  long after, at a height within `SIZE_RATIO` and dressed alike: the colour histograms of the earlier
  one's last and the later one's first `LOOK_FRAMES` rows within `REFOUND_DISTANCE` (Hellinger).

Where joined tracks share a frame, the row of the earliest track is kept. A group is only joined
while every pair of its tracks that shares frames is one of these: two people walking together
share their whole time in view, and two people crossing touch for a few frames of a long overlap.

Before joining, with colours, two people who crossed are untangled: where two tracks touch (IoU of at
least `TOUCH_IOU`), the tracker can swap them, each id leaving on the other person. When each track's
colours after the crossing look like the other's before it (by `SWAP_MARGIN` of summed distances),
their rows from the frame that best fits the two looks on are exchanged.

After joining, the frames where a person was hidden (`hidden_boxes`) get boxes: a gap in one person's
track whose boxes on either side lie inside the image (clear of its edges by `EDGE` of its width), so
the person was behind someone or something rather than out of view, is filled by moving the box in a
straight line from one side to the other. The tracker cannot see them there, but they are there.
"""

from __future__ import annotations

import itertools

import numpy as np

from vidcli.geometry.boxes import box_iou
from vidcli.perception.tracker import histogram_distance

SAME_IOU = 0.5
TOUCH_IOU = 0.2
REACH = 0.5
SIZE_RATIO = 1.33
VELOCITY_FRAMES = 5  # the last frames of a track its velocity is measured over
LOOK_FRAMES = 15  # rows of a track its look (mean colour histogram) is taken over, either side of an event
REFOUND_DISTANCE = 0.4  # tuning clips: one person 1.5 s apart up to 0.29, two people at least 0.51
SWAP_MARGIN = 0.1
EDGE = 0.01


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


def _look(features: dict, frames: list) -> np.ndarray:
    """The mean colour histogram of a track's rows in `frames`."""
    return np.mean([features[f] for f in frames], 0)


def _found_again(a: dict, b: dict, look_a: dict, look_b: dict) -> bool:
    """Whether track `b`, which starts after track `a` ends, is `a`'s person by size and colours
    (`look_a`, `look_b`: frame -> colour histogram)."""
    last, first = max(a), min(b)
    height_a, height_b = a[last][3] - a[last][1], b[first][3] - b[first][1]
    if not 1 / SIZE_RATIO <= height_b / max(height_a, 1e-6) <= SIZE_RATIO:
        return False
    tail, head = _look(look_a, sorted(a)[-LOOK_FRAMES:]), _look(look_b, sorted(b)[:LOOK_FRAMES])
    return histogram_distance(tail, head) <= REFOUND_DISTANCE


def _link(boxes: dict, looks: dict | None, x: int, y: int, max_gap: int) -> float | None:
    """How surely tracks `x` and `y` are one person (higher: surer), None if they are not. `boxes`:
    track -> frame -> box; `looks`: track -> frame -> colour histogram, or None."""
    x, y = sorted((x, y), key=lambda t: min(boxes[t]))
    a, b = boxes[x], boxes[y]
    shared = sorted(set(a) & set(b))
    iou = float(np.median([box_iou(a[f][None], b[f][None])[0, 0] for f in shared])) if shared else 0.0
    if shared and iou >= SAME_IOU:
        return 3.0 + iou
    if shared and (iou < TOUCH_IOU or len(shared) > max_gap):
        return None
    if max(b) <= max(a):
        return 2.0 + iou if shared and len(b) <= max_gap else None
    if _continues(a, b, max_gap):
        return 1.0 + iou
    found = looks is not None and not shared and _found_again(a, b, looks[x], looks[y])
    return 0.5 if found else None


def untangle_crossings(frame: np.ndarray, track_id: np.ndarray, box: np.ndarray, feature: np.ndarray,
                       max_gap: int) -> np.ndarray:
    """The track ids (N,) with the tails of two tracks exchanged where they crossed and the tracker
    swapped the people (module docstring); `feature` (N, F): each row's colour histogram."""
    track_id = track_id.copy()
    decided: set[tuple[int, int, int, int]] = set()
    crossings = _crossings(frame, track_id, box, max_gap)
    while crossings:
        crossing = crossings.pop(0)
        decided.add(crossing)
        at = _swap_frame(frame, track_id, feature, *crossing)
        if at is not None:
            a, b = crossing[:2]
            on_a, on_b = (frame >= at) & (track_id == a), (frame >= at) & (track_id == b)
            track_id[on_a], track_id[on_b] = b, a
            crossings = [c for c in _crossings(frame, track_id, box, max_gap) if c not in decided]
    return track_id


def _swap_frame(frame, track_id, feature, a: int, b: int, start: int, end: int) -> int | None:
    """The frame from which tracks `a` and `b`, which touch from `start` to `end`, should be exchanged,
    or None when each looks after the crossing as it did before (or either is too short to tell)."""
    rows_a = {int(f): i for i, f in zip(np.flatnonzero(track_id == a), frame[track_id == a])}
    rows_b = {int(f): i for i, f in zip(np.flatnonzero(track_id == b), frame[track_id == b])}

    def look(rows: dict, frames: list) -> np.ndarray | None:
        return feature[[rows[f] for f in frames]].mean(0) if len(frames) >= VELOCITY_FRAMES else None

    look_a, look_b = (look(rows, sorted(f for f in rows if f < start)[-LOOK_FRAMES:])
                      for rows in (rows_a, rows_b))
    later_a, later_b = (look(rows, sorted(f for f in rows if f > end)[:LOOK_FRAMES])
                        for rows in (rows_a, rows_b))
    if any(x is None for x in (look_a, look_b, later_a, later_b)):
        return None
    kept = histogram_distance(look_a, later_a) + histogram_distance(look_b, later_b)
    swapped = histogram_distance(look_a, later_b) + histogram_distance(look_b, later_a)
    if swapped + SWAP_MARGIN >= kept:
        return None
    # exchanged from the frame on which the rows within the crossing fit the two looks best
    within = [(f, i, look_a, look_b) for f, i in rows_a.items() if start <= f <= end]
    within += [(f, i, look_b, look_a) for f, i in rows_b.items() if start <= f <= end]
    costs = [sum(histogram_distance(feature[i], own if f < at else other) for f, i, own, other in within)
             for at in range(start, end + 2)]
    return start + int(np.argmin(costs))


def _crossings(frame, track_id, box, max_gap) -> list[tuple[int, int, int, int]]:
    """(track a, track b, first frame, last frame) where two tracks touch (IoU at least `TOUCH_IOU`;
    touches less than `max_gap` frames apart are one crossing), earliest first."""
    rows = {int(t): {int(f): i for i, f in zip(np.flatnonzero(track_id == t), frame[track_id == t])}
            for t in np.unique(track_id)}
    crossings = []
    for a, rows_a in rows.items():
        for b, rows_b in rows.items():
            shared = sorted(set(rows_a) & set(rows_b)) if b > a else []
            if not shared:
                continue
            boxes_a, boxes_b = box[[rows_a[f] for f in shared]], box[[rows_b[f] for f in shared]]
            iou = np.array([box_iou(x[None], y[None])[0, 0] for x, y in zip(boxes_a, boxes_b)])
            for f in np.asarray(shared)[iou >= TOUCH_IOU]:
                if crossings and crossings[-1][:2] == (a, b) and f - crossings[-1][3] <= max_gap:
                    crossings[-1] = (a, b, crossings[-1][2], int(f))
                else:
                    crossings.append((a, b, int(f), int(f)))
    return sorted(crossings, key=lambda c: c[2])


def merge_fragments(frame: np.ndarray, track_id: np.ndarray, box: np.ndarray, max_gap: int,
                    feature: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Join fragments of one person: (which rows (N,) to keep, their track ids (N,) renumbered 1, 2, ...
    by first appearance). `frame`, `track_id` (N,), `box` (N, 4) x1, y1, x2, y2, one row per track and
    frame; `feature` (N, F) each row's colour histogram (`vidcli.perception.tracker.colour_histogram`),
    or None to join by boxes alone."""
    if feature is not None:
        track_id = untangle_crossings(frame, track_id, box, feature, max_gap)
    ids = np.unique(track_id)
    boxes = {int(t): {int(f): b for f, b in zip(frame[track_id == t], box[track_id == t])} for t in ids}
    looks = None if feature is None else {
        int(t): {int(f): h for f, h in zip(frame[track_id == t], feature[track_id == t])} for t in ids}
    group = {int(t): int(t) for t in ids}
    members = {int(t): [int(t)] for t in ids}

    def compatible(x: int, y: int) -> bool:
        return all(_link(boxes, looks, a, b, max_gap) is not None for a in members[x] for b in members[y]
                   if set(boxes[a]) & set(boxes[b]))

    pairs = [(strength, int(a), int(b)) for i, a in enumerate(ids) for b in ids[i + 1:]
             if (strength := _link(boxes, looks, int(a), int(b), max_gap)) is not None]
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


def hidden_boxes(frame: np.ndarray, track_id: np.ndarray, box: np.ndarray, size: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, track id, box) of the rows that fill the gaps where a tracked person was hidden (module
    docstring), in an image `size` (width, height)."""
    width, height = size
    margin = EDGE * width
    inside = ((box[:, 0] > margin) & (box[:, 1] > margin) & (box[:, 2] < width - margin)
              & (box[:, 3] < height - margin))
    filled = []
    for t in np.unique(track_id):
        rows = np.flatnonzero(track_id == t)
        rows = rows[np.argsort(frame[rows])]
        for before, after in itertools.pairwise(rows):
            if frame[after] - frame[before] > 1 and inside[before] and inside[after]:
                missing = np.arange(frame[before] + 1, frame[after])
                share = ((missing - frame[before]) / (frame[after] - frame[before]))[:, None]
                boxes = (1 - share) * box[before] + share * box[after]
                filled.append((missing, np.full(len(missing), t), boxes))
    if not filled:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 4))
    return tuple(np.concatenate(parts) for parts in zip(*filled))
