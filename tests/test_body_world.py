"""Body fitting, the world-frame optimisation and their stages, on synthetic people with exact ground truth.

The people are `vidcli.synth` walkers (the procedural walk retargeted onto Anny), seen by a synth
camera; their BlazePose landmarks projected through it are the keypoints (all visible), and their
SMPL-24 joints the truth. Nothing is rendered.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_clip
from vidcli.engine.stage import Artifact, Source, load_stage, planned_config
from vidcli.errors import ConfigError
from vidcli.evaluation import metrics
from vidcli.io.camera import CameraTrack, write_camera
from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, read_keypoints, write_keypoints
from vidcli.io.motion import BODY_NPZ, read_body, read_motion, write_body

FPS = 30.0
SIZE = (640, 360)
EXACT_FEET = {"feet_3d": True}  # the scenes' 3D landmarks are exact, feet included: fit them all
# ... and metric: the people's size is right, which the camera height's prior would only move (by 5%)
EXACT_WORLD = {**EXACT_FEET, "camera_height": 0.0}


class Scene:
    """Synthetic walkers and a camera: truth and keypoints, written as the artifacts body and world read."""

    def __init__(self, body, count: int, frames: int, camera: str, seed: int):
        from vidcli.render.camera import intrinsics
        from vidcli.synth.camera_paths import camera_path
        from vidcli.synth.groundtruth import foot_contact
        from vidcli.synth.people import make_people

        rng = np.random.default_rng(seed)
        people = make_people(body, count, [], frames, FPS, rng, {})
        self.K = intrinsics(*SIZE, 60.0)
        self.R_wc, self.t_wc = camera_path(camera, frames, FPS, rng)
        self.frames = np.arange(frames)
        self.joints = [body.smpl.positions(p.heads, p.vertices) for p in people]
        self.landmarks = [body.blazepose.positions(p.heads, p.vertices) for p in people]
        self.contact = [foot_contact(points, FPS) for points in self.landmarks]
        self.track_ids = [p.track_id for p in people]

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return np.einsum("fji,fkj->fki", self.R_wc, points - self.t_wc[:, None])

    def keypoints(self) -> Keypoints:
        keypoints2d, world3d = [], []
        for points in self.landmarks:
            cam = self.to_camera(points)
            uv = cam[..., :2] / cam[..., 2:] * np.diag(self.K)[:2] + self.K[:2, 2]
            visible = np.isfinite(uv).all(-1)[..., None].astype(float)
            keypoints2d.append(np.concatenate([uv, visible], axis=-1))
            world3d.append(cam - cam[:, [23, 24]].mean(1, keepdims=True))
        count = len(self.frames)
        return Keypoints(np.tile(self.frames, len(self.track_ids)), np.repeat(self.track_ids, count),
                         np.concatenate(keypoints2d), np.concatenate(world3d))

    def write(self, directory: Path) -> Path:
        """keypoints.npz and a metric camera.npz: what the keypoints, camera and scale artifacts hold."""
        directory.mkdir(parents=True)
        write_keypoints(directory / KEYPOINTS_NPZ, self.keypoints())
        write_camera(directory, CameraTrack(self.K, self.R_wc, self.t_wc, self.frames / FPS, *SIZE, FPS))
        return directory


def run_stage(name: str, inputs: dict[str, Path], out: Path, **settings) -> Path:
    module = load_stage(name)
    out.mkdir(parents=True)
    module.run(planned_config(module, settings), {port: Artifact(path) for port, path in inputs.items()}, out)
    return out


@pytest.fixture(scope="module")
def walk(anny_body, tmp_path_factory):
    """One walker seen by a static camera, with the body stage's fit of it."""
    root = tmp_path_factory.mktemp("walk")
    scene = Scene(anny_body, count=1, frames=45, camera="static", seed=3)
    gt = scene.write(root / "gt")
    body = run_stage("body", {"keypoints": gt, "camera": gt}, root / "body", **EXACT_FEET)
    return scene, gt, body


def test_fit_recovers_known_poses(walk):
    scene, _, body_dir = walk
    body = read_body(body_dir / BODY_NPZ)
    truth = scene.to_camera(scene.joints[0])[body.frame]
    pa = metrics.pa_mpjpe(metrics.root_relative(body.joints_cam), metrics.root_relative(truth))
    assert pa.mean() < 25 and np.median(body.error_px) < 1.0
    # Placed in the camera frame, not just posed: the pelvis within a few centimetres at 7 m.
    assert np.linalg.norm(body.joints_cam - truth, axis=-1).mean() < 0.06


