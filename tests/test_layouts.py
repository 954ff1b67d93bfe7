"""Keypoint layouts: the keypoints artifact records its layout (blazepose33, coco17, wholebody133), the
stages downstream read any of them, and the plan refuses a 2D-only layout where a stage needs 3D."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_clip

from vidcli import backends
from vidcli.body.skeletons import BLAZEPOSE_33, COCO_17, WHOLEBODY_133, as_blazepose33
from vidcli.engine import RunOptions, run
from vidcli.engine.pipeline import load_pipeline
from vidcli.engine.store import Workspace
from vidcli.errors import InputError
from vidcli.io.keypoints import Keypoints, read_keypoints, write_keypoints
from vidcli.perception.sides import consistent_legs, legs


def _numbered(count: int, rows: int = 2) -> np.ndarray:
    """(rows, count, 3) points whose x is their index, visible."""
    points = np.zeros((rows, count, 3))
    points[..., 0], points[..., 2] = np.arange(count), 1.0
    return points


def test_keypoints_record_their_layout_and_are_checked(tmp_path):
    path = tmp_path / "keypoints.npz"
    coco = Keypoints(np.arange(2), np.ones(2, int), _numbered(17), np.full((2, 17, 3), np.nan), "coco17")
    write_keypoints(path, coco)
    back = read_keypoints(path)
    assert back.layout == "coco17" and back.keypoints2d.shape == (2, 17, 3)
    np.savez(path, frame=np.arange(2), track_id=np.ones(2), keypoints2d=_numbered(17), world3d=_numbered(17),
             layout=np.array("blazepose33"))
    with pytest.raises(InputError, match="keypoints of shape .2, 17, 3. are not blazepose33"):
        read_keypoints(path)
    np.savez(path, frame=np.arange(2), track_id=np.ones(2), keypoints2d=_numbered(17), world3d=_numbered(17),
             layout=np.array("openpose25"))
    with pytest.raises(InputError, match="unknown keypoint layout 'openpose25'; known: blazepose33, coco17"):
        read_keypoints(path)


def test_layouts_map_onto_the_body_models_blazepose_landmarks():
    coco = Keypoints(np.arange(2), np.ones(2, int), _numbered(17), _numbered(17), "coco17").as_blazepose33()
    for name in COCO_17:
        assert (coco.keypoints2d[:, BLAZEPOSE_33.index(name), 0] == COCO_17.index(name)).all()
    heel = BLAZEPOSE_33.index("left_heel")
    assert np.isnan(coco.keypoints2d[:, heel, :2]).all() and (coco.keypoints2d[:, heel, 2] == 0).all()
    assert np.isnan(coco.world3d[:, heel]).all()
    wholebody = as_blazepose33(_numbered(133), "wholebody133")
    for blazepose, source in (("left_foot_index", "left_big_toe"), ("right_heel", "right_heel"),
                              ("left_index", "left_hand_5"), ("mouth_left", "face_54")):
        assert (wholebody[:, BLAZEPOSE_33.index(blazepose), 0] == WHOLEBODY_133.index(source)).all()
    assert np.isfinite(wholebody).all()


def test_leg_labels_are_made_consistent_in_a_2d_layout():
    """A walker in COCO-17 whose knees and ankles swing; labels swapped in a run of frames are restored."""
    frames = 40
    t = np.arange(frames) / 10.0
    points = np.zeros((frames, 17, 3))
    points[..., 2] = 1.0
    for name, (x, y) in {"left_shoulder": (110, 100), "right_shoulder": (90, 100), "left_hip": (105, 200),
                         "right_hip": (95, 200)}.items():
        points[:, COCO_17.index(name), :2] = np.stack([x + 20 * t, np.full(frames, y)], 1)
    for side, phase in (("left", 0.0), ("right", np.pi)):
        swing = 30 * np.sin(2 * np.pi * 0.5 * t + phase)
        for part, y, reach in (("knee", 260, 0.5), ("ankle", 320, 1.0)):
            points[:, COCO_17.index(f"{side}_{part}"), :2] = np.stack([100 + 20 * t + reach * swing,
                                                                       np.full(frames, y)], 1)
    left, right = legs("coco17")
    assert [COCO_17[i] for i in left] == ["left_knee", "left_ankle"]
    observed = points.copy()
    observed[12:17][:, np.r_[left, right]] = points[12:17][:, np.r_[right, left]]
    fixed, _, swapped = consistent_legs(np.arange(frames), observed, np.full_like(observed, np.nan), "coco17")
    assert swapped[12:17].all() and swapped.sum() == 5
    np.testing.assert_array_equal(fixed, points)


class FlatKeypoints:
    """COCO-17 keypoints at each box's centre, with no 3D: a 2D-only pose estimator."""

    model, checksum, layout = "flat", None, "coco17"

    def __init__(self, config, frames, tracks, track_dir):
        self.tracks = tracks

    def keypoints(self, rows):
        centre = (self.tracks.box[rows, :2] + self.tracks.box[rows, 2:]) / 2
        points = np.repeat(np.concatenate([centre, np.ones((len(rows), 1))], 1)[:, None], 17, axis=1)
        return points, np.full((len(rows), 17, 3), np.nan)


def test_the_mocap_plan_takes_a_2d_only_layout(tmp_path):
    """No stage needs metric 3D points any more: the scale places a 2D-only layout's people as an average
    standing adult and the body fits their pixels alone."""
    flat = backends.register(backends.Backend("keypoints", "flat", FlatKeypoints, description="test"))
    try:
        video = make_clip(tmp_path / "clip.mp4", seconds=0.2)
        pipeline = load_pipeline("mocap", assignments=["keypoints.backend=flat"])
        report = run(pipeline, [{"video": video}], Workspace(tmp_path / "work"), RunOptions(dry_run=True))
        assert report.exit_code == 0
        assert {o.stage for o in report.outcomes} >= {"keypoints", "scale", "body", "world"}
    finally:
        backends.unregister(flat.component, flat.name)
