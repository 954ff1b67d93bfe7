"""`vidcli synth`: BVH I/O, retargeting, camera paths, deterministic renders and ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from pycocotools import mask as mask_utils

from conftest import SHARED_DATA
from vidcli import bvh
from vidcli.render.camera import Camera, intrinsics
from vidcli.synth.camera_paths import CAMERA_PATHS, TARGET, camera_path
from vidcli.synth.walk import procedural_walk

MOTION = SHARED_DATA / "motion"
needs_motion = pytest.mark.skipif(not MOTION.is_dir(), reason="no CMU clips in shared/data/motion")


def _assert_same_motion(a: bvh.Motion, b: bvh.Motion) -> None:
    assert a.names == b.names and a.parents == b.parents and a.channels == b.channels
    np.testing.assert_allclose(a.offsets, b.offsets, atol=1e-6)
    np.testing.assert_allclose(a.values, b.values, atol=1e-6)
    assert a.frame_time == pytest.approx(b.frame_time, rel=1e-6)
    for x, y in zip(a.end_sites, b.end_sites):
        assert (x is None) == (y is None) and (x is None or np.allclose(x, y, atol=1e-6))


def test_bvh_round_trip_of_procedural_walk_with_crlf(tmp_path):
    walk = procedural_walk(1.0, 30)
    path = tmp_path / "walk.bvh"
    bvh.write(walk, path)
    crlf = tmp_path / "walk_crlf.bvh"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    again = bvh.parse(crlf)
    _assert_same_motion(walk, again)
    np.testing.assert_allclose(walk.forward_kinematics()[1], again.forward_kinematics()[1], atol=1e-5)


@needs_motion
def test_bvh_round_trip_of_cmu_clips(tmp_path):
    for name in ("02_01.bvh", "jumping_jacks.bvh"):
        motion = bvh.parse(MOTION / name)
        bvh.write(motion, tmp_path / name)
        _assert_same_motion(motion, bvh.parse(tmp_path / name))


@needs_motion
def test_3dsmax_names_become_motionbuilder_names():
    max_named = bvh.parse(MOTION / "jumping_jacks.bvh")
    mb_named = bvh.parse(MOTION / "02_01.bvh")
    assert set(max_named.names) == set(mb_named.names)
    # CMU's rest pose stands about 1.7 m tall on its 0.0564 m unit.
    rest_height = np.ptp(bvh.parse(MOTION / "02_01.bvh").forward_kinematics()[1][0, :, 1]) * bvh.CMU_UNIT_M
    assert 1.3 < rest_height < 2.0


def test_bvh_forward_kinematics_rotates_children():
    walk = procedural_walk(0.1, 10)
    walk.values[:] = 0.0
    arm = walk.index("LeftArm")
    column = sum(len(c) for c in walk.channels[:arm]) + 2  # LeftArm's Zrotation
    walk.values[:, column] = -90.0
    _, positions = walk.forward_kinematics()
    forearm = positions[0, walk.index("LeftForeArm")] - positions[0, arm]
    np.testing.assert_allclose(forearm / np.linalg.norm(forearm), [0, -1, 0], atol=1e-9)


def test_tpose_gives_anny_tpose(anny_body):
    from vidcli.body.anny_model import Phenotype
    from vidcli.body.retarget import _first_offset_descendants as retarget_descendants
    from vidcli.body.retarget import retarget

    walk = procedural_walk(0.1, 10)
    walk.values[:, 3:] = 0.0  # every rotation zero: the skeleton's T-pose
    rest = anny_body.rest(Phenotype(height=0.7))
    rotations, root = retarget(walk, rest, anny_body.bone_names, anny_body.parents)
    _, heads = anny_body.pose(rest, rotations, root)
    _, bvh_positions = walk.forward_kinematics()
    names = [{"LeftHandFinger1": "LeftHandIndex1", "RightHandFinger1": "RightHandIndex1"}.get(n, n)
             for n in anny_body.bone_names]
    checked = 0
    for bone, parent in enumerate(anny_body.parents):
        anny_dir = heads[0, bone] - heads[0, parent] if parent >= 0 else np.zeros(3)
        joint = walk.index(names[bone])
        bvh_dir = walk.offsets[joint]
        if np.linalg.norm(anny_dir) < 0.02 or np.linalg.norm(bvh_dir) < 1e-6:
            continue
        cosine = anny_dir @ bvh_dir / np.linalg.norm(anny_dir) / np.linalg.norm(bvh_dir)
        # A branching joint (hips, chest, hand) is a best fit over its child directions.
        branching = len(retarget_descendants(walk, walk.parents[joint])) > 1
        assert cosine > np.cos(np.radians(20 if branching else 1)), anny_body.bone_names[bone]
        checked += 1
    assert checked >= 20
    wrist = heads[0, anny_body.bone_names.index("LeftHand")]
    shoulder = heads[0, anny_body.bone_names.index("LeftArm")]
    assert abs(wrist[1] - shoulder[1]) < 0.03 and wrist[0] - shoulder[0] > 0.4  # arm straight out to the left


def test_hand_landmarks_are_knuckles(anny_body):
    """BlazePose's pinky, index and thumb points are knuckles, about halfway out from the wrist."""
    from vidcli.body.anny_model import Phenotype
    from vidcli.body.skeletons import BLAZEPOSE_33

    rest = anny_body.rest(Phenotype())
    for side in ("Left", "Right"):
        wrist = rest.heads[anny_body.bone_names.index(f"{side}Hand")]
        hand = np.isin(anny_body.vertex_bone, [anny_body.bone_names.index(f"{side}{b}")
                                               for b in ("FingerBase", "HandFinger1")])
        fingertip = np.linalg.norm(rest.vertices[hand] - wrist, axis=1).max()
        vertex = anny_body.blazepose.vertex
        points = {name: rest.vertices[vertex[BLAZEPOSE_33.index(f"{side.lower()}_{name}")]]
                  for name in ("pinky", "index", "thumb")}
        for name, point in points.items():
            assert 0.3 < np.linalg.norm(point - wrist) / fingertip < 0.65, (side, name)
        assert np.linalg.norm(points["pinky"] - points["index"]) > 0.03


