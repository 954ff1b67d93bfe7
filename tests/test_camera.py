"""Camera geometry (SE3, projection, two-view, dense bundle adjustment), the camera stage on synthetic
clips and the scale stage on synthetic ground truth."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from vidcli.engine.stage import Artifact, Source, planned_config
from vidcli.errors import ConfigError
from vidcli.evaluation import metrics
from vidcli.geometry import se3
from vidcli.geometry.ba import Edges, bundle_adjust
from vidcli.geometry.projection import pixel_rays, project, projection_jacobians, transform
from vidcli.geometry.twoview import essential_pose, homography_poses, rotation_between, triangulate
from vidcli.io import masks as mask_files
from vidcli.io.camera import read_camera
from vidcli.io.keypoints import Keypoints, write_keypoints
from vidcli.slam.correspondence import CELL, correspondences, texture_weight
from vidcli.slam import tracker
from vidcli.slam.tracker import FrameGraph, SlamSettings, calibrate_focal, reconstruct
from vidcli.stages import camera as camera_stage
from vidcli.stages import frames as frames_stage
from vidcli.stages import scale as scale_stage

GRID_K = np.array([[36.0, 0.0, 20.0], [0.0, 36.0, 12.0], [0.0, 0.0, 1.0]])
GRID = (24, 40)  # rows, columns


def grid_rays() -> np.ndarray:
    x, y = np.meshgrid(np.arange(GRID[1]) + 0.5, np.arange(GRID[0]) + 0.5)
    return pixel_rays(np.stack([x, y], -1).reshape(-1, 2), GRID_K)


def synthetic_scene(seed: int = 0, count: int = 6):
    """Keyframe poses (camera <- world) moving sideways and turning a little, inverse depths of a
    slanted, bumpy surface, and exact correspondences between keyframes up to two apart."""
    rng = np.random.default_rng(seed)
    centres = np.stack([[0.12 * k, 0.02 * np.sin(k), 0.04 * k] for k in range(count)])
    poses = se3.inverse(se3.make_pose(se3.so3_exp(rng.normal(0.0, 0.03, (count, 3))), centres))
    rays = grid_rays()
    depth = 2.0 + 0.8 * rays[:, 1] + 0.3 * np.sin(5 * rays[:, 0])
    inv_depth = np.stack([1.0 / (depth * rng.uniform(0.9, 1.1)) for _ in range(count)])
    pairs = [(i, j) for i in range(count) for j in range(count) if i != j and abs(i - j) <= 2]
    source, target = np.array(pairs).T
    T_ji = poses[target] @ se3.inverse(poses[source])
    coords = project(transform(T_ji, rays, inv_depth[source]), GRID_K)
    return poses, inv_depth, Edges(source, target, coords, np.ones(coords.shape[:2]))


# ----- SE3 and projection -----


def test_se3_exp_log_round_trip_adjoint_and_interpolation():
    rng = np.random.default_rng(1)
    tangents = np.concatenate([rng.normal(0, 1.0, (20, 6)), rng.normal(0, 1e-6, (5, 6))])
    tangents[:5, 3:] *= 2.8 / np.linalg.norm(tangents[:5, 3:], axis=1, keepdims=True)  # angles near pi
    T = se3.se3_exp(tangents)
    np.testing.assert_allclose(se3.se3_log(T), tangents, atol=1e-9)
    np.testing.assert_allclose(T[:, :3, :3] @ np.swapaxes(T[:, :3, :3], 1, 2),
                               np.broadcast_to(np.eye(3), (25, 3, 3)),
                               atol=1e-12)
    np.testing.assert_allclose(se3.inverse(T) @ T, np.broadcast_to(np.eye(4), (25, 4, 4)), atol=1e-12)
    xi = rng.normal(0, 0.5, (25, 6))
    np.testing.assert_allclose(T @ se3.se3_exp(xi), se3.se3_exp((se3.adjoint(T) @ xi[..., None])[..., 0]) @ T,
                               atol=1e-10)
    np.testing.assert_allclose(se3.interpolate(T[0], T[1], 0.0), T[0], atol=1e-12)
    np.testing.assert_allclose(se3.interpolate(T[6], T[7], 1.0), T[7], atol=1e-10)
    # exp(xi) for a small xi is I + hat: the first-order term matches the generator
    eps = 1e-7
    generator = (se3.se3_exp(np.array([1.0, 2.0, 3.0, 0.1, 0.2, 0.3]) * eps) - np.eye(4)) / eps
    expected = np.zeros((4, 4))
    expected[:3, :3] = se3.hat(np.array([0.1, 0.2, 0.3]))
    expected[:3, 3] = [1.0, 2.0, 3.0]
    np.testing.assert_allclose(generator, expected, atol=1e-6)


def test_projection_jacobians_match_finite_differences():
    rng = np.random.default_rng(2)
    T = se3.se3_exp(rng.normal(0, 0.3, 6))
    rays = pixel_rays(rng.uniform(0, 40, (7, 2)), GRID_K)
    rho = rng.uniform(0.1, 1.0, 7)
    J_pose, J_depth = projection_jacobians(transform(T, rays, rho), rho, T, GRID_K)
    eps = 1e-6
    numeric = np.zeros_like(J_pose)
    for k in range(6):
        step = np.zeros(6)
        step[k] = eps
        ahead = project(transform(se3.se3_exp(step) @ T, rays, rho), GRID_K)
        behind = project(transform(se3.se3_exp(-step) @ T, rays, rho), GRID_K)
        numeric[..., k] = (ahead - behind) / (2 * eps)
    numeric_depth = (project(transform(T, rays, rho + eps), GRID_K)
                     - project(transform(T, rays, rho - eps), GRID_K)) / (2 * eps)
    np.testing.assert_allclose(J_pose, numeric, atol=1e-6)
    np.testing.assert_allclose(J_depth, numeric_depth, atol=1e-6)


def test_two_view_rotation_essential_pose_and_triangulation():
    poses, inv_depth, edges = synthetic_scene()
    rays = grid_rays()
    first = np.flatnonzero((edges.source == 0) & (edges.target == 2))[0]
    T_20 = poses[2] @ se3.inverse(poses[0])
    rays_2 = pixel_rays(edges.coords[first], GRID_K)
    R, t, inliers = essential_pose(rays, rays_2, 1e-3)
    assert inliers > 0.9 * len(rays)
    np.testing.assert_allclose(R, T_20[:3, :3], atol=1e-6)
    np.testing.assert_allclose(t, T_20[:3, 3] / np.linalg.norm(T_20[:3, 3]), atol=1e-5)
    rho = triangulate(T_20, rays, rays_2, typical=0.5, min_parallax=1e-3)
    np.testing.assert_allclose(rho, inv_depth[0], rtol=1e-6)
    turned = se3.so3_exp(np.array([0.02, -0.05, 0.01]))
    R = rotation_between(rays, rays @ turned.T, np.ones(len(rays)))
    np.testing.assert_allclose(R, turned, atol=1e-12)


# ----- bundle adjustment -----


def test_bundle_adjustment_converges_from_a_perturbed_start():
    poses, inv_depth, edges = synthetic_scene()
    rng = np.random.default_rng(3)
    start = se3.se3_exp(rng.normal(0, 0.02, (len(poses), 6))) @ poses
    start[0] = poses[0]
    fixed = np.arange(len(poses)) == 0
    solution = bundle_adjust(start, inv_depth * rng.uniform(0.7, 1.3, inv_depth.shape), grid_rays(), GRID_K,
                             edges, fixed, iterations=20)
    assert solution.cost < 1e-8
    centres, true_centres = se3.inverse(solution.poses)[:, :3, 3], se3.inverse(poses)[:, :3, 3]
    scale = np.sum(true_centres * centres) / np.sum(centres**2)  # the one gauge freedom left
    np.testing.assert_allclose(scale * centres, true_centres, atol=1e-5)
    np.testing.assert_allclose(solution.poses[:, :3, :3], poses[:, :3, :3], atol=1e-5)
    np.testing.assert_allclose(solution.inv_depth / scale, inv_depth, rtol=1e-4)


def forward_motion_graph(count: int = 8) -> FrameGraph:
    """A frame graph of a camera moving forwards (a dolly) over a bumpy surface, with exact
    correspondences between keyframes up to two apart, seen through GRID_K."""
    rng = np.random.default_rng(1)
    centres = np.stack([[0.01 * np.sin(k), 0.0, 0.25 * k] for k in range(count)])
    poses = se3.inverse(se3.make_pose(se3.so3_exp(rng.normal(0.0, 0.01, (count, 3))), centres))
    rays = grid_rays()
    inv_depth = 1.0 / (4.0 + 2.0 * np.abs(rays[:, 1]) + 0.5 * np.sin(7 * rays[:, 0]))
    graph = FrameGraph(GRID[1] * CELL, GRID[0] * CELL, keyframes=list(range(0, 5 * count, 5)))
    for i in range(count):
        for j in range(max(0, i - 2), min(count, i + 3)):
            if i != j:
                coords = project(transform(poses[j] @ se3.inverse(poses[i]), rays, inv_depth), GRID_K)
                graph.link(i, j, coords, np.ones(len(rays)))
    return graph


@pytest.mark.parametrize("start", [1.15, 0.87])
def test_focal_sweep_calibrates_a_forward_moving_camera(start):
    true_K = np.diag([CELL, CELL, 1.0]) @ GRID_K
    start_K = true_K.copy()
    start_K[0, 0] = start_K[1, 1] = start * true_K[0, 0]
    K, scene, tried = calibrate_focal(forward_motion_graph(), start_K, SlamSettings())
    assert abs(K[0, 0] / true_K[0, 0] - 1) < 0.01, tried
    assert K[1, 1] == K[0, 0] and scene.cost == min(cost for _, cost in tried)


def floor_graph(count: int = 6):
    """A frame graph of a camera pitched down at a flat floor 1.5 below it (y down), moving back, up
    and sideways and turning a little, with exact correspondences between keyframes up to two apart,
    seen through GRID_K; the true keyframe poses (camera <- world, the first camera is the world) and
    the floor's normal in the first camera."""
    rng = np.random.default_rng(7)
    angle = np.linspace(0.0, 2.0, count)
    centres = np.stack([0.15 * np.sin(angle), -0.3 * np.sin(angle / 2), -0.25 * angle], 1)
    turns = se3.so3_exp(rng.normal(0.0, 0.02, (count, 3))) @ se3.so3_exp(np.array([-0.15, 0.0, 0.0]))
    world_from_camera = se3.make_pose(turns, centres)
    rays = grid_rays()
    graph = FrameGraph(GRID[1] * CELL, GRID[0] * CELL, keyframes=list(range(0, 5 * count, 5)))
    for i in range(count):
        normal = turns[i].T @ np.array([0.0, 1.0, 0.0])  # the floor's normal in camera i
        inv_depth = np.maximum(rays @ normal / (1.5 - centres[i, 1]), 1 / 30)
        for j in range(max(0, i - 2), min(count, i + 3)):
            if i != j:
                T_ji = se3.inverse(world_from_camera[j]) @ world_from_camera[i]
                coords = project(transform(T_ji, rays, inv_depth), GRID_K)
                graph.link(i, j, coords, np.ones(len(rays)))
    poses = se3.inverse(world_from_camera) @ world_from_camera[0]
    return graph, poses, turns[0].T @ np.array([0.0, 1.0, 0.0])


