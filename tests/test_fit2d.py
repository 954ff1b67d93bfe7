"""The 2D-only body fit (`vidcli.mocap.fit2d`) and its pose prior (`vidcli.mocap.pose_prior`): a known
walk, posed on the body model and seen only as COCO-17 pixels, is recovered; the body stage takes that
path for a 2D-only keypoints artifact; the shipped prior is the one its recipe makes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidcli.body.models import BodySpec, load_body_model, pose_numpy
from vidcli.body.skeletons import COCO_17, blazepose_sources
from vidcli.engine.stage import Artifact, load_stage, planned_config
from vidcli.evaluation import metrics
from vidcli.io.camera import CameraTrack, write_camera
from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, write_keypoints
from vidcli.io.motion import BODY_JSON, BODY_NPZ, read_body
from vidcli.mocap.pose_prior import PRIOR_FILE, load_pose_prior

FRAMES = 12
K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 180.0], [0.0, 0.0, 1.0]])
TURN = 1.0  # radians: the walker faces the camera turned this far about the vertical


@pytest.fixture(scope="module")
def walker(anny_body):
    """The built-in procedural walk (not one the prior was fitted on) on the average body, turned and
    walking across the view 4 m away: (local rotations, root, joints, COCO-17 pixels)."""
    from vidcli.mocap.fit2d import _FACING_CAMERA, _yaw
    from vidcli.mocap.pose_prior import motion_rotvecs
    from vidcli.body.kinematics import axis_angle_to_matrix
    from vidcli.synth.walk import procedural_walk

    import torch

    model = load_body_model(BodySpec())
    rotvecs = motion_rotvecs(procedural_walk(2.0, 30.0))[10:10 + FRAMES]
    local = np.tile(np.eye(3), (FRAMES, 24, 1, 1))
    local[:, 1:] = axis_angle_to_matrix(torch.from_numpy(rotvecs)).numpy()
    local[:, 0] = _FACING_CAMERA @ _yaw(TURN)
    root = np.stack([np.linspace(-0.4, 0.4, FRAMES), np.full(FRAMES, 0.1), np.full(FRAMES, 4.0)], 1)
    _, joints, landmarks = pose_numpy(model, model.shape(np.zeros(len(model.shape_labels))), local, root)
    uv = landmarks[..., :2] / landmarks[..., 2:] * np.diag(K)[:2] + K[:2, 2]
    sources = blazepose_sources("coco17")
    coco = np.zeros((FRAMES, len(COCO_17), 3))
    coco[:, sources[sources >= 0], :2] = uv[:, sources >= 0]
    coco[..., 2] = 1.0
    return local, root, joints, coco


def test_fit_recovers_a_known_walk_from_noiseless_coco_pixels(walker):
    from vidcli.body.skeletons import as_blazepose33
    from vidcli.mocap.fit2d import fit_track_2d

    local, root, joints, coco = walker
    model = load_body_model(BodySpec())
    options = planned_config(load_stage("body"), {})
    fit = fit_track_2d(model, np.arange(FRAMES), as_blazepose33(coco, "coco17"), K, options)

    pa = metrics.pa_mpjpe(metrics.root_relative(fit.joints), metrics.root_relative(joints))
    assert pa.mean() < 40 and np.median(fit.error_px) < 2.0
    # Placed by the average body's size: the pelvis within 5% of its true depth, facing the right way.
    assert np.abs(fit.root[:, 2] / root[:, 2] - 1).max() < 0.05
    facing = np.einsum("fi,fi->f", fit.local[:, 0, :, 2], local[:, 0, :, 2])
    assert (facing > np.cos(np.radians(25))).all()
    assert np.isnan(fit.error_3d_m).all()


def test_body_stage_fits_a_2d_only_layout(walker, tmp_path):
    *_, coco = walker
    keypoints = tmp_path / "keypoints"
    keypoints.mkdir()
    write_keypoints(keypoints / KEYPOINTS_NPZ, Keypoints(np.arange(FRAMES), np.ones(FRAMES, int), coco,
                                                         np.full(coco.shape, np.nan), "coco17"))
    camera = tmp_path / "camera"
    camera.mkdir()
    write_camera(camera, CameraTrack(K, np.tile(np.eye(3), (FRAMES, 1, 1)), np.zeros((FRAMES, 3)),
                                     np.arange(FRAMES) / 30.0, 640, 360, 30.0, static=True))
    body = load_stage("body")
    out = tmp_path / "body"
    out.mkdir()
    body.run(planned_config(body, {"iterations": 5}), {"keypoints": Artifact(keypoints),
                                                       "camera": Artifact(camera)}, out)
    table = read_body(out / BODY_NPZ)
    assert len(table.frame) == FRAMES and np.isfinite(table.joints_cam).all()
    assert json.loads((out / BODY_JSON).read_text())["tracks"]["1"]["error_3d_m"] is None


def test_prior_prefers_a_walking_pose_to_a_broken_knee():
    prior = load_pose_prior()
    assert len(prior.sources) == 4 and all(len(sha) == 64 for _, _, sha in prior.sources)
    import torch

    mean = torch.from_numpy(prior.mean)[None]
    broken = mean.clone()
    broken[0, 3, 0] -= 1.5  # the left knee (joint 4) bent 86 degrees the wrong way
    assert float(prior.energy(broken)) > 100 * max(float(prior.energy(mean)), 1e-3)


MOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "motion"


@pytest.mark.slow
@pytest.mark.skipif(not MOTION.is_dir(), reason="../shared/data/motion is absent")
def test_shipped_prior_is_the_one_its_sources_give(tmp_path):
    from vidcli.mocap.pose_prior import fit_pose_prior

    shipped = load_pose_prior(PRIOR_FILE)
    refitted = fit_pose_prior([MOTION / name for name, _, _ in shipped.sources])
    assert refitted.sources == shipped.sources
    np.testing.assert_allclose(refitted.mean, shipped.mean, atol=1e-9)
    np.testing.assert_allclose(refitted.precision, shipped.precision, rtol=1e-7)


def test_scale_places_2d_only_people_as_an_average_standing_adult(anny_body):
    from vidcli.backends.people_scale import standing_template, person_translation

    template = standing_template("coco17")
    arms = [COCO_17.index(f"{side}_{part}") for side in ("left", "right") for part in ("elbow", "wrist")]
    assert np.isnan(template[arms]).all() and np.isfinite(np.delete(template, arms, 0)).all()
    ankle, nose = template[COCO_17.index("left_ankle")], template[COCO_17.index("nose")]
    assert 0.7 < ankle[1] < 1.0 and -0.8 < nose[1] < -0.5  # y down: feet below the hips, head above
    # Seen 5 m away, the template is placed back at 5 m from its pixels alone.
    placed = template + [0.3, 0.1, 5.0]
    pixels = placed[:, :2] / placed[:, 2:] * 500.0 + [320.0, 180.0]
    usable = np.isfinite(template).all(-1)
    np.testing.assert_allclose(person_translation(template[usable], pixels[usable], K), [0.3, 0.1, 5.0],
                               atol=1e-6)