def _compose(body, scene) -> np.ndarray:
    """Joints in the synth world of a body table (camera frame) without any optimisation."""
    R, t = scene.R_wc[body.frame], scene.t_wc[body.frame]
    return np.einsum("fij,fkj->fki", R, body.joints_cam) + t[:, None]


def test_world_removes_jitter_and_skating_and_keeps_a_clean_track(walk, tmp_path):
    scene, gt, body_dir = walk
    clean = read_body(body_dir / BODY_NPZ)
    rng = np.random.default_rng(0)
    noisy_dir = tmp_path / "noisy_body"
    noisy_dir.mkdir()
    (noisy_dir / "body.json").write_text((body_dir / "body.json").read_text())
    t = clean.frame / FPS
    drift = 0.06 * np.sin(2 * np.pi * 1.8 * t)[:, None] * np.array([1.0, 0.0, 0.0])  # feet slide to and fro
    shift = drift + rng.normal(0.0, 0.02, (len(t), 3))  # and jitter
    noisy = read_body(body_dir / BODY_NPZ)
    noisy.translation_cam = noisy.translation_cam + shift
    noisy.joints_cam = noisy.joints_cam + shift[:, None]
    noisy.landmarks_cam = noisy.landmarks_cam + shift[:, None]
    write_body(noisy_dir / BODY_NPZ, noisy)

    results = {}
    for name, source in (("clean", body_dir), ("noisy", noisy_dir)):
        world = run_stage("world", {"body": source, "scale": gt, "keypoints": gt}, tmp_path / f"world_{name}",
                          **EXACT_WORLD)
        results[name] = read_motion(world / "motion.npz")

    noisy_in = _compose(noisy, scene)
    out = results["noisy"]
    jitter_in = metrics.jitter(noisy_in, noisy.frame, FPS).mean()
    assert metrics.jitter(out.joints_world, out.frame, FPS).mean() < 0.3 * jitter_in
    skate_in = metrics.foot_skating(noisy_in, scene.joints[0][noisy.frame], noisy.frame, FPS).mean()
    skate_out = metrics.foot_skating(out.joints_world, scene.joints[0][out.frame], out.frame, FPS).mean()
    assert skate_out < 0.3 * skate_in
    truth = scene.to_camera(scene.joints[0])
    error_in = metrics.mpjpe(noisy.joints_cam, truth).mean()
    assert metrics.mpjpe(out.joints_cam, truth[out.frame]).mean() < 0.5 * error_in
    # The clean track stays where it was (camera frame), and stands on the ground.
    kept = results["clean"]
    assert np.linalg.norm(kept.joints_cam - clean.joints_cam, axis=-1).mean() < 0.02
    soles = kept.blazepose_world[:, [29, 30, 31, 32], 1]
    assert np.abs(np.quantile(soles.min(axis=1), 0.1)) < 0.03 and soles.min() > -0.03


def test_feet_are_fitted_in_2d_only_unless_asked():
    from vidcli.mocap.objectives import SOLES, Observations

    keypoints, world = np.ones((4, 33, 3)), np.zeros((4, 33, 3))
    valid = np.ones(33, bool)
    default = Observations.from_arrays(keypoints, world, valid, 0.25, feet_3d=False)
    feet = np.ravel(SOLES)
    assert (default.weight_3d[:, feet] == 0).all() and (default.weight_2d[:, feet] == 1).all()
    assert (default.weight_3d.sum(1) == 33 - len(feet)).all()
    assert (Observations.from_arrays(keypoints, world, valid, 0.25, feet_3d=True).weight_3d == 1).all()


