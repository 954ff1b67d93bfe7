"""The embedded tracker and ultralytics' ByteTrack and BoT-SORT on identical simulated detections: two
people crossing, one hidden behind the other for a third of a second, with box noise, misses and false
boxes (`vidcli.evaluation.detections`); each must keep both identities through the crossing (at most
one brief swap over three noise seeds; benchmarks/trackers.py measures them on rendered clips)."""

from __future__ import annotations

import numpy as np
import pytest

from vidcli.evaluation import metrics
from vidcli.evaluation.detections import noisy_detections, tracked_boxes
from vidcli.perception.box_trackers import BoxTracker, confirmed_rows
from vidcli.perception.tracker import Tracker, TrackerSettings

pytest.importorskip("ultralytics")
pytest.importorskip("lap")

FRAMES, FPS = 90, 30


def crossing() -> metrics.Boxes:
    """Person 1 walks right in front; person 2 walks left behind and is hidden while they overlap."""
    rows = []
    for frame in range(FRAMES):
        front = 60 + 5 * frame
        behind = 560 - 5 * frame
        rows.append((frame, 1, [front, 100, front + 60, 280]))
        if abs(front - behind) > 40:  # fully hidden behind person 1 for about 10 frames
            rows.append((frame, 2, [behind, 90, behind + 55, 250]))
    frame, track_id, box = zip(*rows)
    return metrics.Boxes(np.array(frame), np.array(track_id), np.array(box, float))


@pytest.mark.parametrize("name", ["embedded", "bytetrack", "botsort"])
def test_trackers_keep_identities_through_a_crossing(name):
    gt = crossing()
    assert 5 <= FRAMES - (gt.track_id == 2).sum() <= 15
    switches = 0
    for seed in range(3):
        detections = noisy_detections(gt, FRAMES, (640, 360), np.random.default_rng(seed))
        if name == "embedded":
            update = Tracker(TrackerSettings(max_lost=FPS, min_hits=3)).update
        else:
            update = BoxTracker(name, FPS, 0.5).update
        errors = metrics.tracking_errors(gt, tracked_boxes(update, detections, 3))
        assert errors.recall > 0.9 and errors.precision > 0.95 and errors.idf1 > 0.95, (seed, errors)
        assert sorted(errors.track_pairs.values()) == [1, 2], (seed, errors)  # one track per person
        switches += errors.id_switches
    assert switches <= 2


def test_confirmed_rows_drop_short_tracks_and_renumber_by_first_appearance():
    frame = np.array([0, 0, 1, 1, 2, 2, 3])
    track_id = np.array([7, 0, 7, 4, 7, 4, 9])
    rows, numbers = confirmed_rows(frame, track_id, 2)
    assert rows.tolist() == [0, 2, 3, 4, 5] and numbers.tolist() == [1, 1, 2, 1, 2]
