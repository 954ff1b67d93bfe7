"""CoDeF canonical fields: the hash encoding against a hand computation, the checkpoint layout, a fit that
recovers a translation, propagation, and the commands."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import make_clip, vidcli
from vidcli.canonical.fit import FitOptions, Fitter, psnr, reconstruct, render_canonical
from vidcli.canonical.model import CoDeF, FieldSizes
from vidcli.canonical.propagate import Propagation
from vidcli.canonical.tcnn_layout import (
    FullyFusedMLP,
    HashGridEncoding,
    compiler_available,
    hash_grid_levels,
)
from vidcli.io.video import iter_frames

CODEF_MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "checkpoints" / "codef.json"


def _one_level(log2_hashmap_size: int) -> HashGridEncoding:
    encoding = HashGridEncoding(
        2,
        n_levels=1,
        n_features=2,
        log2_hashmap_size=log2_hashmap_size,
        base_resolution=16,
        per_level_scale=1.44,
    )
    with torch.no_grad():
        encoding.params.copy_(torch.arange(encoding.params.numel(), dtype=torch.float32))
    return encoding


def _bilinear(table, corner_index):
    """By hand: point (0.31, 0.72) at scale 15 sits at 5.15, 11.3: cell (5, 11), fractions (0.15, 0.3)."""
    weights = {(0, 0): 0.85 * 0.7, (1, 0): 0.15 * 0.7, (0, 1): 0.85 * 0.3, (1, 1): 0.15 * 0.3}
    return sum(w * table[corner_index(5 + dx, 11 + dy)] for (dx, dy), w in weights.items())


def test_hash_encoding_matches_a_hand_computation_on_a_dense_and_a_hashed_level():
    point = torch.tensor([[0.31, 0.72]])
    dense = _one_level(8)  # 16 x 16 = 256 entries fit: indexed x + 16 y
    assert dense.levels[0].resolution == 16 and dense.levels[0].dense
    table = np.arange(512, dtype=np.float64).reshape(256, 2)
    np.testing.assert_allclose(
        dense(point)[0].detach().numpy(), _bilinear(table, lambda x, y: x + 16 * y), rtol=1e-5
    )
    hashed = _one_level(6)  # 64 entries: the coherent prime hash, modulo 64
    assert not hashed.levels[0].dense
    table = np.arange(128, dtype=np.float64).reshape(64, 2)
    np.testing.assert_allclose(
        hashed(point)[0].detach().numpy(),
        _bilinear(table, lambda x, y: ((x * 1) ^ (y * 2654435761 % 2**32)) % 64),
        rtol=1e-5,
    )


@pytest.mark.skipif(not compiler_available(), reason="torch.compile needs a C++ compiler")
def test_the_compiled_lookup_gives_the_eager_encoding_and_gradient():
    encoding = HashGridEncoding(3, n_levels=6, log2_hashmap_size=10, base_resolution=4, per_level_scale=2.0)
    points = torch.rand(300, 3) * 1.4 - 0.2  # some outside [0, 1], where cells wrap as uint32
    eager = encoding(points)
    (eager_grad,) = torch.autograd.grad(eager.square().sum(), encoding.params)
    encoding.compiled = True
    compiled = encoding(points)
    (compiled_grad,) = torch.autograd.grad(compiled.square().sum(), encoding.params)
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(compiled_grad, eager_grad)


def test_mlp_is_bias_free_with_padded_input_and_output():
    mlp = FullyFusedMLP(34, 3, width=64, hidden_layers=2)
    assert mlp.params.numel() == 64 * 48 + 64 * 64 + 16 * 64
    x = torch.randn(5, 34)
    first, hidden, last = mlp.matrices()
    expected = torch.relu(torch.relu(x @ first[:, :34].t()) @ hidden.t()) @ last[:3].t()
    torch.testing.assert_close(mlp(x), expected)


@pytest.mark.skipif(
    not CODEF_MANIFEST.is_file(), reason="the CoDeF key manifest (shared checkpoints) is absent"
)
def test_state_dict_has_the_keys_and_shapes_of_a_codef_checkpoint():
    manifest = json.loads(CODEF_MANIFEST.read_text())
    for key, dims, scale in (
        ("implicit_video_0.encoder.params", 2, 1.44),
        ("warping_field_0.Deform_Hash3d.encoder.params", 3, 1.38),
    ):
        levels = hash_grid_levels(dims, 16, 19, 16, scale)
        assert [[i, lv.resolution, lv.entries] for i, lv in enumerate(levels)] == manifest["tcnn_derivation"][
            key
        ]["levels_(level,resolution,entries)"]
    with torch.device("meta"):
        one, two = CoDeF(), CoDeF(layers=2)
    assert {k: list(v.shape) for k, v in one.state_dict().items()} == manifest["keys"]
    assert {k: list(v.shape) for k, v in two.state_dict().items()} == manifest["variants"][
        "beauty_1_two_layers"
    ]


def _translating_texture(frames=8, size=32, speed=2):
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(
        rng.random((size + 8, size + 4 * frames * speed, 3)).astype(np.float32), (0, 0), 2
    )
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    start = 2 * frames * speed
    video = np.stack(
        [texture[4 : 4 + size, start - speed * t : start - speed * t + size] for t in range(frames)]
    )
    flows = np.zeros((frames - 1, size, size, 2), np.float32)
    flows[..., 0] = speed  # content moves right by `speed` pixels a frame
    return torch.from_numpy(video), torch.from_numpy(flows)


def _tiny_sizes(levels: int, log2_hashmap_size: int) -> FieldSizes:
    return FieldSizes(levels=levels, canonical_log2_hashmap_size=log2_hashmap_size,
                      deform_log2_hashmap_size=log2_hashmap_size, base_resolution=4, canonical_scale=1.5,
                      deform_scale=1.5, deform_hidden_layers=2)


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    video, flows = _translating_texture()
    sizes = _tiny_sizes(levels=8, log2_hashmap_size=12)
    options = FitOptions(200, 1024, 1e-2, 50, 10.0, 80, 80, 0, 100, compile=False)
    fitter = Fitter(video, flows, sizes, options, "cpu")
    fitter.run()
    images, deformation = reconstruct(fitter.model, *video.shape[:3], fitter.level_weights(), "cpu")
    return fitter, video.numpy(), images, deformation


def test_a_translating_texture_is_fitted_and_its_translation_recovered(fitted):
    _, video, images, deformation = fitted
    assert psnr(images, video) > 35
    # a row's canonical columns lie on a line of slope s; frame t + 1 shows at column c what frame t showed
    # at c - 2
    width = video.shape[2]
    slope = np.diff(deformation[..., 1], axis=2).mean() * width
    recovered = (deformation[:-1, :, 4:, 1] - deformation[1:, :, 4:, 1]).mean() * width / slope
    assert recovered == pytest.approx(2.0, abs=0.15)
    assert np.abs(np.diff(deformation[..., 0], axis=0)).mean() * video.shape[1] < 0.2  # no vertical motion


def test_propagating_the_canonical_image_itself_reproduces_the_reconstruction(fitted, tmp_path):
    fitter, video, images, deformation = fitted
    frames, height, width = video.shape[:3]
    bounds = [
        float(deformation[..., 0].min()),
        float(deformation[..., 0].max()),
        float(deformation[..., 1].min()),
        float(deformation[..., 1].max()),
    ]
    size = (round((bounds[3] - bounds[2]) * width * 2), round((bounds[1] - bounds[0]) * height * 2))
    canonical = render_canonical(fitter.model, bounds, size, "cpu")
    (tmp_path / "canonical.json").write_text(json.dumps({"bounds": bounds}))
    np.save(tmp_path / "deformation.npy", deformation.astype(np.float16))
    propagation = Propagation(tmp_path)
    rgba = np.dstack([canonical, np.ones(canonical.shape[:2], np.float32)])
    warped = np.stack([propagation.warp(rgba, t, (width, height))[..., :3] for t in range(frames)])
    assert psnr(warped, images) > 30


def test_a_masked_square_moving_against_the_background_is_fitted_in_its_own_layer(tmp_path):
    """CoDeF's multi-layer variant: the background moves right, a masked square left; each layer's
    deformation recovers its own motion, and propagating both canonical images reproduces the video."""
    background, _ = _translating_texture(frames=6, size=24, speed=2)
    square = 1 - background.flip(2)  # mirrored: moves left
    layer_map = torch.zeros(6, 24, 24, dtype=torch.long)
    layer_map[:, 8:16, 8:16] = 1
    video = torch.where(layer_map[..., None] == 1, square, background)
    sizes = _tiny_sizes(levels=6, log2_hashmap_size=10)
    options = FitOptions(150, 1024, 1e-2, 38, 0.0, 60, 60, 0, 1000, compile=False)
    fitter = Fitter(video, None, sizes, options, "cpu", layer_map=layer_map)
    fitter.run()
    images, deformation = reconstruct(fitter.model, 6, 24, 24, fitter.level_weights(), "cpu", layer_map)
    assert psnr(images, video.numpy()) > 30
    for rows, cols, speed in ((slice(18, 24), slice(2, 22), 2), (slice(9, 15), slice(9, 15), -2)):
        canonical_cols = deformation[:, rows, cols, 1]
        slope = np.diff(canonical_cols, axis=2).mean() * 24
        assert (canonical_cols[:-1] - canonical_cols[1:]).mean() * 24 / slope == pytest.approx(speed, abs=0.4)

    edits, bounds = {}, []
    for layer in range(2):
        mine = deformation[layer_map.numpy() == layer]
        bounds.append([float(mine[:, 0].min()), float(mine[:, 0].max()), float(mine[:, 1].min()),
                       float(mine[:, 1].max())])
        size = (round((bounds[-1][3] - bounds[-1][2]) * 48), round((bounds[-1][1] - bounds[-1][0]) * 48))
        canonical = render_canonical(fitter.model, bounds[-1], size, "cpu", layer)
        edits[layer] = np.dstack([canonical, np.ones(canonical.shape[:2], np.float32)])
    (tmp_path / "canonical.json").write_text(json.dumps({"bounds": bounds[0], "layer_bounds": bounds}))
    np.save(tmp_path / "deformation.npy", deformation.astype(np.float16))
    np.save(tmp_path / "layers.npy", layer_map.numpy().astype(np.uint8))
    propagation = Propagation(tmp_path)
    black = np.zeros((24, 24, 3), np.uint8)
    warped = np.stack([propagation.frame(black, edits, t) for t in range(6)]) / 255.0
    assert propagation.layers == 2 and psnr(warped, images) > 25


def test_fitting_resumes_where_it_stopped(tmp_path):
    video, flows = _translating_texture(frames=4, size=16)
    sizes = FieldSizes(
        levels=4,
        canonical_log2_hashmap_size=10,
        deform_log2_hashmap_size=10,
        base_resolution=4,
        deform_hidden_layers=2,
    )
    options = FitOptions(12, 256, 1e-2, 3, 1.0, 5, 5, 3, 5, compile=False)
    whole = Fitter(video, flows, sizes, options, "cpu")
    whole.run()
    killed = Fitter(video, flows, sizes, options, "cpu", tmp_path)

    def kill_at(step):
        if step == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        killed.run(kill_at)  # after its save at step 5
    resumed = Fitter(video, flows, sizes, options, "cpu", tmp_path)
    assert resumed.run() == 5
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value)


@pytest.mark.slow
def test_canonical_and_propagate_commands(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.6, size="96x64")
    small = [
        "--iterations",
        "60",
        "--set",
        "canonical.levels=6",
        "--set",
        "canonical.canonical_log2_hashmap_size=10",
        "--set",
        "canonical.deform_log2_hashmap_size=10",
        "--set",
        "canonical.deform_hidden_layers=2",
        "--set",
        "canonical.batch=512",
    ]
    work = tmp_path / "work"
    fitted = vidcli("canonical", str(clip), *small, workspace=work, check=True)
    assert "canonical image:" in fitted.stdout
    image = Path(fitted.stdout.split("canonical image: ")[1].split(" (")[0])
    assert cv2.imread(str(image)) is not None
    folder = image.parent
    assert len((folder / "psnr.csv").read_text().splitlines()) == 7  # header and 6 frames
    assert {"model.safetensors", "deformation.npy", "reconstruction.mp4", "curve.csv"} <= {
        p.name for p in folder.iterdir()
    }

    logo = np.zeros((40, 40, 4), np.uint8)
    logo[10:30, 10:30] = (0, 0, 255, 255)  # an opaque red square on a transparent image
    cv2.imwrite(str(tmp_path / "logo.png"), logo)
    out = tmp_path / "logo.mp4"
    done = vidcli(
        "propagate",
        str(clip),
        "--canonical-edit",
        str(tmp_path / "logo.png"),
        "-o",
        str(out),
        *small,
        workspace=work,
        check=True,
    )
    assert "wrote" in done.stdout and out.is_file()
    rgb = next(iter_frames(out)).rgb
    assert rgb.shape == (64, 96, 3)
    red = (rgb[..., 0] > 180) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    assert 0.05 < red.mean() < 0.6  # the square is pasted; outside it the frame shows through

    styled = tmp_path / "styled.mp4"
    vidcli("propagate", str(clip), "--edit", "stylize", "-o", str(styled), *small, workspace=work, check=True)
    assert styled.is_file()


def test_propagate_refuses_bad_arguments_before_fitting(tmp_path):
    clip, work, out = tmp_path / "clip.mp4", tmp_path / "work", str(tmp_path / "out.mp4")
    clip.write_bytes(b"not read: the arguments are refused first")
    neither = vidcli("propagate", str(clip), "-o", out, workspace=work)
    assert neither.returncode == 2 and "--canonical-edit IMAGE or --edit NAME" in neither.stderr
    missing = vidcli(
        "propagate", str(clip), "--canonical-edit", str(tmp_path / "none.png"), "-o", out, workspace=work
    )
    assert missing.returncode == 3 and "no such image" in missing.stderr
    not_mp4 = vidcli(
        "propagate", str(clip), "--edit", "pencil", "-o", str(tmp_path / "x.avi"), workspace=work
    )
    assert not_mp4.returncode == 2 and "must be an .mp4" in not_mp4.stderr
    assert not work.exists()
    no_masks = vidcli("canonical", str(clip), "--masks", str(tmp_path / "none.json"), workspace=work)
    assert no_masks.returncode == 3 and "input not found" in no_masks.stdout + no_masks.stderr
    both = vidcli("canonical", str(clip), "--masks", str(tmp_path / "none.json"), "--people", workspace=work)
    assert both.returncode == 2 and "--masks or --people" in both.stderr