def test_contact_is_a_keypoint_that_stays_put_in_the_world_while_the_camera_moves():
    from vidcli.mocap.options import WorldOptions
    from vidcli.mocap.world import SOLES, detect_contact
    from vidcli.synth.camera_paths import camera_path

    frames = 30
    K = np.array([[500.0, 0, 320], [0, 500.0, 180], [0, 0, 1]])
    rng = np.random.default_rng(0)
    R_wc, t_wc = camera_path("dolly", frames, FPS, rng)
    # Left foot planted at one world point; right foot sliding 1.5 m/s along x.
    landmarks = np.zeros((frames, 33, 3))
    landmarks[:, SOLES[0]] = [0.3, 0.0, 0.0]
    landmarks[:, SOLES[1]] = np.stack([-0.3 + 1.5 * np.arange(frames) / FPS, np.zeros(frames),
                                       np.zeros(frames)], 1)[:, None]
    camera = np.einsum("fij,fpi->fpj", R_wc, landmarks - t_wc[:, None])  # X_cam = R^T (X - t)
    keypoints = np.ones((frames, 33, 3))
    keypoints[..., :2] = camera[..., :2] / camera[..., 2:] * 500.0 + [320, 180]
    keypoints[..., :2] += rng.normal(0.0, 0.3, (frames, 33, 2))
    # The fit has the planted foot sliding too: the image, not the fit, decides.
    fitted = landmarks.copy()
    fitted[:, SOLES[0], 0] += 0.03 * np.arange(frames)[:, None]  # 0.9 m/s
    contact = detect_contact(fitted, keypoints, np.ones(frames, bool), R_wc, t_wc, K, FPS, WorldOptions())
    assert contact[:, 0].any(axis=1).all()
    assert not contact[:, 1].any()
    # Without keypoints in frames 11-15, frames 9-17 have no evidence (their spans reach in); widened by a
    # frame, the stances on either side end at 9 and start at 17.
    unseen = np.ones(frames, bool)
    unseen[11:16] = False
    hidden = detect_contact(fitted, keypoints, unseen, R_wc, t_wc, K, FPS, WorldOptions())
    assert not hidden[10:17].any() and hidden[[9, 17], 0].all() and hidden[[5, 21], 0].all()


def test_a_stance_broken_for_a_frame_stays_a_stance():
    from vidcli.mocap.world import fill_short_gaps

    contact = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0], bool)[:, None, None]
    assert fill_short_gaps(contact, 1)[:, 0, 0].astype(int).tolist() == [1, 1, 1, 0, 0, 1, 0, 0, 0]
    assert fill_short_gaps(contact, 2)[:, 0, 0].astype(int).tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0]
    assert (fill_short_gaps(contact, 0) == contact).all()


def _angle_from_y(up: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(up[1], -1, 1))))


def _tilted_ups(frames: int, tilt_deg: float, axis: list[float]) -> np.ndarray:
    """(frames, 3) unit up directions tilted `tilt_deg` from world y about `axis`, with 1 degree of jitter."""
    from scipy.spatial.transform import Rotation

    ups = Rotation.from_rotvec(np.radians(tilt_deg) * np.asarray(axis, float)).apply([0.0, 1.0, 0.0])
    jitter = np.random.default_rng(1).normal(0.0, np.radians(1.0), (frames, 3))
    return Rotation.from_rotvec(jitter).apply(np.tile(ups, (frames, 1)))


@pytest.mark.parametrize("camera", ["static", "pan"])
def test_gravity_comes_from_upright_people_and_the_level_camera(camera):
    from vidcli.mocap.options import WorldOptions
    from vidcli.mocap.world import estimate_up
    from vidcli.synth.camera_paths import camera_path

    frames = 90
    R_wc, _ = camera_path(camera, frames, FPS, np.random.default_rng(2))  # level (no roll), y up
    camera_up = -R_wc[:, :, 1].mean(axis=0)
    assert np.degrees(np.arccos(camera_up[1] / np.linalg.norm(camera_up))) > 2  # the camera looks down
    seen = np.ones(frames, bool)
    # Upright walkers: the people's up, not the camera's, even where it leans 2 degrees sideways (the level
    # camera's x axes take that out: all of it where they pan, so they span the ground).
    up, people, _, _ = estimate_up([_tilted_ups(frames, 2.0, [0, 0, 1])] * 2, [seen] * 2, R_wc, FPS,
                                   WorldOptions())
    assert people > 100 and _angle_from_y(up) < (0.5 if camera == "pan" else 2.2)
    # Someone lying down (up horizontal) for 60 frames, then standing for 120: the lying frames weigh
    # nothing (their mean up would be 30 degrees off), the standing ones (turning with the jitter) outweigh
    # the camera's up; nobody upright at all falls back to the camera's up.
    camera_error = _angle_from_y(camera_up / np.linalg.norm(camera_up))
    lying = _tilted_ups(frames, 90.0, [1, 0, 0])
    rising = np.concatenate([lying[:60], _tilted_ups(120, 1.0, [1, 0, 0])])
    up, _, _, _ = estimate_up([rising], [np.ones(180, bool)], R_wc[:1], FPS, WorldOptions())
    assert _angle_from_y(up) < 0.6 * camera_error
    up, people, _, _ = estimate_up([lying], [seen], R_wc, FPS, WorldOptions())
    assert people < 1e-3 and _angle_from_y(up) < camera_error + 0.1