def test_a_floors_twin_motion_is_rejected(monkeypatch):
    """A view of one plane fits a twin motion (translation along the plane's normal) as well as the
    true one; when the essential matrix picks the twin, the homography's other pose and a third view
    still give the true motion."""
    graph, poses, floor_normal = floor_graph()
    rays = grid_rays()
    coords, _ = graph.edge(0, 1)
    candidates = homography_poses(rays, pixel_rays(coords, GRID_K), 1e-3)
    T_10 = poses[1]
    true_t = T_10[:3, 3] / np.linalg.norm(T_10[:3, 3])
    errors = [(np.abs(R - T_10[:3, :3]).max(), t @ true_t) for R, t in candidates]
    assert len(candidates) == 2 and sum(e < 1e-3 and cos > 0.999 for e, cos in errors) == 1, errors
    twin = next((R, t) for (R, t), (e, _) in zip(candidates, errors) if e > 1e-3)
    assert abs(twin[1] @ floor_normal) > 0.9

    monkeypatch.setattr(tracker, "essential_pose", lambda rays_a, rays_b, threshold: (*twin, len(rays_a)))
    scene = reconstruct(graph, np.diag([CELL, CELL, 1.0]) @ GRID_K, SlamSettings(), len(poses))
    assert scene.cost < 1e-6
    np.testing.assert_allclose(scene.poses[:, :3, :3], poses[:, :3, :3], atol=1e-5)


