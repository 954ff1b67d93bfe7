"""People: the tracker, and the track, masks and keypoints stages on photos, synthetic renders and
a video with nobody in it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import FFMPEG, make_clip

from vidcli.engine.pipeline import load_pipeline
from vidcli.engine.stage import Artifact, Source, planned_config
from vidcli.errors import ConfigError
from vidcli.evaluation import metrics
from vidcli.geometry.boxes import box_iou
from vidcli.io import masks as mask_files
from vidcli.io.keypoints import read_keypoints
from vidcli.io.tracks import read_tracks
from vidcli.perception.blazepose import Landmarks, Roi
from vidcli.perception.people import Person, Trail, reach, same_person, silhouette
from vidcli.perception.tracker import Tracker, TrackerSettings
from vidcli.stages import frames as frames_stage
from vidcli.stages import keypoints as keypoints_stage
from vidcli.stages import masks as masks_stage
from vidcli.stages import track as track_stage

ASSETS = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets"


def run_stage(stage, inputs: dict, out_dir: Path, **settings):
    out_dir.mkdir()
    return stage.run(planned_config(stage, settings), inputs, out_dir)


def perceive(video: Path, work: Path, **track_settings) -> dict[str, Path]:
    """frames -> track -> masks -> keypoints through each stage's `run`; the artifact directories."""
    dirs = {name: work / name for name in ("frames", "track", "masks", "keypoints")}
    work.mkdir(exist_ok=True)
    run_stage(frames_stage, {"video": Source(video, "test")}, dirs["frames"])
    frames = Artifact(dirs["frames"])
    run_stage(track_stage, {"frames": frames}, dirs["track"], **track_settings)
    upstream = {"frames": frames, "track": Artifact(dirs["track"])}
    run_stage(masks_stage, upstream, dirs["masks"])
    run_stage(keypoints_stage, upstream, dirs["keypoints"])
    return dirs


