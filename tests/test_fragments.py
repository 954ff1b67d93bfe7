"""One track per person: fragments of one person's track joined (`vidcli.perception.fragments`)."""

import numpy as np

from vidcli.perception.fragments import hidden_boxes, merge_fragments


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
        feature = np.array([dressed([f], seed=t, noise_seed=f)[0] for f, t in zip(frame, track_id)])
        for colours in (None, feature):
            keep, ids = merge_fragments(frame, track_id, box, max_gap=30, feature=colours)
            assert keep.all() and ids.tolist() == track_id.tolist()


def dressed(frames, seed: int, noise_seed: int = 0) -> np.ndarray:
    """Colour histograms (F, 128) of one person's clothes (`seed`), frame to frame a little different."""
    clothes = np.random.default_rng(seed).dirichlet(np.full(128, 0.3))
    noise = np.random.default_rng(noise_seed).uniform(0.9, 1.1, (len(frames), 128))
    looks = clothes * noise
    return looks / looks.sum(1, keepdims=True)


def test_people_the_tracker_swapped_where_they_crossed_get_their_own_ids_back():
    """The held-out two_dolly clip: two people walk into each other; while they overlap, track 1 covers
    both and track 2 is lost, and each id leaves on the other person."""
    frames = np.arange(120)
    red, blue = walker(frames, 100, 3.0), walker(frames, 400, -2.0, seed=1)
    red_look, blue_look = dressed(frames, seed=1), dressed(frames, seed=2, noise_seed=1)
    meet, part = 64, 73  # track 2 is lost between them, track 1 is on red from `meet` on
    first = (1, frames, np.where((frames < meet)[:, None], blue, red))
    second_frames = frames[(frames < meet) | (frames >= part)]
    second_boxes = np.where((second_frames < meet)[:, None], red[second_frames], blue[second_frames])
    second = (2, second_frames, second_boxes)
    frame, track_id, box = table(first, second)
    on_red = np.concatenate([frames >= meet, second_frames < meet])
    feature = np.where(on_red[:, None], red_look[frame], blue_look[frame])
    keep, ids = merge_fragments(frame, track_id, box, max_gap=30, feature=feature)
    assert keep.all()
    assert len(set(ids[on_red])) == 1 and len(set(ids[~on_red])) == 1 and set(ids) == {1, 2}
    without_colours = merge_fragments(frame, track_id, box, max_gap=30)[1]
    assert len(set(without_colours[on_red])) == 2  # boxes alone cannot tell them apart


def test_a_person_hidden_longer_than_the_tracker_waits_is_found_again_by_colours():
    """The held-out three_handheld clip: a person hidden behind another from frame 42 comes back at frame
    90 under a new id; someone dressed otherwise who comes in later keeps their own track."""
    frames = np.arange(120)
    hidden_before, hidden_after, newcomer = np.arange(0, 42), np.arange(90, 120), np.arange(100, 120)
    frame, track_id, box = table((1, frames, walker(frames, 300, 0.5)),
                                 (2, hidden_before, walker(hidden_before, 200, 1.0, seed=1)),
                                 (3, hidden_after, walker(hidden_after, 200, 1.0, seed=2)),
                                 (4, newcomer, walker(newcomer, 50, 1.0, seed=3)))
    person = {1: 1, 2: 2, 3: 2, 4: 3}
    feature = np.array([dressed([f], seed=person[t], noise_seed=f)[0] for f, t in zip(frame, track_id)])
    keep, ids = merge_fragments(frame, track_id, box, max_gap=30, feature=feature)
    assert keep.all()
    assert ids.tolist() == [{1: 1, 2: 2, 3: 2, 4: 3}[t] for t in track_id]
    assert len(set(merge_fragments(frame, track_id, box, max_gap=30)[1])) == 4  # without colours


def test_a_hidden_person_gets_boxes_and_one_out_of_view_does_not():
    """The tuning three_pan clip: a person walks behind another for 19 frames; the tracker sees nothing
    of them there, but they are there. Someone who leaves the image at its edge and comes back is not
    filled in between."""
    seen = np.concatenate([np.arange(0, 47), np.arange(66, 100)])
    hidden = walker(seen, 100, 2.0)
    edge = np.concatenate([np.arange(0, 20), np.arange(40, 60)])
    left = walker(edge, 30, -1.0, seed=1)  # its box reaches past the left edge at frames 19 and 40
    frame, track_id, box = table((1, seen, hidden), (2, edge, left))
    filled_frame, filled_id, filled_box = hidden_boxes(frame, track_id, box, (640, 360))
    assert filled_frame.tolist() == list(range(47, 66)) and set(filled_id) == {1}
    expected = walker(np.arange(47, 66), 100, 2.0)
    assert np.abs(filled_box - expected).max() < 5.0  # a straight line between the boxes either side


def test_the_keypoints_of_a_hidden_persons_rows_are_not_read():
    """An estimator would read whoever hides the person: their rows get no keypoints (NaN, visibility 0)."""
    from vidcli.stages.keypoints import _seen_keypoints

    from vidcli.io.tracks import Tracks

    class Estimator:
        def keypoints(self, rows):
            self.rows = rows.tolist()
            return np.ones((len(rows), 33, 3)), np.ones((len(rows), 33, 3))

    hidden_in_frame_1 = np.array([0.9, 0.0, 0.8])
    tracks = Tracks(np.array([0, 1, 2]), np.ones(3, int), walker([0, 1, 2], 100, 1.0), hidden_in_frame_1)
    estimator = Estimator()
    keypoints2d, world3d = _seen_keypoints(estimator, tracks)
    assert estimator.rows == [0, 2]
    assert np.isnan(keypoints2d[1, :, :2]).all() and np.isnan(world3d[1]).all()
    assert (keypoints2d[1, :, 2] == 0).all()
    assert (keypoints2d[[0, 2]] == 1).all()