@pytest.fixture(scope="module")
def two_people(anny_body, tmp_path_factory):
    """Two walkers seen by a panning camera, through the body and world stages."""
    root = tmp_path_factory.mktemp("two")
    scene = Scene(anny_body, count=2, frames=30, camera="pan", seed=5)
    gt = scene.write(root / "gt")
    body = run_stage("body", {"keypoints": gt, "camera": gt}, root / "body", iterations=40, **EXACT_FEET)
    world = run_stage("world", {"body": body, "scale": gt, "keypoints": gt}, root / "world", iterations=40,
                      **EXACT_WORLD)
    return scene, world


def test_two_people_share_one_world_frame(two_people):
    scene, world = two_people
    motion = read_motion(world / "motion.npz")
    assert sorted(np.unique(motion.track_id)) == scene.track_ids
    run_joints = np.concatenate([motion.joints_world[motion.track_id == t] for t in scene.track_ids])
    true_joints = np.concatenate(scene.joints)
    aligned = metrics.align(run_joints, true_joints, with_scale=False)  # one rigid motion for both people
    assert np.linalg.norm(aligned - true_joints, axis=-1).mean() < 0.08
    for track_id in scene.track_ids:
        soles = motion.blazepose_world[motion.track_id == track_id][:, [29, 30, 31, 32], 1].min(axis=1)
        assert abs(np.quantile(soles, 0.1)) < 0.04


def test_body_fits_only_the_chosen_tracks(two_people, tmp_path):
    scene, _ = two_people
    gt = tmp_path / "gt"
    scene.write(gt)
    chosen = scene.track_ids[1]
    body = run_stage("body", {"keypoints": gt, "camera": gt}, tmp_path / "body", iterations=5,
                     tracks=str(chosen))
    assert np.unique(read_body(body / "body.npz").track_id).tolist() == [chosen]
    known = ", ".join(map(str, scene.track_ids))
    with pytest.raises(ConfigError, match=f"no track 99; its track ids: {known}"):
        run_stage("body", {"keypoints": gt, "camera": gt}, tmp_path / "other", tracks=f"{chosen},99")
    with pytest.raises(ConfigError, match="track ids separated by commas"):
        planned_config(load_stage("body"), {"tracks": "one"})


def test_export_stage_writes_every_format(two_people, tmp_path):
    from vidcli.io.video import probe

    scene, world = two_people
    video = make_clip(tmp_path / "clip.mp4", seconds=1.0, size=f"{SIZE[0]}x{SIZE[1]}", fps=int(FPS))
    frames = tmp_path / "frames"
    frames.mkdir()
    frames_stage = load_stage("frames")
    frames_stage.run(frames_stage.Config(), {"video": Source(video, "test")}, frames)
    out = run_stage("export", {"frames": frames, "world": world}, tmp_path / "export", video_size=160)
    names = sorted(path.name for path in out.iterdir())
    people = [f"person{t}.{ext}" for t in scene.track_ids for ext in ("bvh", "glb", "npz")]
    assert names == sorted(people + ["index.html", "overlay.mp4", "summary.json", "trajectory.png"])
    assert probe(out / "overlay.mp4").width == 2 * 160
    full = run_stage("export", {"frames": frames, "world": world}, tmp_path / "full", formats="video")
    overlay = probe(full / "overlay.mp4")
    assert (overlay.width, overlay.height) == (2 * SIZE[0], SIZE[1])  # by default the frames' own size
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["people"]) == [str(t) for t in scene.track_ids]
    assert 1.3 < summary["people"]["1"]["height_m"] < 2.1