@pytest.mark.parametrize("kind", CAMERA_PATHS)
def test_camera_paths_look_at_the_walking_area(kind):
    frames, size = 40, (320, 180)
    R_wc, t_wc = camera_path(kind, frames, 20.0, np.random.default_rng(0))
    assert R_wc.shape == (frames, 3, 3) and t_wc.shape == (frames, 3)
    np.testing.assert_allclose(R_wc @ R_wc.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R_wc.shape),
                               atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R_wc), 1.0, atol=1e-9)
    K = intrinsics(*size, 60.0)
    for R, t in zip(R_wc, t_wc):
        camera = Camera(K, R, t, *size)
        u, v = camera.project(camera.to_camera(TARGET))
        assert 0 <= u < size[0] and 0 <= v < size[1]
        assert R[:, 1] @ [0, 1, 0] < -0.9  # image down is (roughly) world down
    moved = np.linalg.norm(np.diff(t_wc, axis=0), axis=1).sum() + np.abs(np.diff(R_wc, axis=0)).sum()
    assert (moved == 0) if kind == "static" else (moved > 0.1)


def _options(**changes):
    from vidcli.synth.generate import SynthOptions

    settings = dict(duration=0.3, fps=10, width=192, height=108, people=2, camera="handheld", seed=5)
    settings.update(changes)
    return SynthOptions(**settings)


def test_renders_are_deterministic_per_seed(anny_body):
    from vidcli.synth.generate import Synthesis

    first, second = Synthesis(_options()), Synthesis(_options())
    other = Synthesis(_options(seed=6))
    for index in range(first.options.frames):
        a, b = first.render(index), second.render(index)
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.body, b.body)
    assert not np.array_equal(first.render(0).rgb, other.render(0).rgb)


