"""The full person tracker: an ultralytics YOLO detector's people (COCO class 0), linked by ultralytics'
own ByteTrack or BoT-SORT (`vidcli.perception.box_trackers`), so the full path uses a maintained tracker.

Ultralytics checkpoints are pickled modules, which can run code when loaded: the file's sha256 is
compared with the registry's before loading, and a file without a matching published digest is
refused unless the user trusts it (`trust_checkpoint`, `--trust-checkpoint`). Rows are the tracker's
detections (their own boxes, not the filtered ones); tracks with fewer than `min_hits` rows are dropped
and ids renumbered in order of first appearance, as the embedded tracker does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcli.io.tracks import Tracks

LOW_SCORE = 0.1  # ByteTrack's second association reads detections down to this score (its track_low_thresh)


class YoloTracker:
    def __init__(self, config):
        from ultralytics import YOLO

        from vidcli.models import registry

        self.config = config
        self.checksum = registry.trusted_pickle(config.yolo_model, config.trust_checkpoint)
        self.model = f"{config.yolo_model}+{config.yolo_tracker}"
        self._detector = YOLO(str(registry.checkpoint_path(config.yolo_model)), task="detect")

    def track(self, frames, out_dir: Path, advance) -> Tracks:
        from vidcli.perception.box_trackers import BoxTracker, confirmed_rows
        from vidcli.perception.fragments import hidden_boxes, merge_fragments
        from vidcli.perception.tracker import colour_histogram

        config = self.config
        tracker_memory = round(config.lost_memory_s * frames.fps)
        tracker = BoxTracker(config.yolo_tracker, tracker_memory, config.min_score,
                             motion_compensation="sparseOptFlow")
        frame, track_id, boxes, scores, features = [], [], [], [], []
        for index in range(len(frames)):
            rgb = frames.read(index)
            bgr = np.ascontiguousarray(rgb[..., ::-1])
            found = self._detector.predict(bgr, classes=[0], conf=LOW_SCORE, imgsz=config.detect_size,
                                           max_det=config.max_people, device=config.device, verbose=False)[0]
            box, score = found.boxes.xyxy.cpu().numpy(), found.boxes.conf.cpu().numpy()
            ids = tracker.update(box, score, bgr)
            frame += [index] * len(ids)
            track_id += ids.tolist()
            boxes.append(box.reshape(-1, 4))
            scores.append(score)
            if config.appearance:
                features += [colour_histogram(rgb, b) for b in box.reshape(-1, 4)]
            advance()
        frame, track_id = np.array(frame, int), np.array(track_id, int)
        boxes, scores = np.concatenate(boxes or [np.zeros((0, 4))]), np.concatenate(scores or [np.zeros(0)])
        rows, numbers = confirmed_rows(frame, track_id, config.min_hits)
        features = np.array(features)[rows] if config.appearance and len(rows) else None
        keep, numbers = merge_fragments(frame[rows], numbers, boxes[rows], tracker_memory, features)
        rows, numbers = rows[keep], numbers[keep]
        hidden_frame, hidden_id, hidden_box = hidden_boxes(frame[rows], numbers, boxes[rows], frames.size)
        frame = np.concatenate([frame[rows], hidden_frame])
        order = np.argsort(frame, kind="stable")  # the hidden rows among the others, in frame order
        return Tracks(frame[order], np.concatenate([numbers, hidden_id])[order],
                      np.concatenate([boxes[rows], hidden_box]).astype(float)[order],
                      np.concatenate([scores[rows], np.zeros(len(hidden_frame))]).astype(float)[order])
