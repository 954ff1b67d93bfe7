"""DROID-SLAM's network in plain torch: the official checkpoint's keys, and outputs of the official code
(tests/data/droid/goldens.json says how they were made) reproduced within 1e-4."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidcli.geometry import se3
from vidcli.slam.droid_net import CorrelationPyramid, DroidNet, convex_upsample, load_droid_state

DATA = Path(__file__).parent / "data" / "droid"
II, JJ = torch.tensor([0, 1, 1, 2]), torch.tensor([1, 0, 2, 1])


def seeded_state(model) -> dict:
    """The goldens' weights: each entry drawn from a generator seeded by the crc32 of its name."""
    state = {}
    for key, value in model.state_dict().items():
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        std = 0.1 if value.dim() == 1 else 1.0 / np.sqrt(np.prod(value.shape[1:]))
        state[key] = torch.from_numpy((rng.standard_normal(tuple(value.shape)) * std).astype(np.float32))
    return state


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tests' tensors are small: a second OpenMP thread only waits (10 times slower on loaded cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def goldens():
    from safetensors.torch import load_file

    return load_file(DATA / "goldens.safetensors")


@pytest.fixture(scope="module")
def network():
    model = DroidNet().eval()
    model.load_state_dict(seeded_state(model))
    return model


def test_keys_and_shapes_match_the_official_checkpoint():
    manifest = json.loads((DATA / "manifest.json").read_text())
    with torch.device("meta"):
        state = DroidNet().state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == manifest["keys"]
    assert sum(v.numel() for v in state.values()) == manifest["num_params"] == 4_002_565


def test_loader_strips_the_ddp_prefix_and_slices_the_heads_as_the_official_one():
    with torch.device("meta"):
        state = DroidNet().state_dict()
    on_disk = {f"module.{k}": torch.zeros(v.shape) for k, v in state.items()}
    for key in ("update.weight.2", "update.delta.2"):
        on_disk[f"module.{key}.weight"] = torch.arange(3 * 128 * 9.0).view(3, 128, 3, 3)
        on_disk[f"module.{key}.bias"] = torch.tensor([1.0, 2.0, 3.0])
    loaded = load_droid_state(on_disk)
    DroidNet().load_state_dict(loaded, strict=True)
    assert loaded["update.delta.2.bias"].tolist() == [1.0, 2.0]
    assert torch.equal(loaded["update.weight.2.weight"], on_disk["module.update.weight.2.weight"][:2])


def test_encoders_reproduce_the_official_features(network, goldens):
    with torch.no_grad():
        fmaps, net, inp = network.extract_features(goldens["rgb"].float()[None])
    for name, ours in (("fmaps", fmaps), ("net", net), ("inp", inp)):
        torch.testing.assert_close(ours[0], goldens[name], atol=1e-4, rtol=0)


def test_update_operator_and_graph_aggregation_reproduce_the_official_outputs(network, goldens):
    with torch.no_grad():
        net, delta, weight, eta, upmask = network.update(
            goldens["net"][II][None], goldens["inp"][II][None], goldens["corr"][None], goldens["motion"][None],
            II)
        upsampled = convex_upsample(goldens["disps"][None], upmask)
    torch.testing.assert_close(net[0], goldens["update_net"], atol=1e-4, rtol=0)
    torch.testing.assert_close(delta[0], goldens["delta"], atol=1e-4, rtol=0)
    torch.testing.assert_close(weight[0], goldens["weight"], atol=1e-4, rtol=0)
    torch.testing.assert_close(eta[0], goldens["eta"], atol=1e-4, rtol=0)
    torch.testing.assert_close(upmask[0, :1], goldens["upmask_frame0"], atol=1e-4, rtol=0)
    torch.testing.assert_close(upsampled[0], goldens["upsampled_disps"], atol=1e-4, rtol=0)
    assert goldens["delta"].std() > 0.1 and goldens["weight"].std() > 0.05  # the goldens are not degenerate


@pytest.mark.parametrize("chunk", [37, 4096])
def test_correlation_pyramid_reproduces_the_official_lookup_at_any_chunk(goldens, chunk):
    fmaps = goldens["fmaps"]
    pyramid = CorrelationPyramid(fmaps[II], fmaps[JJ], chunk=chunk)
    with torch.no_grad():
        corr = pyramid(goldens["coords"])
    torch.testing.assert_close(corr, goldens["corr"], atol=1e-4, rtol=0)


