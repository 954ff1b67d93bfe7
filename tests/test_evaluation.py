"""Metrics and `vidcli eval` on hand-made ground truth and runs with known errors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vidcli.commands.evaluate import eval_command
from vidcli.errors import InputError
from vidcli.evaluation import metrics
from vidcli.evaluation.report import evaluate

FPS = 30.0
FRAMES = 120
BLOCK = 10  # frames per foot-contact phase of the synthetic walk


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def planted_foot(frames: np.ndarray, moving_parity: int, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """Forward position of a foot planted in blocks of one parity and moving at `speed` in the others."""
    moving = (frames // BLOCK) % 2 == moving_parity
    position = speed * np.concatenate([[0.0], np.cumsum(moving[:-1])])
    return position, ~moving


def make_person(rng, person: int, camera_R, camera_t) -> dict[str, np.ndarray]:
    """One walking person over FRAMES frames: world and camera joints, GT contact, boxes, keypoints."""
    frames = np.arange(FRAMES)
    template = rng.normal(scale=0.25, size=(24, 3)) + [0, 0.9, 0]
    root = np.stack([0.03 * frames, 0.02 * np.sin(frames / 5), np.full(FRAMES, 2.0 * person)], -1)
    joints = template[None] + root[:, None]
    joints[:, 20:22, 1] += 0.1 * np.sin(frames / 7)[:, None]  # swinging wrists
    contact = np.zeros((FRAMES, 2), bool)
    for side, joint in enumerate(metrics.FOOT_JOINTS):
        forward, contact[:, side] = planted_foot(frames, side, 0.06)
        sideways = np.full(FRAMES, 2.0 * person + 0.2 * side)
        joints[:, joint] = np.stack([forward, np.full(FRAMES, 0.05), sideways], -1)
    joints_cam = np.einsum("fji,fik->fjk", joints - camera_t[:, None], camera_R)
    x1 = 100 + 300 * person + 2 * frames
    box = np.stack([x1, np.full(FRAMES, 100), x1 + 80, np.full(FRAMES, 300)], -1).astype(float)
    keypoints = np.concatenate([rng.uniform(100, 300, (FRAMES, 33, 2)), np.ones((FRAMES, 33, 1))], -1)
    keypoints[:, 30:, 2] = 0.0
    return {"frame": frames, "track_id": np.full(FRAMES, person + 1), "joints_world": joints,
            "joints_cam": joints_cam, "contact": contact, "box": box, "keypoints2d": keypoints,
            "world3d": rng.normal(scale=0.4, size=(FRAMES, 33, 3))}


def make_scene(seed: int = 0, people: int = 2) -> dict[str, dict[str, np.ndarray]]:
    """Arrays of every GT file of formats.md for a moving camera and `people` walkers."""
    rng = np.random.default_rng(seed)
    frames = np.arange(FRAMES)
    camera_R = np.stack([rot_y(0.01 * f) @ rot_x(np.pi) for f in frames])
    camera_t = np.stack([0.02 * frames, np.full(FRAMES, 1.5), -4 + 0.01 * frames], -1)
    camera = {"K": np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]), "R_wc": camera_R, "t_wc": camera_t,
              "timestamps": frames / FPS, "width": np.array(640), "height": np.array(480),
              "fps": np.array(FPS)}
    persons = [make_person(rng, p, camera_R, camera_t) for p in range(people)]
    table = {key: np.concatenate([p[key] for p in persons]) for key in persons[0]}
    n = len(table["frame"])
    tracks = {key: table[key] for key in ("frame", "track_id", "box")} | {"score": np.ones(n)}
    motion = {key: table[key] for key in ("frame", "track_id", "joints_world", "joints_cam", "contact")}
    motion.update(blazepose_world=np.zeros((n, 33, 3)), blazepose_cam=np.zeros((n, 33, 3)),
                  blazepose_valid=np.ones(33, bool), shape=np.zeros((n, 10)))
    keypoints = {"frame": table["frame"], "track_id": table["track_id"], "keypoints2d": table["keypoints2d"],
                 "world3d": table["world3d"]}
    return {"camera.npz": camera, "tracks.npz": tracks, "motion.npz": motion, "keypoints.npz": keypoints}


def write_folder(folder: Path, scene: dict, names=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, arrays in scene.items():
        if names is None or name in names:
            np.savez(folder / name, **arrays)
    return folder


def renumber_and_shuffle(scene: dict, offset: int, seed: int = 1) -> dict:
    """The same content with other track ids and rows in another order, as a tracker would write it."""
    rng = np.random.default_rng(seed)
    out = {"camera.npz": scene["camera.npz"]}
    for name in ("tracks.npz", "motion.npz", "keypoints.npz"):
        arrays = dict(scene[name])
        order = rng.permutation(len(arrays["frame"]))
        out[name] = {k: (v[order] if v.ndim and len(v) == len(order) else v) for k, v in arrays.items()}
        out[name]["track_id"] = out[name]["track_id"] + offset
    return out


@pytest.fixture
def gt(tmp_path) -> Path:
    return write_folder(tmp_path / "walk.gt", make_scene())


# ----- alignment and body metrics -----


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(3)
    source = rng.normal(size=(50, 3))
    rotation = rot_y(0.7) @ rot_x(-0.3)
    target = 2.5 * source @ rotation.T + [1, -2, 3]
    scale, fitted_rotation, translation = metrics.umeyama(source, target)
    assert scale == pytest.approx(2.5)
    np.testing.assert_allclose(fitted_rotation, rotation, atol=1e-9)
    np.testing.assert_allclose(translation, [1, -2, 3], atol=1e-9)
    assert metrics.umeyama(source, target, with_scale=False)[0] == 1.0


def test_world_offset_rotation_and_scale_vanish_after_alignment():
    rng = np.random.default_rng(4)
    person = make_person(rng, 0, np.stack([np.eye(3)] * FRAMES), np.zeros((FRAMES, 3)))
    gt = person["joints_world"]
    shifted = gt + [0.3, 0.0, 0.4]
    assert metrics.mpjpe(shifted, gt).mean() == pytest.approx(500.0)
    for pred in (shifted, 1.3 * gt @ rot_y(0.5).T + [1, 0, -2]):
        assert metrics.wa_mpjpe(pred, gt).max() < 1e-6
        assert metrics.w_mpjpe(pred, gt).max() < 1e-6
        assert metrics.pa_mpjpe(pred, gt).max() < 1e-6
    rigid = gt @ rot_y(-1.0).T + [5, 0, 5]
    assert metrics.rte(rigid[:, 0], gt[:, 0]).max() < 1e-9


def test_windows_cover_every_frame_and_align_separately():
    assert metrics.windows(250, 100) == [slice(0, 100), slice(100, 200), slice(200, 250)]
    gt = np.random.default_rng(5).normal(size=(250, 24, 3))
    pred = gt.copy()
    pred[100:200] += [0, 0, 1]  # each window is aligned on its own, so an offset of one window vanishes
    assert metrics.wa_mpjpe(pred, gt).max() < 1e-9
    assert metrics.w_mpjpe(pred, gt).max() < 1e-9
    drift = gt + np.arange(250)[:, None, None] * [0.001, 0, 0]  # drifts 1 mm/frame
    w_errors = metrics.w_mpjpe(drift, gt)
    assert len(w_errors) == 250
    assert w_errors[:2].max() < 1.0 and w_errors[99] > 90.0  # fitted on the first two frames only


def test_rte_of_a_scaled_straight_walk():
    x = np.linspace(0.0, 10.0, 101)
    gt_root = np.stack([x, np.zeros_like(x), np.zeros_like(x)], -1)
    errors = metrics.rte(1.1 * gt_root, gt_root)  # rigid fit cannot undo the 10 % scale
    expected = 100.0 * np.mean(0.1 * np.abs(x - x.mean())) / 10.0
    assert errors.mean() == pytest.approx(expected)
    assert metrics.rte(gt_root, np.zeros_like(gt_root)) is None


def test_accel_error_and_jitter_known_values():
    frames = np.arange(20)
    gt = np.zeros((20, 24, 3))
    pred = gt.copy()
    pred[..., 0] += 0.001 * (-1.0) ** frames[:, None]  # ±1 mm alternating: second difference 4 mm
    np.testing.assert_allclose(metrics.accel_error(pred, gt, frames), 4.0)
    cubic = np.zeros((20, 24, 3))
    cubic[..., 1] = (0.002 * frames**3 / 6)[:, None]  # third difference 0.002 m per frame³
    np.testing.assert_allclose(metrics.jitter(cubic, frames, FPS), 0.002 * FPS**3 / 10.0)
    gap = np.concatenate([np.arange(10), np.arange(15, 25)])  # differences never span a gap
    assert len(metrics.accel_error(pred, gt, gap)) == 16
    assert len(metrics.jitter(cubic, gap, FPS)) == 14


def test_foot_skating_counts_slides_where_the_true_foot_is_planted():
    frames = np.arange(30)
    truth = np.zeros((30, 24, 3))
    left, right = metrics.FOOT_JOINTS
    truth[:, right, 2] = 0.02 * frames  # the true right foot walks on (0.6 m/s): never in contact ...
    truth[10:20, right, 2] = 0.2  # ... but for frames 10-19, planted
    truth[:, :, 1] += np.where(frames < 25, 0.0, 0.1)[:, None]  # both lifted 10 cm from frame 25
    estimate = truth.copy()
    estimate[:, left, 0] = 0.005 * frames  # the estimated left foot slides 5 mm/frame
    estimate[:, right, 0] = 0.003 * frames  # ... the right one 3 mm/frame
    contact = metrics.foot_contact(truth, frames, FPS)
    assert contact[:25, 0].all() and not contact[25:, 0].any()
    assert contact[10:19, 1].all() and not contact[:10, 1].any() and not contact[20:, 1].any()
    skating = metrics.foot_skating(estimate, truth, frames, FPS)
    assert len(skating) == 24 + 8  # frame pairs with both frames in contact
    np.testing.assert_allclose(np.sort(skating), [3.0] * 8 + [5.0] * 24, atol=1e-9)
    assert not metrics.foot_skating(truth, truth, frames, FPS).any()


def test_gravity_error_is_the_tilt_of_up_in_the_camera_frame():
    turn = metrics.umeyama(np.eye(3), np.random.default_rng(0).normal(size=(3, 3)))[1]
    cameras = np.stack([turn, rot_y(0.3) @ turn])
    tilt = rot_x(0.1)
    np.testing.assert_allclose(metrics.gravity_errors(cameras, cameras), 0.0, atol=1e-6)
    turned = rot_y(1.0) @ cameras  # another heading of the world: no tilt
    np.testing.assert_allclose(metrics.gravity_errors(turned, cameras), 0.0, atol=1e-6)
    np.testing.assert_allclose(metrics.gravity_errors(tilt @ cameras, cameras), np.degrees(0.1), atol=1e-6)


def test_a_still_camera_has_no_scale_error():
    R = np.broadcast_to(np.eye(3), (10, 3, 3))
    turning = np.stack([rot_y(a) for a in np.linspace(0, 0.5, 10)])
    for rotations in (R, turning):
        errors = metrics.camera_errors(rotations, np.zeros((10, 3)), rotations, np.full((10, 3), 2.0))
        assert errors.sim3_scale is None and errors.scale_error_pct is None
    moving = np.linspace([0, 0, 0], [1, 0, 0], 10)
    still_estimate = metrics.camera_errors(R, np.zeros((10, 3)), R, moving)
    assert still_estimate.scale_error_pct is None


def test_hands_are_compared_only_between_the_same_body_model(gt, tmp_path):
    scene = make_scene()
    moved = dict(scene["motion.npz"])
    for key in ("joints_world", "joints_cam"):
        moved[key] = moved[key].copy()
        moved[key][:, list(metrics.HAND_JOINTS)] += [0.0, 0.05, 0.05]  # another model's hand point
    scene["motion.npz"] = moved
    run = write_folder(tmp_path / "run", scene)
    same = evaluate(run, gt)["stages"]["world"]["metrics"]
    assert same["hands"] == "yes" and same["pa_mpjpe_mm"] > 1.0
    (run / "world.json").write_text(json.dumps({"body_model": {"name": "smpl"}}))
    other = evaluate(run, gt)["stages"]["world"]["metrics"]
    assert other["hands"] == "no" and other["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)


def test_tracks_per_person_counts_fragments():
    box = np.array([0.0, 0.0, 50.0, 120.0])
    gt = metrics.Boxes(np.arange(10), np.ones(10, int), np.tile(box, (10, 1)))
    split = metrics.Boxes(np.r_[np.arange(7), np.arange(3, 10)], np.r_[np.full(7, 1), np.full(7, 2)],
                          np.tile(box + [2, 0, 2, 0], (14, 1)))
    assert metrics.tracks_per_person(gt, split) == {1: 2}
    assert metrics.tracks_per_person(gt, gt) == {1: 1}


def test_tracks_per_person_ignores_a_neighbour_matched_to_someone_else():
    """Two people overlapping (IoU 0.82), each followed by their own track: one track per person."""
    front, behind = np.array([0.0, 0.0, 50.0, 120.0]), np.array([5.0, 0.0, 55.0, 120.0])
    frames = np.r_[np.arange(10), np.arange(10)]
    ids = np.r_[np.full(10, 1), np.full(10, 2)]
    gt = metrics.Boxes(frames, ids, np.r_[np.tile(front, (10, 1)), np.tile(behind, (10, 1))])
    run = metrics.Boxes(frames, ids + 6, gt.box + 1.0)
    assert metrics.tracks_per_person(gt, run) == {1: 1, 2: 1}


def test_camera_errors_with_up_to_scale_poses():
    scene = make_scene()["camera.npz"]
    R, t = scene["R_wc"], scene["t_wc"]
    align_rotation = rot_y(1.2)
    pred_R = align_rotation @ R
    pred_t = 2.0 * t @ align_rotation.T + [3, 0, 1]
    errors = metrics.camera_errors(pred_R, pred_t, R, t)
    assert errors.ate_m < 1e-9 and errors.rotation_deg < 1e-5
    assert errors.rpe_trans_m < 1e-9 and errors.rpe_rot_deg < 1e-5
    assert errors.sim3_scale == pytest.approx(0.5)
    assert errors.scale_error_pct == pytest.approx(100.0)
    doubled = metrics.camera_errors(R, 2.0 * t, R, t)
    expected = np.sqrt(np.mean(np.sum((t - t.mean(0)) ** 2, -1)))  # SE(3) cannot undo the doubling
    assert doubled.ate_se3_m == pytest.approx(expected)
    assert doubled.ate_pct == pytest.approx(0.0, abs=1e-9)


# ----- tracks -----


def boxes(rows) -> metrics.Boxes:
    frame, track_id, box = zip(*rows)
    return metrics.Boxes(np.array(frame), np.array(track_id), np.array(box, float))


def two_tracks(frames=20):
    a, b = [0, 0, 100, 150], [300, 0, 350, 50]  # A is 150 px tall, B 50 px
    return [(f, 1, a) for f in range(frames)] + [(f, 2, b) for f in range(frames)], a, b


def test_id_swap_counts_once_per_track_and_swap():
    gt_rows, a, b = two_tracks()
    swapped = [(f, 10 if f < 10 else 11, a) for f in range(20)]
    swapped += [(f, 11 if f < 10 else 10, b) for f in range(20)]
    errors = metrics.tracking_errors(boxes(gt_rows), boxes(swapped))
    assert errors.id_switches == 2  # each GT track changes predicted id once (MOT counting)
    assert errors.recall == 1.0 and errors.precision == 1.0
    assert errors.idf1 == pytest.approx(0.5) and errors.fragmentations == 0  # half of each track keeps its id
    back = [(f, 10 if f < 10 or f >= 15 else 11, a) for f in range(20)]
    back += [(f, 11 if f < 10 or f >= 15 else 10, b) for f in range(20)]
    assert metrics.tracking_errors(boxes(gt_rows), boxes(back)).id_switches == 4
    fragment = [(f, 5 if f < 7 else 6, a) for f in range(20)] + [(f, 7, b) for f in range(20)]
    fragmented = metrics.tracking_errors(boxes(gt_rows), boxes(fragment))
    assert fragmented.id_switches == 1
    assert fragmented.track_pairs == {1: 6, 2: 7}


def test_recall_with_missing_and_misplaced_detections():
    gt_rows, a, b = two_tracks(10)
    pred_rows = [(f, 1, a) for f in range(10) if f not in (2, 3, 4)]
    pred_rows += [(f, 2, b if f else [330, 0, 380, 50]) for f in range(10)]  # frame 0: IoU 0.25
    errors = metrics.tracking_errors(boxes(gt_rows), boxes(pred_rows))
    assert errors.recall == pytest.approx(16 / 20)
    assert errors.tall_recall == pytest.approx(7 / 10)
    assert errors.precision == pytest.approx(16 / 17)
    assert errors.id_switches == 0
    assert errors.fragmentations == 1  # A: matched, lost for frames 2-4, matched again; B is never lost
    assert errors.idf1 == pytest.approx(2 * 16 / (20 + 17))


# ----- report and command -----


def assert_all_zero(values: dict):
    for key, value in values.items():
        if key.endswith(("_m", "_pct", "_deg", "_mm", "_per_frame", "_per_frame2")):
            assert value == pytest.approx(0.0, abs=1e-6), key


def test_perfect_prediction_scores_zero(gt, tmp_path):
    run = write_folder(tmp_path / "run", renumber_and_shuffle(make_scene(), offset=100))
    (run / "scale.json").write_text("{}")  # the camera is metric: the scale stage is scored
    report = evaluate(run, gt)
    stages = report["stages"]
    assert {entry["status"] for entry in stages.values()} == {"ok"}
    assert_all_zero(stages["camera"]["metrics"])
    assert stages["camera"]["metrics"]["sim3_scale"] == pytest.approx(1.0)
    track = stages["track"]["metrics"]
    assert track["idf1"] == 1.0 and track["tracks_per_person"] == 1
    assert track["recall"] == track["recall_tall"] == track["precision"] == track["mota"] == 1.0
    assert track["id_switches"] == 0 and track["matched_tracks"] == 2
    world = stages["world"]
    assert world["pairing"] == "box IoU" and world["metrics"]["people"] == 2
    assert world["metrics"]["frames"] == 2 * FRAMES
    assert_all_zero(world["metrics"])
    assert world["metrics"]["foot_skating_mm_per_frame"] is not None
    assert world["metrics"]["jitter_10m_per_s3"] > 0  # jitter scores the motion itself, not an error
    assert world["metrics"]["gravity_deg"] == pytest.approx(0.0, abs=1e-5)
    assert [(p["gt_track"], p["run_track"]) for p in world["people"]] == [(1, 101), (2, 102)]
    assert stages["keypoints"]["metrics"]["error_px"] == 0.0 and stages["keypoints"]["metrics"]["pck"] == 1.0
    assert stages["keypoints"]["metrics"]["size_ratio"] == pytest.approx(1.0)
    json.dumps(report, allow_nan=False)


def test_size_ratio_of_landmarks_smaller_than_the_person():
    rng = np.random.default_rng(4)
    truth = rng.normal(scale=0.4, size=(3, 33, 3))
    turn = metrics.umeyama(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))[1]
    seen = 0.9 * truth @ turn.T + [0.1, 0.0, 0.2]
    seen[0, 5] = np.nan  # a landmark the model lacks is left out
    seen[2, 2:] = np.nan  # too few landmarks
    ratios = metrics.size_ratios(seen, truth)
    np.testing.assert_allclose(ratios[:2], 1 / 0.9)
    assert np.isnan(ratios[2])


def test_rigidly_moved_world_keeps_aligned_metrics(gt, tmp_path):
    scene = make_scene()
    moved = dict(scene["motion.npz"])
    moved["joints_world"] = moved["joints_world"] @ rot_y(0.8).T + [2, 0, -1]
    scene["motion.npz"] = moved
    report = evaluate(write_folder(tmp_path / "run", scene), gt)
    world = report["stages"]["world"]["metrics"]
    for key in ("wa_mpjpe_mm", "w_mpjpe_mm", "rte_pct", "pa_mpjpe_mm"):
        assert world[key] == pytest.approx(0.0, abs=1e-6), key
    assert world["foot_skating_mm_per_frame"] == pytest.approx(0.0, abs=1e-9)


def write_artifact(stage_dir: Path, key: str, name: str, arrays: dict, finished: str | None, mtime: float):
    folder = stage_dir / key
    folder.mkdir(parents=True)
    np.savez(folder / name, **arrays)
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"finished": finished} if finished else {}))
    os.utime(manifest, (mtime, mtime))


def test_workspace_run_with_missing_stages(gt, tmp_path):
    scene = make_scene()
    camera = scene["camera.npz"]
    wrong = dict(camera, t_wc=camera["t_wc"] + np.random.default_rng(0).normal(size=camera["t_wc"].shape))
    run = tmp_path / "work" / "walk-1a2b3c4d"
    stage_dir = run / "camera"
    # "finished" decides, not the manifest's mtime; an artifact without a manifest is incomplete.
    write_artifact(stage_dir, "aaaa", "camera.npz", camera, "2025-01-02T10:00:00+00:00", mtime=1000)
    write_artifact(stage_dir, "bbbb", "camera.npz", wrong, "2025-01-01T10:00:00+00:00", mtime=2000)
    (stage_dir / "cccc").mkdir()
    np.savez(stage_dir / "cccc" / "camera.npz", **wrong)
    report = evaluate(run, gt)
    stages = report["stages"]
    assert stages["camera"]["status"] == "ok"
    assert stages["camera"]["run_file"].endswith("aaaa/camera.npz")
    assert stages["camera"]["metrics"]["ate_m"] < 1e-9
    for stage in ("track", "world", "keypoints"):
        assert stages[stage]["status"] == "missing" and "metrics" not in stages[stage]
    write_artifact(stage_dir, "dddd", "camera.npz", wrong, None, mtime=time.time())  # no "finished": mtime
    assert evaluate(run, gt)["stages"]["camera"]["run_file"].endswith("dddd/camera.npz")


def test_world_without_tracks_pairs_people_by_id(gt, tmp_path):
    run = write_folder(tmp_path / "run", make_scene(), names={"motion.npz"})
    world = evaluate(run, gt)["stages"]["world"]
    assert world["pairing"] == "same track id" and world["metrics"]["people"] == 2


def test_eval_command_writes_json_and_rejects_bad_paths(gt, tmp_path):
    run = write_folder(tmp_path / "run", make_scene(), names={"camera.npz", "tracks.npz"})
    result = CliRunner().invoke(eval_command, [str(run), str(gt), "--window", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run.eval.json").read_text())
    assert report["window"] == 50 and report["stages"]["world"]["status"] == "missing"
    out = tmp_path / "out.json"
    assert CliRunner().invoke(eval_command, [str(run), str(gt), "--json-out", str(out)]).exit_code == 0
    assert out.is_file()
    for args in ([str(tmp_path / "nope"), str(gt)], [str(run), str(tmp_path)], [str(tmp_path), str(gt)]):
        result = CliRunner().invoke(eval_command, args)
        assert isinstance(result.exception, InputError), args
        assert "\n" not in str(result.exception)
    help_text = CliRunner().invoke(eval_command, ["--help"]).output
    assert help_text.rstrip().splitlines()[-1].strip().startswith("Example: vidcli eval")


def test_camera_prefix_and_unreadable_files(gt, tmp_path):
    camera = make_scene()["camera.npz"]
    short = {key: (value[:100] if value.ndim and len(value) == FRAMES else value)
             for key, value in camera.items()}
    run = write_folder(tmp_path / "run", {"camera.npz": short})
    entry = evaluate(run, gt)["stages"]["camera"]
    assert (entry["run_frames"], entry["gt_frames"], entry["metrics"]["frames"]) == (100, FRAMES, 100)
    assert isinstance(entry["metrics"]["frames"], int)
    assert entry["metrics"]["ate_m"] < 1e-9
    (run / "camera.npz").write_text("not an npz")
    with pytest.raises(InputError, match="cannot read"):
        evaluate(run, gt)