def test_export_round_trips_bvh_and_glb(walk, tmp_path, anny_body):
    import pygltflib
    import trimesh
    from scipy.spatial.transform import Rotation

    from vidcli import bvh
    from vidcli.body.models import BodySpec, load_body_model
    from vidcli.body.skeletons import SMPL_24, SMPL_24_PARENTS
    from vidcli.mocap.export import amass_arrays, bvh_motion, write_glb

    _, _, body_dir = walk
    body = read_body(body_dir / BODY_NPZ)
    model = load_body_model(BodySpec())
    shape, local, root = body.shape[0], body.rotations, body.translation_cam
    joints = body.joints_cam

    bvh.write(bvh_motion(model, shape, local, root, FPS), tmp_path / "p.bvh")
    back = bvh.parse(tmp_path / "p.bvh")
    assert back.frame_count == len(local) and back.frame_time == pytest.approx(1 / FPS)
    positions = back.forward_kinematics()[1][:, [back.names.index(name) for name in SMPL_24]] / 100
    np.testing.assert_allclose(positions, joints, atol=1e-4)

    write_glb(tmp_path / "p.glb", model, shape, local, root, FPS, (200, 60, 50))
    document = pygltflib.GLTF2().load(str(tmp_path / "p.glb"))
    blob = document.binary_blob()

    def read(index: int, width: int) -> np.ndarray:
        accessor = document.accessors[index]
        view = document.bufferViews[accessor.bufferView]
        start = view.byteOffset + (accessor.byteOffset or 0)
        data = np.frombuffer(blob, np.float32, accessor.count * width, start)
        return data.reshape(accessor.count, width)

    animation = document.animations[0]
    assert len(document.skins[0].joints) == 24 and len(animation.channels) == 25
    frame = len(local) // 2
    rotations, translation = {}, None
    for channel in animation.channels:
        sampler = animation.samplers[channel.sampler]
        if channel.target.path == "rotation":
            rotations[channel.target.node] = Rotation.from_quat(read(sampler.output, 4)[frame]).as_matrix()
        else:
            translation = read(sampler.output, 3)[frame]
    world_rotation, position = {}, {}
    for j, parent in enumerate(SMPL_24_PARENTS):
        offset = np.array(document.nodes[j].translation)
        if parent < 0:
            world_rotation[j], position[j] = rotations[j], translation
        else:
            world_rotation[j] = world_rotation[parent] @ rotations[j]
            position[j] = position[parent] + world_rotation[parent] @ offset
    np.testing.assert_allclose(np.stack([position[j] for j in range(24)]), joints[frame], atol=1e-4)
    mesh = trimesh.load(tmp_path / "p.glb", force="mesh")
    assert len(mesh.vertices) == len(model.rest_mesh(shape)[0])

    arrays = amass_arrays(model, BodySpec(), shape, local, root, body.frame, FPS)
    assert arrays["poses"].shape == (len(local), 72) and arrays["trans"].shape == (len(local), 3)


def _fake_smpl_file(path: Path, seed: int = 0) -> None:
    """A model file with the keys and shapes of the official SMPL ones (6890 vertices, random values):
    vertices scattered around a T-pose skeleton, each skinned rigidly to one joint; the landmark
    vertices that smplx names sit on the right joints."""
    from smplx.vertex_ids import vertex_ids

    from vidcli.body.skeletons import SMPL_24_PARENTS

    rng = np.random.default_rng(seed)
    count = 6890
    skeleton = np.array([
        [0, .9, 0], [.08, .82, 0], [-.08, .82, 0], [0, 1.0, 0], [.1, .45, 0], [-.1, .45, 0], [0, 1.12, 0],
        [.1, .08, 0], [-.1, .08, 0], [0, 1.25, 0], [.1, .02, .12], [-.1, .02, .12], [0, 1.45, 0],
        [.08, 1.38, 0], [-.08, 1.38, 0], [0, 1.6, .03], [.18, 1.4, 0], [-.18, 1.4, 0], [.45, 1.4, 0],
        [-.45, 1.4, 0], [.7, 1.4, 0], [-.7, 1.4, 0], [.78, 1.4, 0], [-.78, 1.4, 0]])
    owner = np.arange(count) % 24
    ids = vertex_ids["smplh"]
    for name, joint in {"nose": 15, "leye": 15, "reye": 15, "lear": 15, "rear": 15, "LHeel": 7, "RHeel": 8,
                        "LBigToe": 10, "RBigToe": 11, "lthumb": 20, "rthumb": 21, "lindex": 22, "rindex": 23,
                        "lpinky": 22, "rpinky": 23}.items():
        owner[ids[name]] = joint
    offsets = rng.normal(0, 0.03, (count, 3))
    regressor = np.zeros((24, count))
    for joint in range(24):
        mine = owner == joint
        offsets[mine] -= offsets[mine].mean(axis=0)
        regressor[joint, mine] = 1 / mine.sum()
    np.savez(path, v_template=skeleton[owner] + offsets, shapedirs=rng.normal(0, 0.01, (count, 3, 10)),
             posedirs=np.zeros((count, 3, 207)), J_regressor=regressor, weights=np.eye(24)[owner],
             kintree_table=np.stack([np.r_[2**32 - 1, SMPL_24_PARENTS[1:]], np.arange(24)]),
             f=np.arange(count - count % 3).reshape(-1, 3))