def test_correlation_at_whole_pixels_is_the_official_all_pairs_volume(goldens):
    """At integer coordinates the window's centre is the volume's entry at that pixel."""
    fmaps = goldens["fmaps"]
    height, width = fmaps.shape[-2:]
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    target = torch.stack([(x + 3) % width, (y + 2) % height], -1).float()[None]
    corr = CorrelationPyramid(fmaps[:1], fmaps[1:2], levels=1)(target)[0]
    centre = corr[3 * 7 + 3]  # offset (0, 0) of the x-major 7x7 window
    expected = goldens["volume_edge0"][y, x, target[0, ..., 1].long(), target[0, ..., 0].long()]
    torch.testing.assert_close(centre, expected, atol=1e-4, rtol=0)


# ----- the camera backend -----


def write_tiny_droid_checkpoint(home: Path) -> None:
    """A randomly initialised `droid.pth` laid out as the official file: DDP prefixes, 3-channel heads."""
    state = {f"module.{k}": v for k, v in DroidNet().state_dict().items()}
    for key in ("update.weight.2", "update.delta.2"):
        state[f"module.{key}.weight"] = torch.randn(3, 128, 3, 3) * 0.01
        state[f"module.{key}.bias"] = torch.zeros(3)
    (home / "checkpoints").mkdir(parents=True)
    torch.save(state, home / "checkpoints" / "droid.pth")


# ----- DROID's tracking (vidcli.slam.droid_frontend) -----


def textured_frames(count: int, step: int, seed: int = 0) -> list[np.ndarray]:
    """64x64 crops of one smooth random texture, each `step` pixels right of the last (a panning camera)."""
    import cv2

    rng = np.random.default_rng(seed)
    texture = cv2.resize(rng.integers(0, 256, (24, 48, 3), dtype=np.uint8), (256, 128),
                         interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(texture[32:96, step * k:step * k + 64]) for k in range(count)]


def test_motion_filter_keeps_a_frame_when_its_mean_flow_from_the_last_keyframe_exceeds_the_threshold(network):
    from vidcli.slam.droid_frontend import DroidSettings, Frontend, Keyframes, MotionFilter, add_keyframes

    frames = textured_frames(6, 4)
    person = np.zeros((64, 64), bool)
    person[:, 40:] = True  # the grid's columns 5-7
    masks = [None, None, person, None, person, None]
    motion = MotionFilter(network, "cpu", thresh=0.0)
    K = np.array([[64.0, 0, 32], [0, 64.0, 32], [0, 0, 1]])
    features = [motion.features(f) for f in frames]
    first = motion.with_context(features[0], frames[0])
    flows = [motion.flow(first, None, f) for f in features[1:]]
    # the mean leaves out the last keyframe's people
    keyframe = motion.with_context(features[2], frames[2])
    both = motion.flow(keyframe, None, features[3]), motion.flow(keyframe, person[::8, ::8], features[3])
    assert both[0] != both[1]

    def kept(thresh: float) -> list[int]:
        """The keyframes add_keyframes picks (the frontend waits for 1000, so it stays out of the way)."""
        motion.thresh = thresh
        frontend = Frontend(Keyframes(K, (8, 8)), motion.operator, DroidSettings(warmup=1000))
        add_keyframes(lambda i: (frames[i], masks[i]), len(frames), motion, frontend)
        return frontend.video.frames

    def expected(thresh: float) -> list[int]:
        """The same rule applied by hand: mean flow from the last keyframe, over its cells without people."""
        keep, last = [0], 0
        for frame in range(1, len(frames)):
            people = None if masks[last] is None else masks[last][::8, ::8]
            source = motion.with_context(features[last], frames[last])
            if motion.flow(source, people, features[frame]) > thresh:
                keep.append(frame)
                last = frame
        return keep

    assert kept(0.0) == list(range(6))
    assert kept(1e6) == [0]
    between = float(np.median(flows))
    assert 1 < len(kept(between)) < 6 and kept(between) == expected(between)


def synthetic_keyframes(people: np.ndarray | None = None, scene=None):
    """A synthetic scene (poses, inverse depths; default: the camera tests' scene of 5 keyframes) as
    DROID's keyframes at the true poses and depths with random 4-channel features, and the exact
    correspondences `truth` {(i, j): (P, 2)} between every two of them."""
    from test_camera import GRID, GRID_K, grid_rays, synthetic_scene

    from vidcli.geometry.projection import project, transform
    from vidcli.slam.correspondence import CELL
    from vidcli.slam.droid_frontend import Features, Keyframes

    poses, inv_depth = scene or synthetic_scene(count=5)[:2]
    rays = grid_rays()
    truth = {(i, j): project(transform(poses[j] @ se3.inverse(poses[i]), rays, inv_depth[i]), GRID_K)
             for i in range(len(poses)) for j in range(len(poses)) if i != j}
    video = Keyframes(np.diag([CELL, CELL, 1.0]) @ GRID_K, GRID)
    generator = torch.Generator().manual_seed(0)
    for k, (pose, disp) in enumerate(zip(poses, inv_depth)):
        fmap, net, inp = (torch.randn(4, *GRID, generator=generator) for _ in range(3))
        video.append(k, Features(fmap, net, inp), people, pose.copy(), disp.copy())
    return video, truth, poses, inv_depth