def test_ground_truth_matches_the_render(tmp_path, anny_body):
    from vidcli.synth.generate import Synthesis, synthesize

    options = _options(people=3, camera="orbit")
    out = tmp_path / "synth.mp4"
    gt = synthesize(out, options)
    assert out.is_file() and gt == tmp_path / "synth.mp4.gt"
    assert sorted(p.name for p in gt.iterdir()) == sorted(
        ["camera.npz", "camera.tum", "tracks.txt", "tracks.npz", "keypoints.npz", "masks.json", "motion.npz",
         "people.json"])
    synthesis = Synthesis(options)  # same seed: the same sequence again
    frames = [synthesis.render(i) for i in range(options.frames)]

    tracks = np.load(gt / "tracks.npz", allow_pickle=False)
    keypoints = np.load(gt / "keypoints.npz", allow_pickle=False)
    masks = json.loads((gt / "masks.json").read_text())["masks"]
    assert len(masks) == len(tracks["frame"]) > 0
    assert len((gt / "tracks.txt").read_text().splitlines()) == len(tracks["frame"])
    for row, entry in enumerate(masks):
        frame, track = int(tracks["frame"][row]), int(tracks["track_id"][row])
        assert (entry["frame"], entry["track_id"]) == (frame, track)
        rendered = frames[frame].body == track - 1
        decoded = mask_utils.decode(entry["rle"]).astype(bool)
        assert np.array_equal(decoded, rendered)
        ys, xs = np.nonzero(decoded)
        np.testing.assert_array_equal(tracks["box"][row], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        points = keypoints["keypoints2d"][row]
        visible = points[:, 2] > 0
        cols, rows_ = points[visible, 0].astype(int), points[visible, 1].astype(int)
        assert np.all(rendered[rows_, cols])  # visible keypoints lie on the person's own pixels
    assert (keypoints["keypoints2d"][..., 2] > 0).mean() > 0.5

    camera = np.load(gt / "camera.npz", allow_pickle=False)
    motion = np.load(gt / "motion.npz", allow_pickle=False)
    assert len(motion["frame"]) == options.frames * options.people
    R, t = camera["R_wc"][motion["frame"]], camera["t_wc"][motion["frame"]]
    world_again = np.einsum("nij,nkj->nki", R, motion["joints_cam"]) + t[:, None]
    np.testing.assert_allclose(world_again, motion["joints_world"], atol=1e-6)
    # A person's pelvis projects inside its box whenever it is seen in full.
    for row in range(len(tracks["frame"])):
        match = np.flatnonzero((motion["frame"] == tracks["frame"][row])
                               & (motion["track_id"] == tracks["track_id"][row]))
        pelvis = camera["K"] @ motion["joints_cam"][match[0], 0]
        u, v = pelvis[:2] / pelvis[2]
        x1, y1, x2, y2 = tracks["box"][row]
        if keypoints["keypoints2d"][row, 23:25, 2].all():
            assert x1 - 2 <= u <= x2 + 2 and y1 - 2 <= v <= y2 + 2
    tum = np.loadtxt(gt / "camera.tum")
    np.testing.assert_allclose(tum[:, 1:4], camera["t_wc"], atol=1e-6)
    people = json.loads((gt / "people.json").read_text())
    assert sorted(people) == ["1", "2", "3"] and people["1"]["bvh"] is None


def test_command_help_and_errors(tmp_path):
    from vidcli.commands.synth import synth
    from vidcli.errors import ConfigError, InputError

    result = CliRunner().invoke(synth, ["--help"])
    assert result.exit_code == 0 and "Example: vidcli synth" in result.output.splitlines()[-1] + result.output
    bad_size = CliRunner().invoke(synth, [str(tmp_path / "a.mp4"), "--size", "big"])
    assert isinstance(bad_size.exception, ConfigError)
    missing = CliRunner().invoke(synth, [str(tmp_path / "a.mp4"), "--bvh", str(tmp_path / "none.bvh")])
    assert isinstance(missing.exception, InputError)


def test_synth_then_eval_through_the_cli(tmp_path, anny_body):
    from conftest import vidcli

    clip = tmp_path / "walk.mp4"
    vidcli("-q", "synth", str(clip), "--people", "1", "--camera", "dolly", "--duration", "0.5",
           "--size", "160x96", "--fps", "10", "--seed", "3", check=True)
    gt = tmp_path / "walk.mp4.gt"
    assert clip.is_file() and sorted(p.name for p in gt.iterdir()) == sorted(
        ["camera.npz", "camera.tum", "tracks.txt", "tracks.npz", "keypoints.npz", "masks.json", "motion.npz",
         "people.json"])
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"
    out = tmp_path / "eval.json"
    vidcli("-q", "eval", str(gt), str(gt), "--json-out", str(out), check=True)
    report = json.loads(out.read_text())
    assert report["stages"]["camera"]["metrics"]["ate_m"] == pytest.approx(0.0, abs=1e-9)
    world = report["stages"]["world"]["metrics"]
    assert world["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert world["gravity_deg"] == pytest.approx(0.0, abs=1e-5)


def test_short_clips_loop_without_a_jump():
    """A clip shorter than the video loops where its pose repeats; a leading T-pose frame is skipped."""
    from vidcli.bvh import axis_rotation
    from vidcli.synth.people import _resample

    period, count = 40, 130  # frames of one cycle and of the clip, whose end is mid-cycle
    angles = np.sin(2 * np.pi * np.arange(count) / period)
    rotations = np.stack([np.stack([axis_rotation(0, 0.6 * a), axis_rotation(2, 0.3 * a)]) for a in angles])
    rotations[0] = np.eye(3)  # the T-pose frame that BVH conversions add
    root = np.stack([np.arange(count) * 0.01, np.full(count, 0.9), np.zeros(count)], axis=1)
    looped, hips = _resample(rotations, root, clip_fps=30, frames=300, fps=30)
    steps = np.abs(np.diff(looped.reshape(300, -1), axis=0)).max(axis=1)
    assert steps.max() < 1.5 * np.abs(np.diff(rotations[1:].reshape(count - 1, -1), axis=0)).max()
    assert np.allclose(np.diff(hips[:, 0]), 0.01)  # the root keeps walking across the seams
    played, _ = _resample(rotations[:100], root[:100], clip_fps=30, frames=90, fps=30)
    assert np.array_equal(played, rotations[:90])  # long enough: played as it is


def test_a_plain_studio_backdrop_is_uniform_but_noisy_with_a_soft_shadow(anny_body):
    """The plain scene: every background pixel of one surface has one colour up to the sensor noise
    (fresh in each frame), and the soft shadow darkens the floor under the person, not far away."""
    from vidcli.synth.generate import Synthesis

    clean = Synthesis(_options(people=1, camera="static", scene="plain"))
    frame = clean.render(0)
    background = frame.body < 0
    floor = background & (np.arange(frame.rgb.shape[0])[:, None] > 0.75 * frame.rgb.shape[0])
    assert floor.any() and np.ptp(frame.rgb[floor], axis=0).max() <= 1
    noisy = Synthesis(_options(people=1, camera="static", scene="plain", noise=3.0))
    first, second = noisy.render(0).rgb.astype(float), noisy.render(1).rgb.astype(float)
    assert 2.5 < np.std(first[floor] - frame.rgb[floor]) < 3.5
    assert not np.array_equal(first[floor], second[floor])

    shaded = Synthesis(_options(people=1, camera="static", scene="plain", shadow=True)).render(0)
    camera = clean.camera(0)
    ground = camera.t_wc + camera.pixel_rays() * frame.depth[..., None]
    feet = clean.people[0].vertices[0][:, [0, 2]].mean(axis=0)
    distance = np.linalg.norm(ground[..., [0, 2]] - feet, axis=-1)
    on_floor = background & (np.abs(ground[..., 1]) < 1e-6)
    near, far = on_floor & (distance < 0.3), on_floor & (distance > 3.0)
    assert near.any() and far.any()
    darker = frame.rgb.astype(float).sum(-1) - shaded.rgb.astype(float).sum(-1)
    assert darker[near].mean() > 20 and np.abs(darker[far]).max() <= 3


def test_long_clips_loop_motion_and_camera_back_and_forth(anny_body):
    """With `loop`, people and camera are computed for one pass and played forwards and backwards:
    the ground truth has a row for every frame, and the frames mirror around each turn."""
    from vidcli.synth.generate import Synthesis, ping_pong
    from vidcli.synth.groundtruth import GroundTruth

    np.testing.assert_array_equal(ping_pong(9, 4), [0, 1, 2, 3, 2, 1, 0, 1, 2])
    options = _options(people=1, camera="pan", duration=1.0, loop=0.4, scene="room")
    synthesis = Synthesis(options)
    assert options.frames == 10 and len(synthesis.people[0].vertices) == options.loop_frames == 4
    np.testing.assert_array_equal(synthesis.R_wc[2], synthesis.R_wc[4])
    np.testing.assert_array_equal(synthesis.render(1).rgb, synthesis.render(5).rgb)
    truth = GroundTruth(synthesis)
    assert len(truth.smpl[0]) == options.frames
    np.testing.assert_array_equal(truth.blazepose[0][7], truth.blazepose[0][1])


def test_scene_options_through_the_cli(tmp_path, anny_body):
    from conftest import vidcli

    clip = tmp_path / "studio.mp4"
    vidcli("-q", "synth", str(clip), "--people", "1", "--camera", "static", "--duration", "0.4", "--size",
           "160x96", "--fps", "10", "--scene", "plain", "--noise", "2", "--shadow", "--crf", "28",
           "--loop", "0.2", check=True)
    assert clip.is_file() and (tmp_path / "studio.mp4.gt" / "motion.npz").is_file()
    bad = vidcli("-q", "synth", str(tmp_path / "b.mp4"), "--scene", "forest")
    assert bad.returncode != 0 and "'forest' is not one of 'textured', 'plain', 'room'" in bad.stderr