def test_cells_without_parallax_start_at_the_typical_depth():
    """Cells that the first pair cannot triangulate (a sky whose flow, filled in from around, puts it
    behind the camera; it has no weight) take the typical inverse depth of the others, not one inflated
    by the first translation's arbitrary length."""
    graph, poses, _ = floor_graph()
    sky = grid_rays()[:, 1] < -0.2
    for (i, j), (coords, weight) in list(graph.edges.items()):
        T_ji = poses[j] @ se3.inverse(poses[i])
        behind = project(transform(T_ji, grid_rays(), np.full(len(sky), -0.3)), GRID_K)
        graph.link(i, j, np.where(sky[:, None], behind, coords), weight * ~sky)
    scene = reconstruct(graph, np.diag([CELL, CELL, 1.0]) @ GRID_K, SlamSettings(), len(poses))
    typical = np.median(scene.inv_depth[0][~sky])
    np.testing.assert_allclose(scene.inv_depth[0][sky], typical, rtol=0.5)


def test_masked_cells_do_not_influence_bundle_adjustment():
    poses, inv_depth, edges = synthetic_scene(seed=4)
    rng = np.random.default_rng(5)
    start = se3.se3_exp(rng.normal(0, 0.01, (len(poses), 6))) @ poses
    start[0] = poses[0]
    fixed = np.arange(len(poses)) == 0
    rows = np.arange(GRID[0] * GRID[1]) // GRID[1]
    columns = np.arange(GRID[0] * GRID[1]) % GRID[1]
    person = (rows > 6) & (rows < 20) & (columns > 15) & (columns < 24)
    edges.weight[:, person] = 0.0  # what a people mask does to the correspondences
    clean = bundle_adjust(start, inv_depth, grid_rays(), GRID_K, edges, fixed, iterations=10)
    moving = Edges(edges.source, edges.target, edges.coords.copy(), edges.weight)
    moving.coords[:, person] += rng.normal(0, 3.0, moving.coords[:, person].shape)  # someone walking there
    corrupted = bundle_adjust(start, inv_depth, grid_rays(), GRID_K, moving, fixed, iterations=10)
    np.testing.assert_array_equal(corrupted.poses, clean.poses)
    np.testing.assert_array_equal(corrupted.inv_depth, clean.inv_depth)
    np.testing.assert_allclose(clean.poses[:, :3, :3], poses[:, :3, :3], atol=1e-5)