def oracle(graph_of, truth, corrupt=None):
    """An update operator that knows the true correspondences between frames: its revision moves
    each target onto them, with full confidence; `corrupt(i, j, true)` gives wrong ones for some
    cells."""

    def operator(net, inp, corr, motion, ii, jj):
        video = graph_of().video
        coords1 = motion[:, :2].permute(0, 2, 3, 1).reshape(len(ii), -1, 2).double().numpy() + video.pixels
        pairs = [(int(i), int(j)) for i, j in zip(ii, jj)]
        true = np.stack([truth[p] if corrupt is None else corrupt(*p, truth[p]) for p in pairs])
        delta = torch.from_numpy(true - coords1).float().view(len(ii), *video.grid, 2)
        return net, delta, torch.ones_like(delta)

    return operator


def run_loop(video, operator_of_graph, iterations: int):
    from vidcli.slam.droid_frontend import DroidSettings, FactorGraph

    holder = {}
    graph = FactorGraph(video, operator_of_graph(lambda: holder["graph"]), DroidSettings())
    holder["graph"] = graph
    graph.add_neighborhood_factors(0, len(video), radius=2)
    for _ in range(iterations):
        graph.update(1)
    return graph


def perturb(video, seed: int = 3):
    rng = np.random.default_rng(seed)
    for k in range(1, len(video)):
        video.poses[k] = se3.se3_exp(rng.normal(0, 0.02, 6)) @ video.poses[k]
    video.disps = [disp * rng.uniform(0.7, 1.3, disp.shape) for disp in video.disps]


def test_the_update_operator_alternating_with_bundle_adjustment_converges_from_a_perturbed_start():
    """Each iteration feeds the operator the current reprojection and takes its targets into two BA
    steps: with an operator that knows the true correspondences, the poses and depths converge."""
    video, truth, poses, inv_depth = synthetic_keyframes()
    perturb(video)
    start_error = np.abs(np.stack(video.poses)[:, :3, :3] - poses[:, :3, :3]).max()
    graph = run_loop(video, lambda graph_of: oracle(graph_of, truth), iterations=12)
    solved = np.stack(video.poses)
    centres, true_centres = se3.inverse(solved)[:, :3, 3], se3.inverse(poses)[:, :3, 3]
    scale = np.sum(true_centres * centres) / np.sum(centres**2)  # the one gauge freedom left
    assert start_error > 0.01
    np.testing.assert_allclose(scale * centres, true_centres, atol=1e-4)
    np.testing.assert_allclose(solved[:, :3, :3], poses[:, :3, :3], atol=1e-4)
    seen = np.zeros(inv_depth.shape, bool)  # cells landing inside another keyframe (outside: weight 0)
    np.logical_or.at(seen, graph.ii, graph.weight > 0)
    assert seen.mean() > 0.9 and set(np.unique(graph.weight)) == {0.0, 1.0} and np.all(graph.age == 12)
    np.testing.assert_allclose((np.stack(video.disps) / scale)[seen], inv_depth[seen], rtol=1e-4)


def test_people_cells_do_not_influence_the_loop():
    """Wrong correspondences on people's cells (leaving a person, or landing inside one) change nothing:
    those cells get zero confidence at either end."""
    people = np.zeros((24, 40), bool)
    people[8:16, 15:25] = True

    def corrupt(i, j, true):
        wrong = true.copy()
        leaving = people.reshape(-1)
        landing = (true[:, 0] >= 16) & (true[:, 0] < 23.5) & (true[:, 1] >= 9) & (true[:, 1] < 15)
        wrong[leaving] += np.array([4.0, -3.0])
        wrong[landing & ~leaving] += np.array([0.5, 0.0])  # still inside the person
        return wrong

    results = []
    for masked, corrupted in ((True, False), (True, True), (False, True)):
        video, truth, _, _ = synthetic_keyframes(people if masked else None)
        perturb(video)
        wrong = corrupt if corrupted else None
        run_loop(video, lambda graph_of, truth=truth, wrong=wrong: oracle(graph_of, truth, wrong),
                 iterations=4)
        results.append(np.stack(video.poses))
    np.testing.assert_allclose(results[1], results[0], atol=1e-12)
    assert np.abs(results[2] - results[0]).max() > 1e-3  # unmasked, the same errors do move the poses


