"""One track per person: fragments of one person's track joined (`vidcli.perception.fragments`)."""

import numpy as np

from vidcli.perception.fragments import merge_fragments


def walker(frames, start_x: float, speed: float, height: float = 150.0, seed: int = 0) -> np.ndarray:
    """Boxes (F, 4) of a person walking across the image, with a pixel of jitter."""
    frames = np.asarray(frames)
    x = start_x + speed * frames
    jitter = np.random.default_rng(seed).normal(0.0, 1.0, (len(frames), 4))
    return np.stack([x - 25, np.full(len(x), 100.0), x + 25, np.full(len(x), 100.0 + height)], 1) + jitter


def table(*tracks):
    """(frame, track_id, box) of tracks given as (id, frames, boxes)."""
    frame = np.concatenate([np.asarray(f) for _, f, _ in tracks])
    track_id = np.concatenate([np.full(len(f), i) for i, f, _ in tracks])
    box = np.concatenate([b for _, _, b in tracks])
    return frame, track_id, box


def test_a_dancer_split_into_two_overlapping_tracks_is_one():
    """The issue's dancer: track 1 frames 0-76, track 2 frames 27-134, both on her."""
    first, second = np.arange(0, 77), np.arange(27, 135)
    frame, track_id, box = table((1, first, walker(first, 50, 3.0, seed=1)),
                                 (2, second, walker(second, 50, 3.0, seed=2)))
    keep, ids = merge_fragments(frame, track_id, box, max_gap=30)
    assert set(ids[keep]) == {1} and sorted(frame[keep]) == list(range(135))
    assert keep[track_id == 1].all()  # the shared frames keep the earlier track's rows


def test_a_lost_track_continued_by_a_ghost_and_a_new_id_is_one():
    """The orbit clip: track 1 on the person until frame 67, a ghost beside them (track 2, frames 29-45)
    and track 3, a ghost from frame 53 that takes over where track 1 ends."""
    person = np.arange(0, 68)
    ghost = np.arange(29, 42)
    later = np.arange(53, 120)
    later_boxes = walker(later, 40, 3.0, seed=3)
    later_boxes[:10, :2] -= 40  # its first rows cover the person and the floor beside them
    frame, track_id, box = table((1, person, walker(person, 40, 3.0)),
                                 (2, ghost, walker(ghost, 40, 3.0, seed=4) + [-30, 40, 10, 10]),
                                 (3, later, later_boxes))
    keep, ids = merge_fragments(frame, track_id, box, max_gap=30)
    assert set(ids[keep]) == {1} and sorted(frame[keep]) == list(range(120))


def test_different_people_stay_apart():
    """Two people crossing (they touch for a few frames of a long overlap), two walking side by side
    the whole clip, and someone coming in far from where another left, keep their own tracks."""
    frames = np.arange(100)
    crossing = table((1, frames, walker(frames, 50, 4.0)), (2, frames, walker(frames, 450, -4.0, seed=1)))
    together = table((1, frames, walker(frames, 50, 3.0)), (2, frames, walker(frames, 90, 3.0, seed=1)))
    early, late = np.arange(0, 40), np.arange(50, 100)
    elsewhere = table((1, early, walker(early, 50, 3.0)), (2, late, walker(late, 600, -3.0, seed=1)))
    for frame, track_id, box in (crossing, together, elsewhere):
        keep, ids = merge_fragments(frame, track_id, box, max_gap=30)
        assert keep.all() and ids.tolist() == track_id.tolist()
