"""Simulated person detections from ground-truth boxes, to compare trackers on identical input.

The model of a detector (stated, not fitted to one): each visible person is found with probability
1 - `miss`, or 1 - `occluded_miss` when its visible box is under `occluded_below` of the track's median
height (partly hidden people are found less often and less confidently); each box edge moves by
Gaussian noise of `jitter` times the box height; scores are uniform in `score` (in `occluded_score`
for partly hidden people); and `false_per_frame` false boxes a frame (Poisson) of a typical person's
size appear anywhere, scored in `false_score`. Fully hidden people have no ground-truth box and so are
never detected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidcli.evaluation.metrics import Boxes


@dataclass(frozen=True)
class DetectorNoise:
    jitter: float = 0.03
    miss: float = 0.05
    occluded_miss: float = 0.3
    occluded_below: float = 0.7
    score: tuple[float, float] = (0.6, 0.95)
    occluded_score: tuple[float, float] = (0.2, 0.6)
    false_per_frame: float = 0.05
    false_score: tuple[float, float] = (0.1, 0.5)


def noisy_detections(gt: Boxes, frames: int, size: tuple[int, int], rng: np.random.Generator,
                     noise: DetectorNoise = DetectorNoise()) -> list[tuple[np.ndarray, np.ndarray]]:
    """(boxes (N, 4), scores (N,)) per frame, in a random order within each frame."""
    heights = gt.box[:, 3] - gt.box[:, 1]
    typical = {int(t): float(np.median(heights[gt.track_id == t])) for t in np.unique(gt.track_id)}
    person_height = float(np.median(heights)) if len(heights) else size[1] / 3
    detections = []
    for frame in range(frames):
        rows = gt.in_frame(frame)
        boxes, scores = [], []
        for row in rows:
            height = heights[row]
            occluded = height < noise.occluded_below * typical[int(gt.track_id[row])]
            if rng.random() < (noise.occluded_miss if occluded else noise.miss):
                continue
            boxes.append(gt.box[row] + rng.normal(0.0, noise.jitter * height, 4))
            scores.append(rng.uniform(*(noise.occluded_score if occluded else noise.score)))
        for _ in range(rng.poisson(noise.false_per_frame)):
            width = 0.4 * person_height
            x, y = rng.uniform(0, size[0] - width), rng.uniform(0, max(1.0, size[1] - person_height))
            boxes.append(np.array([x, y, x + width, y + person_height]))
            scores.append(rng.uniform(*noise.false_score))
        order = rng.permutation(len(boxes))
        detections.append((np.array(boxes).reshape(-1, 4)[order], np.array(scores)[order]))
    return detections


def tracked_boxes(update, detections, min_hits: int) -> Boxes:
    """The confirmed tracks (at least `min_hits` rows, ids renumbered) that a tracker's `update(boxes,
    scores) -> ids` makes of per-frame detections [(boxes, scores), ...]."""
    from vidcli.perception.box_trackers import confirmed_rows

    frame, track_id, boxes = [], [], []
    for index, (found, scores) in enumerate(detections):
        ids = update(found, scores)
        frame += [index] * len(ids)
        track_id += list(ids)
        boxes.append(found)
    frame, track_id, boxes = np.array(frame, int), np.array(track_id, int), np.concatenate(boxes)
    rows, numbers = confirmed_rows(frame, track_id, min_hits)
    return Boxes(frame[rows], numbers, boxes[rows])