def still_clip(image: Path, out: Path, seconds: float = 0.5) -> Path:
    """A 10 fps H.264 clip that shows `image` throughout."""
    subprocess.run([FFMPEG, "-v", "error", "-y", "-loop", "1", "-framerate", "10", "-i", str(image),
                    "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def boxes_of(tracks) -> metrics.Boxes:
    return metrics.Boxes(tracks.frame, tracks.track_id, tracks.box)


def masks_by_frame(path: Path) -> dict[int, np.ndarray]:
    """The masks of a one-person masks file (or a union file) by frame."""
    return {entry["frame"]: mask_files.decode(entry["rle"]) for entry in mask_files.read_masks(path)["masks"]}


# ----- tracker -----


def _crossing(t: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of person A walking right and of person B, smaller (further away), walking left; they
    cross at t = 30."""
    a, b = 100.0 + 5 * t, 400.0 - 5 * t
    return np.array([a - 20, 100, a + 20, 200]), np.array([b - 18, 105, b + 18, 195])


@pytest.mark.parametrize("appearance", [True, False])
def test_tracker_keeps_ids_through_a_crossing_with_occlusion(appearance):
    colours = {"a": np.repeat([1 / 64, 0.0], 64), "b": np.repeat([0.0, 1 / 64], 64)}
    tracker = Tracker(TrackerSettings(max_lost=30, min_hits=3))
    ids = {"a": [], "b": []}
    for t in range(60):
        people = dict(zip("ab", _crossing(t)))
        if 25 <= t < 37:
            del people["b"]  # hidden behind A for 12 frames
        features = np.array([colours[name] for name in people]) if appearance else None
        assigned = tracker.update(np.array(list(people.values())), np.full(len(people), 0.9), features)
        for name, track_id in zip(people, assigned):
            ids[name].append(int(track_id))
    assert set(ids["a"]) == {1} and set(ids["b"]) == {2}
    assert len(ids["b"]) == 48 and tracker.confirmed == {1, 2}


def test_tracker_confirms_only_repeated_confident_detections():
    tracker = Tracker(TrackerSettings(min_hits=3))
    person = np.array([[100.0, 100, 140, 200]])
    glitch = np.array([[300.0, 50, 330, 120]])
    assert tracker.update(np.concatenate([person, glitch]), np.array([0.9, 0.9])).tolist() == [1, 2]
    for _ in range(3):
        assert tracker.update(person, np.array([0.9])).tolist() == [1]
    assert tracker.update(glitch, np.array([0.3])).tolist() == [0]  # weak: continues nothing, starts nothing
    assert tracker.confirmed == {1}


# ----- finding people -----


def _person(box, points) -> Person:
    landmarks = Landmarks(np.asarray(points, float), np.zeros((33, 3)), Roi(0, 0, 1, 0), None)
    return Person(np.asarray(box, float), 0.9, landmarks, None)


def _standing(x: float) -> np.ndarray:
    """33 landmarks (x, y, visibility) of someone 100 px tall, centred on column x: nose at row 20,
    shoulders at 40, feet at 120."""
    rows = np.linspace(20, 120, 33)
    rows[[11, 12]] = 40
    return np.stack([np.full(33, x) + np.tile([-10, 10], 17)[:33], rows, np.ones(33)], axis=1)


def test_finds_with_coinciding_boxes_are_one_person():
    # the landmark model following one of two overlapping people can slide onto the other: its
    # landmarks then differ from theirs, but its box is theirs
    a = _person([40, 10, 80, 125], _standing(60))
    slid = _person([42, 12, 80, 125], _standing(60) + [8, 0, 0])
    beside = _person([70, 10, 110, 125], _standing(90))
    assert same_person(a, slid) and not same_person(a, beside)


def test_silhouettes_stay_within_reach_of_their_landmarks():
    # the segmentation covers two people who touch; the silhouette of the one on the left keeps only them
    probability = np.zeros((150, 200), np.float32)
    probability[5:125, 45:75] = 1.0  # the person at column 60
    probability[5:125, 75:135] = 1.0  # someone behind them, to the right
    points = _standing(60)
    window = reach(points)
    assert window[1] < 5 and window[3] > 120  # the head's top and the feet
    mask = silhouette(probability, window)
    columns = np.flatnonzero(mask.any(axis=0))
    assert columns[0] == 45 and columns[-1] < 85


def _walker(x: float, box=None) -> Person:
    """Someone standing at column x (landmarks of `_standing`), their region centred on their hips."""
    person = _person(box if box is not None else [x - 20, 10, x + 20, 125], _standing(x))
    person.landmarks.next_roi = Roi(x, 80, 140, 0.0)
    return person


def test_hidden_people_are_predicted_from_the_frames_where_they_were_apart():
    # someone walks right at 5 px a frame; in frame 4 they overlap someone and their find slides 25 px
    # towards them: that find does not bend the prediction for frame 7
    trail = Trail()
    for frame in range(4):
        trail.see(_walker(100 + 5 * frame), frame, apart=True)
    trail.see(_walker(145), 4, apart=False)
    trail.hidden = 2
    predicted = trail.predicted(7)
    assert abs(predicted.cx - 135) < 1e-6 and abs(predicted.cy - 80) < 1e-6 and predicted.size == 140
    guesses = trail.guesses(7)
    assert [round(roi.cx) for roi in guesses] == [135, 107, 163]


def test_a_hidden_person_is_found_again_only_near_the_prediction_and_apart_from_the_others():
    trail = Trail()
    for frame in range(4):
        trail.see(_walker(100 + 5 * frame), frame, apart=True)
    trail.hidden = 3
    front = _walker(110, box=[85, 0, 140, 130])  # the person in front, whom they went behind
    assert trail.expects(_walker(135), 6, [front], min_score=0.5)  # seen again, beside the one in front
    assert not trail.expects(_walker(180), 6, [front], min_score=0.5)  # too far from the prediction
    mixed = _walker(135, box=[95, 10, 145, 130])  # mostly the one in front
    assert not trail.expects(mixed, 6, [front], min_score=0.5)
    unsure = _walker(135)
    unsure.score = 0.3
    assert not trail.expects(unsure, 6, [front], min_score=0.5)


def test_people_are_traced_back_to_before_a_search_found_them(tmp_path):
    # frame 0 is empty (the first search finds nobody); the two men of zidane.jpg are there from frame 1,
    # but the next search comes only at frame 6, and each is then followed back to frame 1
    video = tmp_path / "walk-in.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=1280x720:r=10:d=0.1",
                    "-loop", "1", "-framerate", "10", "-t", "0.9", "-i", str(ASSETS / "zidane.jpg"),
                    "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(video)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    run_stage(frames_stage, {"video": Source(video, "test")}, work / "frames")
    run_stage(track_stage, {"frames": Artifact(work / "frames")}, work / "track", detect_every=6)
    tracks = read_tracks(work / "track")
    assert len(np.unique(tracks.track_id)) == 2
    for track_id in (1, 2):
        assert tracks.frame[tracks.track_id == track_id].tolist() == list(range(1, 10))


# ----- stages -----


def test_track_finds_the_people_in_photos(tmp_path):
    # Hand-drawn boxes of the people seen whole enough to box: both men in zidane.jpg (the left one
    # stretches his arm across the frame), the two men in front of the bus in bus.jpg (the two at
    # the picture's edges are cut in half).
    expected = {
        "zidane.jpg": [[120, 195, 990, 720], [745, 40, 1140, 720]],
        "bus.jpg": [[50, 395, 245, 905], [220, 405, 350, 865]],
    }
    for name, people in expected.items():
        dirs = perceive(still_clip(ASSETS / name, tmp_path / f"{name}.mp4"), tmp_path / name)
        tracks = read_tracks(dirs["track"])
        last = tracks.frame == tracks.frame.max()
        iou = box_iou(np.array(people, float), tracks.box[last])
        assert (iou.max(axis=1) >= 0.5).all(), (name, tracks.box[last])
        assert len(np.unique(tracks.track_id)) == 2
        keypoints = read_keypoints(dirs["keypoints"] / "keypoints.npz")
        assert np.array_equal(keypoints.frame, tracks.frame)
        assert np.array_equal(keypoints.track_id, tracks.track_id)


def test_nobody_gives_empty_artifacts(tmp_path):
    dirs = perceive(make_clip(tmp_path / "pattern.mp4", seconds=0.5, size="320x240"), tmp_path)
    tracks = read_tracks(dirs["track"])
    assert len(tracks) == 0 and tracks.box.shape == (0, 4)
    assert (dirs["track"] / "tracks.txt").read_text() == ""
    masks = mask_files.read_masks(dirs["masks"] / "masks.json")
    assert (masks["width"], masks["height"], masks["masks"]) == (320, 240, [])
    union = mask_files.read_masks(dirs["masks"] / "union.json")["masks"]
    assert [entry["frame"] for entry in union] == list(range(5))
    assert not any(mask_files.decode(entry["rle"]).any() for entry in union)
    keypoints = read_keypoints(dirs["keypoints"] / "keypoints.npz")
    assert keypoints.keypoints2d.shape == (0, 33, 3) and keypoints.world3d.shape == (0, 33, 3)


def test_masks_and_keypoints_match_synthetic_ground_truth(tmp_path, anny_body):
    from vidcli.synth.generate import SynthOptions, synthesize

    video = tmp_path / "walk.mp4"
    options = SynthOptions(duration=1.0, fps=10, width=480, height=270, people=1, camera="static", seed=2)
    gt = synthesize(video, options)
    dirs = perceive(video, tmp_path)
    tracks, gt_tracks = read_tracks(dirs["track"]), read_tracks(gt)
    errors = metrics.tracking_errors(boxes_of(gt_tracks), boxes_of(tracks))
    assert errors.recall >= 0.8 and errors.precision == 1.0 and errors.id_switches == 0

    masks = mask_files.read_masks(dirs["masks"] / "masks.json")["masks"]
    assert [(m["frame"], m["track_id"]) for m in masks] == list(zip(tracks.frame.tolist(),
                                                                    tracks.track_id.tolist()))
    gt_masks, union = masks_by_frame(gt / "masks.json"), masks_by_frame(dirs["masks"] / "union.json")
    ious = []
    for entry in masks:
        mask, truth = mask_files.decode(entry["rle"]), gt_masks[entry["frame"]]
        ious.append((mask & truth).sum() / (mask | truth).sum())
        assert np.array_equal(union[entry["frame"]], mask)  # one person: the union is their mask
    assert np.mean(ious) > 0.7

    keypoints = read_keypoints(dirs["keypoints"] / "keypoints.npz")
    gt_keypoints = read_keypoints(gt / "keypoints.npz")
    _, rows, gt_rows = np.intersect1d(keypoints.frame, gt_keypoints.frame, return_indices=True)
    truth = gt_keypoints.keypoints2d[gt_rows]
    distances, within = metrics.keypoint_errors(keypoints.keypoints2d[rows, :, :2], truth[..., :2],
                                                truth[..., 2] > 0.5)
    assert np.median(distances) < 8.0 and within.mean() > 0.7
    hips = keypoints.world3d[:, [23, 24]].mean(axis=1)
    assert np.abs(hips).max() < 0.05  # world landmarks are metric, centred between the hips
    assert 1.2 < np.ptp(keypoints.world3d[..., 1], axis=1).mean() < 2.0  # about a person's height, in metres


def test_embedded_masks_and_keypoints_need_the_embedded_track_artifact(tmp_path):
    from vidcli.errors import InputError
    from vidcli.io.tracks import Tracks, write_tracks

    frames = Artifact(tmp_path / "frames")
    make_clip(tmp_path / "pattern.mp4", seconds=0.2)
    run_stage(frames_stage, {"video": Source(tmp_path / "pattern.mp4", "test")}, frames.path)
    (tmp_path / "track").mkdir()
    one_box = Tracks(np.zeros(1, int), np.ones(1, int), np.array([[1.0, 2, 30, 40]]), np.ones(1))
    write_tracks(tmp_path / "track", one_box)
    upstream = {"frames": frames, "track": Artifact(tmp_path / "track")}
    for stage, name in ((masks_stage, "masks"), (keypoints_stage, "keypoints")):
        with pytest.raises(InputError, match="silhouettes.json|landmarks.npz"):
            run_stage(stage, upstream, tmp_path / name)


def test_track_settings_are_checked():
    for bad in ({"max_people": 0}, {"min_score": 1.5}, {"detect_size": 10}, {"lost_memory_s": -1.0}):
        with pytest.raises(ConfigError, match=f"track.{next(iter(bad))} must lie in"):
            planned_config(track_stage, bad)


def test_perception_pipeline():
    pipeline = load_pipeline("perception")
    assert list(pipeline.stages) == ["frames", "track", "keypoints", "masks"]  # SAM's points read keypoints
    assert pipeline.sources == ["video"] and sorted(pipeline.final_stages) == ["keypoints", "masks"]
    assert pipeline.stages["masks"].inputs == {"frames": "frames", "track": "track", "keypoints": "keypoints"}


def test_mask_files_round_trip(tmp_path):
    mask = np.zeros((7, 9), bool)
    mask[2:5, 3:8] = True
    rle = mask_files.encode(mask)
    assert rle["size"] == [7, 9] and isinstance(rle["counts"], str)
    assert np.array_equal(mask_files.decode(rle), mask)
    path = tmp_path / "masks.json"
    mask_files.write_masks(path, 9, 7, [{"frame": 0, "track_id": 1, "rle": rle}])
    assert json.loads(path.read_text())["masks"][0]["rle"] == rle