@pytest.mark.slow  # a synthetic clip, DROID's tracking with the full-size network on the CPU
def test_camera_stage_runs_the_droid_backend_from_a_tiny_checkpoint(tmp_path, monkeypatch, anny_body):
    from test_camera import run_camera, synth_clip
    from vidcli.stages import camera as camera_stage

    from vidcli import backends
    from vidcli.engine.stage import planned_config

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    assert backends.resolve("camera", "auto")[0] == "embedded"
    write_tiny_droid_checkpoint(tmp_path / "home")
    assert backends.resolve("camera", "auto")[0] == "droid"
    assert planned_config(camera_stage, {"backend": "droid"}).device == "cpu"
    torch.manual_seed(0)
    _, _, _, frames, masks = synth_clip(tmp_path, "dolly", 0.4, seed=1)
    # random weights: the run, not the result, is tested; every frame moves enough to be a keyframe
    info, camera = run_camera(frames, masks, tmp_path / "camera", backend="droid", max_size=128,
                              droid_filter_thresh=1e-6, droid_warmup=4)
    assert info.backend == "droid" and info.model == "droid" and len(info.checksum) == 64
    assert camera.t_wc.shape[0] == info.counts["frames"] and np.isfinite(camera.t_wc).all()
    assert np.isfinite(camera.R_wc).all() and info.counts["keyframes"] >= 4 and np.isfinite(camera.K).all()


def test_a_checkpoint_that_does_not_fit_is_one_clear_error(tmp_path, monkeypatch):
    from vidcli.stages import camera as camera_stage

    from vidcli.backends.droid import DroidCamera
    from vidcli.engine.stage import planned_config
    from vidcli.errors import StageError

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    torch.save({"module.fnet.conv1.weight": torch.zeros(1)}, tmp_path / "checkpoints" / "droid.pth")
    with pytest.raises(StageError, match="does not fit DROID-SLAM's network"):
        DroidCamera(planned_config(camera_stage, {"backend": "droid"}))


@pytest.mark.parametrize("returns", [True, False])
def test_the_frontend_drops_the_keyframe_before_last_when_its_neighbours_are_close(returns):
    """DROID's keyframing after the motion filter: with each new keyframe, the one before last goes
    when the keyframes around it are closer than 2 keyframe_thresh (the camera came back)."""
    from test_camera import GRID, GRID_K, synthetic_scene

    from vidcli.slam.correspondence import CELL
    from vidcli.slam.droid_frontend import DroidSettings, Frontend, Keyframes

    poses, inv_depth, _ = synthetic_scene(count=5)
    if returns:
        poses[3], inv_depth[3] = poses[1], inv_depth[1]
    arrived, truth, _, _ = synthetic_keyframes(scene=(poses, inv_depth))
    video = Keyframes(np.diag([CELL, CELL, 1.0]) @ GRID_K, GRID)
    frontend = Frontend(video, None, DroidSettings(warmup=4, keyframe_thresh=1.0))
    frontend.graph.operator = oracle(lambda: frontend.graph, truth)
    for k in range(5):  # as the motion filter adds them, from the frontend's predicted pose and depth
        video.append(k, arrived.features[k], None, frontend.next_pose.copy(),
                     np.full(len(video.rays), frontend.next_disp))
        frontend()
    assert frontend.initialized
    assert video.frames == ([0, 1, 3, 4] if returns else [0, 1, 2, 3, 4])
    assert set(frontend.graph.ii.tolist() + frontend.graph.ii_inactive.tolist()) <= set(range(len(video)))


def test_the_trajectory_filler_places_the_frames_between_keyframes():
    """With an operator that knows the true correspondences, every other frame lands on its true pose
    from the edges of the keyframes around it (the last one, after the last keyframe, from one)."""
    from test_camera import GRID, GRID_K, grid_rays

    from vidcli.geometry.projection import project, transform
    from vidcli.slam.droid_frontend import Features, fill_trajectory

    video, _, poses, inv_depth = synthetic_keyframes()
    video.frames = [0, 2, 4, 6, 8]
    rng = np.random.default_rng(5)
    between = {2 * k + 1: se3.se3_exp(rng.normal(0, 0.01, 6))
               @ se3.interpolate(poses[k], poses[min(k + 1, 4)], 0.5) for k in range(5)}
    truth = {(2 * k, f): project(transform(pose @ se3.inverse(poses[k]), grid_rays(), inv_depth[k]), GRID_K)
             for k in range(5) for f, pose in between.items()}
    generator = torch.Generator().manual_seed(1)

    def load(frame: int):
        return Features(torch.randn(4, *GRID, generator=generator)), None

    operator = oracle(lambda: SimpleNamespace(video=video), truth)
    filled = fill_trajectory(video, operator, sorted(between), load, huber=0.125)
    for frame, pose in between.items():
        np.testing.assert_allclose(filled[frame], pose, atol=1e-5)