def test_smpl_model_files_load_and_fit(tmp_path):
    import torch

    from vidcli.body.kinematics import axis_angle_to_matrix
    from vidcli.body.models import load_body_model, pose_numpy
    from vidcli.mocap.export import amass_arrays
    from vidcli.mocap.fitting import fit_track
    from vidcli.mocap.options import FitOptions
    from vidcli.render.camera import intrinsics
    from vidcli.stages import body as body_stage

    _fake_smpl_file(tmp_path / "SMPL_NEUTRAL.npz")
    config = planned_config(body_stage, {"body": "smpl", "body_model_dir": str(tmp_path)})
    spec = body_stage.body_spec(config)
    assert spec.model_file.endswith("SMPL_NEUTRAL.npz")
    model = load_body_model(spec)
    assert model.landmark_valid.sum() == 27  # no eye corners or mouth on SMPL

    rng = np.random.default_rng(1)
    frames = 12
    betas = rng.normal(0, 1, 10)
    pose = rng.normal(0, 0.25, (frames, 24, 3))
    pose[:, 0] = [np.pi, 0.3, 0]  # facing the camera
    local = axis_angle_to_matrix(torch.from_numpy(pose)).numpy()
    root = np.tile([0.2, 0.1, 4.0], (frames, 1))
    _, joints, landmarks = pose_numpy(model, betas, local, root)
    K = intrinsics(*SIZE, 60.0)
    with np.errstate(invalid="ignore"):  # the landmarks SMPL lacks are NaN
        uv = landmarks[..., :2] / landmarks[..., 2:] * np.diag(K)[:2] + K[:2, 2]
    keypoints2d = np.concatenate([uv, np.ones((frames, 33, 1))], axis=-1)
    world3d = landmarks - landmarks[:, [23, 24]].mean(1, keepdims=True)
    fit = fit_track(model, np.arange(frames), keypoints2d, world3d, K, FitOptions(shape_prior=0.1))
    assert metrics.mpjpe(fit.joints, joints).mean() < 30
    assert model.mesh(model.shape(fit.free), fit.local[:2], fit.root[:2]).shape == (2, 6890, 3)
    arrays = amass_arrays(model, spec, model.shape(fit.free), fit.local, fit.root, np.arange(frames), FPS)
    assert arrays["poses"].shape == (frames, 72) and arrays["betas"].shape == (10,)
    assert str(arrays["gender"]) == "neutral"
    # SMPL's own forward pass puts the pelvis where the fit has it.
    vertices_pelvis = arrays["trans"][0] + model.rest_pelvis(arrays["betas"])
    np.testing.assert_allclose(vertices_pelvis, fit.root[0], atol=1e-9)