def test_people_masks_zero_the_confidence_of_their_flow():
    rng = np.random.default_rng(6)
    height, width = 96, 128
    grey = (rng.uniform(0, 255, (height, width))).astype(np.uint8)
    forward = np.full((height, width, 2), [3.0, 1.0], np.float32)
    backward = -forward
    mask = np.zeros((height, width), bool)
    mask[32:64, 48:80] = True
    forward_corrupt = forward.copy()
    forward_corrupt[mask] = rng.normal(0, 10, (mask.sum(), 2))
    texture = texture_weight(grey)
    coords, weight = correspondences(forward, backward, mask, mask, texture)
    coords_c, weight_c = correspondences(forward_corrupt, backward, mask, mask, texture)
    cell_rows, cell_columns = np.divmod(np.arange(len(weight)), width // CELL)
    inside = (cell_rows >= 4) & (cell_rows < 8) & (cell_columns >= 6) & (cell_columns < 10)
    assert np.all(weight[inside] == 0) and np.all(weight_c[inside] == 0)
    np.testing.assert_array_equal(weight_c, weight)
    clear = weight > 0
    np.testing.assert_allclose(coords_c[clear], coords[clear])
    centres = np.stack(np.divmod(np.arange(len(weight)), width // CELL)[::-1], 1) + 0.5
    np.testing.assert_allclose(coords[clear] - centres[clear],
                               np.broadcast_to([3 / CELL, 1 / CELL], (clear.sum(), 2)),
                               atol=1e-5)


# ----- the frame graph's edge cases -----


class CountingFlow:
    """DIS flow that counts how often it is asked for a flow field."""

    def __init__(self):
        from types import SimpleNamespace

        from vidcli.backends.dis import DisFlow

        self.dis, self.calls = DisFlow(SimpleNamespace(dis_preset="fast", dis_finest_scale=1)), 0

    def prepare(self, rgb):
        return self.dis.prepare(rgb)

    def flow(self, a, b):
        self.calls += 1
        return self.dis.flow(a, b)


PAN_FOCAL = 100.0  # working pixels


def panning_frames(count: int, step: float, textured_from: int = 0, moving_from: int = 0):
    """`read` for a camera on a tripod turning `step` radians to the right per frame from frame
    `moving_from` on, seeing a random texture far away: 128x96 working images; frames before
    `textured_from` show a uniform grey with sensor noise instead."""
    rng = np.random.default_rng(3)
    canvas = cv2.GaussianBlur(rng.uniform(0, 255, (200, 700)).astype(np.float32), (0, 0), 1.5)
    canvas = cv2.normalize(canvas, None, 0, 255, cv2.NORM_MINMAX)
    canvas_K = np.array([[PAN_FOCAL, 0.0, 350.0], [0.0, PAN_FOCAL, 100.0], [0.0, 0.0, 1.0]])

    def read(index: int):
        if index < textured_from:
            grey = np.clip(128 + np.random.default_rng(index).normal(0, 2, (96, 128)), 0, 255)
        else:
            turn = se3.so3_exp(np.array([0.0, step * max(index - moving_from, 0), 0.0]))  # world <- camera
            to_canvas = canvas_K @ turn @ np.linalg.inv(pan_K())
            grey = cv2.warpPerspective(canvas, to_canvas, (128, 96),
                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2), None

    return read


def pan_K() -> np.ndarray:
    return np.array([[PAN_FOCAL, 0.0, 64.0], [0.0, PAN_FOCAL, 48.0], [0.0, 0.0, 1.0]])


def yaw_steps(poses: np.ndarray) -> np.ndarray:
    """Turn (radians) about the camera's y axis from each frame to the next."""
    relative = poses[1:, :3, :3] @ np.swapaxes(poses[:-1, :3, :3], 1, 2)
    return np.arctan2(relative[:, 0, 2], relative[:, 0, 0])


def test_every_frame_a_keyframe():
    """A camera that moves past the keyframe threshold in every frame: all frames are keyframes, no
    frame is left to track, and every frame's turn is still found."""
    count, step = 10, 0.015
    settings = SlamSettings(keyframe_flow=1.0, static_flow=0.3)
    result = tracker.track(panning_frames(count, step), count, CountingFlow(), pan_K(), settings,
                           calibrate=False)
    np.testing.assert_array_equal(result.keyframes, np.arange(count))
    assert result.motion == "rotation" and result.textured_frames == count
    np.testing.assert_allclose(yaw_steps(result.poses), -step, rtol=0.1)


def test_keyframes_per_second_are_capped():
    count, step = 12, 0.015
    settings = SlamSettings(keyframe_flow=1.0, static_flow=0.3, min_keyframe_gap=3)
    result = tracker.track(panning_frames(count, step), count, CountingFlow(), pan_K(), settings,
                           calibrate=False)
    np.testing.assert_array_equal(result.keyframes, np.arange(0, count, 3))
    np.testing.assert_allclose(yaw_steps(result.poses), -step, rtol=0.1)


def test_untextured_frames_get_no_flow_and_an_unobservable_camera():
    """Frames of a uniform grey with sensor noise (a plain backdrop) give no textured cells: no flow
    is computed, and the camera is reported static because its motion cannot be observed."""
    count = 8
    flow = CountingFlow()
    result = tracker.track(panning_frames(count, 0.04, textured_from=count), count, flow, pan_K(),
                           SlamSettings(), calibrate=False)
    assert flow.calls == 0 and result.textured_frames == 0
    assert result.static and not result.observable and result.motion == "unobservable"
    np.testing.assert_array_equal(result.poses, np.broadcast_to(np.eye(4), (count, 4, 4)))
    assert len(result.keyframes) == 1 and result.inv_depth.shape == (1, 12 * 16)


def test_untextured_frames_before_the_first_textured_one_hold_its_pose():
    count, first = 10, 3
    settings = SlamSettings(keyframe_flow=1.0, static_flow=0.3)
    result = tracker.track(panning_frames(count, 0.015, textured_from=first), count, CountingFlow(), pan_K(),
                           settings, calibrate=False)
    assert result.keyframes[0] == first and result.textured_frames == count - first and result.observable
    np.testing.assert_allclose(result.poses[:first + 1], np.broadcast_to(np.eye(4), (first + 1, 4, 4)),
                               atol=1e-9)
    np.testing.assert_allclose(yaw_steps(result.poses[first:]), -0.015, rtol=0.1)


def test_a_still_camera_is_compared_only_every_few_frames():
    count = 4 * tracker.STILL_STRIDE
    flow = CountingFlow()
    result = tracker.track(panning_frames(count, 0.0), count, flow, pan_K(), SlamSettings(), calibrate=False)
    assert result.motion == "static" and result.textured_frames == count
    assert flow.calls == 2 * (count // tracker.STILL_STRIDE)  # both ways, one frame in STILL_STRIDE


def test_frames_skipped_while_still_are_tracked_once_the_camera_moves():
    count, still = 20, 2 * tracker.STILL_STRIDE
    settings = SlamSettings(keyframe_flow=1.0, static_flow=0.3)
    read = panning_frames(count, 0.015, moving_from=still)
    graph = tracker.build_graph(read, count, CountingFlow(), settings)
    assert graph.keyframes[0] == 0 and len(graph.keyframes) > 2
    assert all(graph.tracked[frame][2].astype(float).mean() > 0.5 for frame in range(1, still))
    result = tracker.track(read, count, CountingFlow(), pan_K(), settings, calibrate=False)
    np.testing.assert_allclose(yaw_steps(result.poses)[:still - 1], 0.0, atol=2e-3)
    np.testing.assert_allclose(yaw_steps(result.poses)[still:], -0.015, rtol=0.1)


def test_keyframes_without_correspondences_do_not_stop_the_reconstruction():
    """Keyframes whose edges carry no weight (their flow was lost) keep their starting poses, and the
    frames tracked against them are interpolated."""
    graph, poses, _ = floor_graph()
    lost = 3
    for (i, j), (coords, weight) in list(graph.edges.items()):
        if lost in (i, j):
            graph.link(i, j, coords, np.zeros_like(weight))
    for frame in range(graph.keyframes[lost] + 1, graph.keyframes[lost] + 5):
        graph.hold(frame, lost)
    K = np.diag([CELL, CELL, 1.0]) @ GRID_K
    scene = reconstruct(graph, K, SlamSettings(), len(poses))
    frames = tracker.frame_poses(graph, scene, K, SlamSettings(), graph.keyframes[-1] + 1)
    assert np.isfinite(scene.poses).all() and np.isfinite(frames).all()
    kept = np.arange(len(poses)) != lost
    np.testing.assert_allclose(scene.poses[kept, :3, :3], poses[kept, :3, :3], atol=1e-4)


def test_long_videos_are_adjusted_window_by_window(monkeypatch):
    """With windows of 4 keyframes, the global adjustment of 8 finds the same solution as at once."""
    graph = forward_motion_graph()
    K = np.diag([CELL, CELL, 1.0]) @ GRID_K
    whole = reconstruct(graph, K, SlamSettings(), len(graph.keyframes))
    monkeypatch.setattr(tracker, "GLOBAL_WINDOW", 4)
    windowed = reconstruct(graph, K, SlamSettings(), len(graph.keyframes))
    np.testing.assert_allclose(windowed.poses, whole.poses, atol=1e-4)
    assert windowed.cost < 1e-6 and (windowed.information > 0).all()


# ----- stages on synthetic clips -----


def union_masks_artifact(gt_dir, out_dir) -> Artifact:
    """A masks artifact whose union.json is the union of every person of the ground truth."""
    data = mask_files.read_masks(gt_dir / mask_files.MASKS_JSON)
    union: dict[int, np.ndarray] = {}
    for entry in data["masks"]:
        mask = mask_files.decode(entry["rle"])
        union[entry["frame"]] = union[entry["frame"]] | mask if entry["frame"] in union else mask
    out_dir.mkdir(parents=True)
    mask_files.write_masks(out_dir / mask_files.UNION_JSON, data["width"], data["height"],
                           [{"frame": f, "rle": mask_files.encode(m)} for f, m in sorted(union.items())])
    return Artifact(out_dir)


def synth_clip(directory, camera: str, seconds: float, seed: int, **scene):
    """A 320x180 synthetic clip with one person, `scene` options of SynthOptions (scene, noise, ...):
    (options, video, ground-truth folder, frames, masks)."""
    from vidcli.synth.generate import SynthOptions, synthesize

    options = SynthOptions(duration=seconds, width=320, height=180, seed=seed, people=1, camera=camera, **scene)
    video = directory / f"{camera}.mp4"
    gt_dir = synthesize(video, options)
    frames_dir = directory / "frames"
    frames_dir.mkdir()
    frames_stage.run(frames_stage.Config(), {"video": Source(video, "synthetic")}, frames_dir)
    return options, video, gt_dir, Artifact(frames_dir), union_masks_artifact(gt_dir, directory / "masks")


def run_camera(frames, masks, out_dir, **settings):
    out_dir.mkdir()
    info = camera_stage.run(planned_config(camera_stage, settings), {"frames": frames, "masks": masks},
                            out_dir)
    return info, read_camera(out_dir / "camera.npz")


@pytest.fixture(scope="module")
def dolly(tmp_path_factory, anny_body):
    return synth_clip(tmp_path_factory.mktemp("dolly"), "dolly", 2.5, seed=1)


def test_camera_stage_tracks_a_moving_camera(dolly, tmp_path):
    _, _, gt_dir, frames, masks = dolly
    info, camera = run_camera(frames, masks, tmp_path / "camera")
    gt = read_camera(gt_dir / "camera.npz")
    errors = metrics.camera_errors(camera.R_wc, camera.t_wc, gt.R_wc, gt.t_wc)
    assert errors.ate_pct < 2.0, errors
    assert errors.rotation_deg < 1.0, errors
    assert not camera.static and info.counts["keyframes"] == len(camera.keyframes) >= 3
    np.testing.assert_allclose(camera.R_wc[0], np.eye(3), atol=1e-9)  # the world is the first camera
    np.testing.assert_allclose(camera.t_wc[0], 0.0, atol=1e-9)
    assert (camera.width, camera.height, camera.fps) == (320, 180, gt.fps)
    assert abs(camera.K[0, 0] / gt.K[0, 0] - 1) < 0.25  # calibrated from the default 320
    tum = (tmp_path / "camera" / "camera.tum").read_text().splitlines()
    assert len(tum) == len(camera.t_wc) and len(tum[5].split()) == 8
    depth = np.load(tmp_path / "camera" / "depth.npz", allow_pickle=False)
    grid_shape = (len(camera.keyframes), 180 // 8, 320 // 8)
    assert depth["inv_depth"].shape == grid_shape == depth["confidence"].shape
    np.testing.assert_array_equal(depth["keyframes"], camera.keyframes)


def test_camera_declared_static_skips_tracking(dolly, tmp_path):
    _, _, _, frames, masks = dolly
    info, camera = run_camera(frames, masks, tmp_path / "camera", static=True, focal=300.0)
    assert camera.static and info.counts["static"] is True and info.counts["keyframes"] == 1
    np.testing.assert_allclose(camera.t_wc, 0.0)
    assert camera.K[0, 0] == 300.0
    depth = np.load(tmp_path / "camera" / "depth.npz", allow_pickle=False)
    assert depth["inv_depth"].shape == (1, 180 // 8, 320 // 8)


def test_camera_stage_reports_a_static_camera(tmp_path, anny_body):
    _, _, _, frames, masks = synth_clip(tmp_path, "static", 1.0, seed=2)
    info, camera = run_camera(frames, masks, tmp_path / "camera")
    assert camera.static and info.counts["static"] is True
    np.testing.assert_allclose(camera.R_wc, np.broadcast_to(np.eye(3), camera.R_wc.shape))
    np.testing.assert_allclose(camera.t_wc, 0.0)
    scale_dir = tmp_path / "scale"
    scale_dir.mkdir()
    keypoints_dir = tmp_path / "keypoints"
    keypoints_dir.mkdir()
    shutil.copy(tmp_path / "static.mp4.gt" / "keypoints.npz", keypoints_dir)
    scale_stage.run(planned_config(scale_stage, {}), {"camera": Artifact(tmp_path / "camera"),
                                           "keypoints": Artifact(keypoints_dir)}, scale_dir)
    result = json.loads((scale_dir / "scale.json").read_text())
    assert (result["scale"], result["confidence"], result["samples"]) == (1.0, 0.0, 0)


def test_camera_stage_reports_a_plain_studio_backdrop_unobservable(tmp_path, anny_body, caplog):
    """A panning camera before a plain backdrop: nothing shows the turn, so the camera is reported
    static with its motion unobservable, in the counts and in one log line."""
    _, _, _, frames, masks = synth_clip(tmp_path, "pan", 1.0, seed=3, scene="plain", noise=2.0, shadow=True,
                                        crf=28)
    with caplog.at_level("INFO", logger="vidcli"):
        info, camera = run_camera(frames, masks, tmp_path / "camera")
    assert camera.static and info.counts["motion"] == "unobservable" and info.counts["textured_frames"] == 0
    np.testing.assert_allclose(camera.t_wc, 0.0)
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("camera:")]
    assert len(notes) == 1 and "cannot be measured" in notes[0]


def test_camera_settings_are_checked():
    with pytest.raises(ConfigError, match="either focal or fx"):
        planned_config(camera_stage, {"focal": "500", "fx": 500.0})
    with pytest.raises(ConfigError, match="keyframe_flow"):
        planned_config(camera_stage, {"keyframe_flow": 0.1, "static_flow": 0.2})
    with pytest.raises(ConfigError, match=r"camera.dis_finest_scale must lie in \[-1, 4\]"):
        planned_config(camera_stage, {"dis_finest_scale": 5})
    for wrong in ("nan", "-3", "wide"):
        with pytest.raises(ConfigError, match="camera: focal must be a number of pixels"):
            planned_config(camera_stage, {"focal": wrong})
    with pytest.raises(ConfigError, match="max_keyframe_rate"):
        planned_config(camera_stage, {"max_keyframe_rate": 0.0})
    with pytest.raises(ConfigError, match="min_textured"):
        planned_config(camera_stage, {"min_textured": 120.0})
    K, calibrate = camera_stage.intrinsics(camera_stage.Config(fx=400.0, cy=100.0), 640, 360)
    assert K.tolist() == [[400.0, 0.0, 320.0], [0.0, 400.0, 100.0], [0.0, 0.0, 1.0]] and not calibrate
    K, calibrate = camera_stage.intrinsics(planned_config(camera_stage, {"focal": 512.5}), 640, 360)
    assert K[0, 0] == K[1, 1] == 512.5 and not calibrate
    assert camera_stage.intrinsics(camera_stage.Config(), 640, 360)[1]
    assert not camera_stage.intrinsics(camera_stage.Config(focal="people"), 640, 360)[1]
    floor = planned_config(camera_stage, {"focal": "floor"})
    assert not camera_stage.intrinsics(floor, 640, 360, 500.0)[1]
    assert camera_stage.focal_source(floor, "floor", False) == "floor"
    assert camera_stage.focal_source(camera_stage.Config(), None, False) == "default"
    assert camera_stage.focal_source(camera_stage.Config(fx=400.0), None, True) == "given"


def ground_truth_camera_artifact(options, gt_dir, out_dir, scale: float, keyframes) -> Artifact:
    """A camera artifact made from the ground truth with translation divided by `scale`, and
    keyframe inverse depths (times `scale`) from rendered depth, zero confidence on people and sky."""
    from vidcli.synth.generate import Synthesis
    from vidcli.synth.groundtruth import inverse_depth_grid

    out_dir.mkdir()
    gt = read_camera(gt_dir / "camera.npz")
    np.savez(out_dir / "camera.npz", K=gt.K, R_wc=np.swapaxes(gt.R_wc[0], 0, 1) @ gt.R_wc,
             t_wc=(gt.t_wc - gt.t_wc[0]) @ gt.R_wc[0] / scale, timestamps=gt.timestamps, width=gt.width,
             height=gt.height, fps=gt.fps, static=False, keyframes=np.array(keyframes))
    synthesis = Synthesis(options)
    inv_depth, confidence = zip(*(inverse_depth_grid(synthesis.render(frame), CELL) for frame in keyframes))
    np.savez(out_dir / "depth.npz", keyframes=np.array(keyframes), inv_depth=scale * np.array(inv_depth),
             confidence=np.array(confidence), K=np.diag([1 / CELL, 1 / CELL, 1.0]) @ gt.K)
    return Artifact(out_dir)


def test_scale_stage_recovers_a_known_scale(dolly, tmp_path):
    options, _, gt_dir, _, _ = dolly
    known = 7.3
    camera = ground_truth_camera_artifact(options, gt_dir, tmp_path / "camera", known, [0, 15, 30, 45, 60])
    keypoints_dir = tmp_path / "keypoints"
    keypoints_dir.mkdir()
    shutil.copy(gt_dir / "keypoints.npz", keypoints_dir)
    out_dir = tmp_path / "scale"
    out_dir.mkdir()
    keypoints = Artifact(keypoints_dir)
    info = scale_stage.run(planned_config(scale_stage, {}), {"camera": camera, "keypoints": keypoints},
                           out_dir)
    result = json.loads((out_dir / "scale.json").read_text())
    assert result["scale"] == pytest.approx(known, rel=0.05), result
    assert result["confidence"] > 0.5 and result["samples"] == info.counts["samples"] > 30
    metric = read_camera(out_dir / "camera.npz")
    gt = read_camera(gt_dir / "camera.npz")
    errors = metrics.camera_errors(metric.R_wc, metric.t_wc, gt.R_wc, gt.t_wc)
    assert errors.scale_error_pct < 5.0 and errors.ate_se3_m < 0.05 * metrics.path_length(gt.t_wc)
    assert len((out_dir / "camera.tum").read_text().splitlines()) == len(gt.t_wc)


def test_scale_stage_without_people_falls_back(dolly, tmp_path):
    options, _, gt_dir, _, _ = dolly
    camera = ground_truth_camera_artifact(options, gt_dir, tmp_path / "camera", 2.0, [0, 30])
    keypoints_dir = tmp_path / "keypoints"
    keypoints_dir.mkdir()
    empty = np.zeros((0, 33, 3))
    write_keypoints(keypoints_dir / "keypoints.npz", Keypoints(np.zeros(0, int), np.zeros(0, int), empty, empty))
    out_dir = tmp_path / "scale"
    out_dir.mkdir()
    scale_stage.run(planned_config(scale_stage, {}), {"camera": camera, "keypoints": Artifact(keypoints_dir)},
                    out_dir)
    result = json.loads((out_dir / "scale.json").read_text())
    assert (result["scale"], result["confidence"], result["samples"]) == (1.0, 0.0, 0)
    np.testing.assert_allclose(read_camera(out_dir / "camera.npz").t_wc,
                               read_camera(camera.path / "camera.npz").t_wc)