def test_stage_settings_are_checked(tmp_path):
    from vidcli.stages import body as body_stage
    from vidcli.stages import export as export_stage
    from vidcli.stages import world as world_stage

    with pytest.raises(ConfigError, match="body.body must be one of"):
        planned_config(body_stage, {"body": "star"})
    with pytest.raises(ConfigError, match="needs body_model_dir"):
        planned_config(body_stage, {"body": "smpl"})
    with pytest.raises(ConfigError, match="SMPL_FEMALE"):
        planned_config(body_stage, {"body": "smpl", "body_model_dir": str(tmp_path), "gender": "female"})
    with pytest.raises(ConfigError, match="for the smpl and smplx"):
        planned_config(body_stage, {"body_model_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"world.skate_sigma must lie in \(0, 10\]"):
        planned_config(world_stage, {"skate_sigma": 0.0})
    with pytest.raises(ConfigError, match="formats"):
        planned_config(export_stage, {"formats": "bvh,fbx"})
    assert planned_config(export_stage, {"formats": "glb, bvh"}).formats == "bvh,glb"
    with pytest.raises(ConfigError, match='"page" needs "glb"'):
        planned_config(export_stage, {"formats": "page,video"})
    with pytest.raises(ConfigError, match="export.rig must be one of"):
        planned_config(export_stage, {"rig": "biped"})


def test_mocap_command_plans_the_chain(tmp_path, clip):
    from vidcli.commands.common import Globals
    from vidcli.commands.mocap import mocap

    _fake_smpl_file(tmp_path / "SMPL_MALE.npz")
    options = Globals(tmp_path / "ws", True, 0, True)
    arguments = [str(clip), "--dry-run", "--people", "2", "--body", "smpl", "--body-model-dir", str(tmp_path),
                 "--gender", "male", "--exports", "bvh", "--rig", "ue5"]
    result = CliRunner().invoke(mocap, arguments, obj=options)
    assert result.exit_code == 0, result.output
    stages = ("frames", "track", "masks", "keypoints", "camera", "scale", "body", "world", "export")
    assert all(f'"stage": "{stage}"' in result.output for stage in stages)
    default_rig = CliRunner().invoke(mocap, arguments[:-2], obj=options)
    paths = [{row["stage"]: row["artifact"] for row in json.loads(run.output)["results"]}
             for run in (result, default_rig)]
    assert [stage for stage in stages if paths[0][stage] != paths[1][stage]] == ["export"]  # --rig: only it
    bad = CliRunner().invoke(mocap, [str(clip), "--dry-run", "--body", "smpl"], obj=options)
    assert isinstance(bad.exception, ConfigError) and "needs body_model_dir" in str(bad.exception)


def test_body_reads_a_wholebody_artifact_as_its_blazepose_landmarks(walk, tmp_path):
    """Every BlazePose landmark has a COCO-WholeBody point (big toe, knuckles, 300-W face corners), so the
    same observations in wholebody133 give the same fit."""
    from vidcli.body.skeletons import WHOLEBODY_133, blazepose_sources

    _, gt, body_dir = walk
    blazepose = read_keypoints(gt / KEYPOINTS_NPZ)
    sources = blazepose_sources("wholebody133")
    assert (sources >= 0).all()

    def as_wholebody(points):
        out = np.full((len(points), len(WHOLEBODY_133), 3), np.nan)
        out[:, sources] = points
        return out

    wholebody = tmp_path / "wholebody"
    wholebody.mkdir()
    write_keypoints(wholebody / KEYPOINTS_NPZ, Keypoints(blazepose.frame, blazepose.track_id,
                                                         as_wholebody(blazepose.keypoints2d),
                                                         as_wholebody(blazepose.world3d), "wholebody133"))
    fitted = run_stage("body", {"keypoints": wholebody, "camera": gt}, tmp_path / "body", **EXACT_FEET)
    np.testing.assert_allclose(read_body(fitted / BODY_NPZ).joints_cam,
                               read_body(body_dir / BODY_NPZ).joints_cam, atol=1e-6)


def _as_official_pickle(npz: Path, pkl: Path) -> None:
    """The arrays of `npz` pickled the way the official SMPL files hold them: `shapedirs` a chumpy `Ch`,
    `J_regressor` a scipy sparse matrix (chumpy stood in by a class pickled under its name)."""
    import pickle
    import sys
    import types

    import scipy.sparse

    arrays = dict(np.load(npz))
    chumpy = types.ModuleType("chumpy.ch")
    chumpy.Ch = type("Ch", (), {"__module__": "chumpy.ch"})
    shapedirs = chumpy.Ch()
    shapedirs.__dict__.update(x=arrays["shapedirs"], _dirty_vars=set())
    arrays.update(shapedirs=shapedirs, J_regressor=scipy.sparse.csc_matrix(arrays["J_regressor"]))
    package = types.ModuleType("chumpy")
    package.ch = chumpy
    sys.modules.update({"chumpy": package, "chumpy.ch": chumpy})
    try:
        pkl.write_bytes(pickle.dumps(arrays, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def test_smpl_pickles_are_read_without_running_their_code(tmp_path):
    """A crafted .pkl placed as a body model ran code through smplx's pickle.load (#15.6); the official
    kinds of content (arrays, sparse matrices, chumpy arrays) still load, to the same model."""
    import pickle

    from vidcli.body.smpl_model import SmplModel
    from vidcli.errors import InputError

    _fake_smpl_file(tmp_path / "SMPL_NEUTRAL.npz")
    _as_official_pickle(tmp_path / "SMPL_NEUTRAL.npz", tmp_path / "SMPL_MALE.pkl")
    from_npz = SmplModel("smpl", str(tmp_path / "SMPL_NEUTRAL.npz"), "neutral")
    from_pkl = SmplModel("smpl", str(tmp_path / "SMPL_MALE.pkl"), "male")
    assert np.array_equal(from_pkl.layer.shapedirs.numpy(), from_npz.layer.shapedirs.numpy())
    assert np.array_equal(from_pkl.layer.J_regressor.numpy(), from_npz.layer.J_regressor.numpy())

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    crafted = tmp_path / "SMPL_FEMALE.pkl"
    crafted.write_bytes(pickle.dumps({"v_template": Exploit()}))
    with pytest.raises(InputError, match=r"refused as a body model pickle: it names io\.open"):
        SmplModel("smpl", str(crafted), "female")
    assert not marker.exists()


def test_scene_scale_blends_the_people_size_with_the_camera_height():
    from vidcli.mocap.options import WorldOptions
    from vidcli.mocap.world import scene_scale

    low_camera = np.r_[np.full(20, 0.7), np.full(5, 5.0)]  # the median height, not the outliers
    assert scene_scale(low_camera, WorldOptions(camera_height=1.4, camera_height_weight=0.5)) == \
        pytest.approx(np.sqrt(2.0))
    assert scene_scale(low_camera, WorldOptions(camera_height=1.4, camera_height_weight=1.0)) == \
        pytest.approx(2.0)
    for options in (WorldOptions(camera_height=0.0), WorldOptions(camera_height_weight=0.0)):
        assert scene_scale(low_camera, options) == 1.0
    assert scene_scale(np.full(5, -0.2), WorldOptions()) == 1.0  # a camera below the ground: no evidence


def test_resized_shape_scales_the_body_along_its_height(anny_body):
    import torch

    from vidcli.body.models import BodySpec, load_body_model
    from vidcli.mocap.world import resized_shape

    model = load_body_model(BodySpec())
    free = model.free(np.r_[0.5, 0.3, 0.4, 1.0, np.zeros(len(model.free_scale) - 4)])

    def size(parameters: np.ndarray) -> float:
        joints = model.rest(torch.from_numpy(parameters))[0]
        return float((joints - joints[0]).norm(dim=-1).sum())

    for factor in (0.8, 1.0, 1.15):
        resized = resized_shape(model, free, factor)
        assert size(resized) == pytest.approx(factor * size(free), rel=1e-3)
        assert np.array_equal(resized[1:], free[1:])  # weight, age, gender and the bones are kept
    tallest = resized_shape(model, free, 3.0)  # beyond the height phenotype's reach: its tallest body
    assert size(tallest) < 3.0 * size(free) and tallest[0] == 9.0


def test_ground_contact_scale_stands_a_floating_person_on_the_ground():
    from vidcli.mocap.world import ground_contact_scale

    frames = 60
    heights = np.full((frames, 2, 2), 0.4)
    heights[::2, 0, 0] = 0.5  # the left heel lifts every other frame: the lowest point stays 0.4
    seen = np.ones(frames, bool)
    # Feet 0.4 m above the ground seen from 1.6 m: resized 1.6 / 1.2 about the camera, they reach it.
    assert ground_contact_scale([(heights, seen)], 1.6, FPS, 0.08) == pytest.approx(1.6 / 1.2)
    assert ground_contact_scale([(heights - 0.4, seen)], 1.6, FPS, 0.08) == pytest.approx(1.0)
    # Feet above the camera: no evidence.
    assert ground_contact_scale([(heights + 2.0, seen)], 1.6, FPS, 0.08) == 1.0
    # Feet seen for less than a second: no evidence either; the frames where they are hidden do not count;
    # the segments of one track count together (two of 20 frames: over a second between them).
    assert ground_contact_scale([(heights, np.arange(frames) < FPS - 1)], 1.6, FPS, 0.08) == 1.0
    hidden_low = heights.copy()
    hidden_low[:10] = -0.3
    later = np.arange(frames) >= 10
    assert ground_contact_scale([(hidden_low, later)], 1.6, FPS, 0.08) == pytest.approx(1.6 / 1.2)
    halves = [(heights[:20], seen[:20]), (heights[20:40], seen[20:40])]
    assert ground_contact_scale(halves, 1.6, FPS, 0.08) == pytest.approx(1.6 / 1.2)


def test_a_body_model_without_a_height_parameter_keeps_its_shape(tmp_path):
    """SMPL has no height parameter: the world stage leaves its scene and shapes at their size (factor 1)."""
    from vidcli.body.models import load_body_model
    from vidcli.mocap.world import resized_shape
    from vidcli.stages import body as body_stage

    _fake_smpl_file(tmp_path / "SMPL_NEUTRAL.npz")
    model = load_body_model(body_stage.body_spec(planned_config(body_stage, {"body": "smpl",
                                                                             "body_model_dir": str(tmp_path)})))
    assert "height" not in model.shape_labels
    free = np.linspace(-1, 1, 10)
    np.testing.assert_array_equal(resized_shape(model, free, 1.0), free)
