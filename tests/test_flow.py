"""Optical flow: file formats, colour coding, the flow stage (DIS and RAFT) and the flow video."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA

from vidcli import backends
from vidcli.backends.raft import CHECKPOINT as RAFT_CHECKPOINT
from vidcli.engine.keys import sha256_of
from vidcli.engine.stage import Artifact, planned_config
from vidcli.errors import ConfigError, InputError
from vidcli.io.flow import (
    FlowArtifact, endpoint_error, flow_to_rgb, pair_filename, read_flo, read_kitti_flow, resize_flow,
    write_flo,
)
from vidcli.io.frames import write_frames
from vidcli.io.video import iter_frames, probe
from vidcli.models import registry
from vidcli.stages import flow as flow_stage
from vidcli.stages import flow_video as flow_video_stage

CHAIRS = SHARED_DATA / "flow" / "chairs"
SHIFT = np.array([3.0, -2.0])  # (u, v) in pixels


def make_frames_artifact(directory, images) -> Artifact:
    return Artifact(write_frames(directory, images, fps=10.0))


def texture(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """Smooth random texture, large enough to shift without running out of content."""
    noise = np.random.default_rng(seed).random((height + 40, width + 40, 3)).astype(np.float32)
    return (cv2.GaussianBlur(noise, (0, 0), 2.0) * 255).clip(0, 255).astype(np.uint8)


def translated_frames(count: int = 3) -> list[np.ndarray]:
    """Frames of a texture moving by SHIFT pixels per frame."""
    base = texture()
    frames = []
    for k in range(count):
        dx, dy = (20 - k * SHIFT).astype(int)
        frames.append(np.ascontiguousarray(base[dy:dy + 120, dx:dx + 160]))
    return frames


def run_flow(frames, out_dir, **settings):
    out_dir.mkdir()
    return flow_stage.run(planned_config(flow_stage, settings), {"frames": frames}, out_dir)


def test_flo_round_trip(tmp_path):
    flow = np.random.default_rng(0).normal(size=(7, 5, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    data = (tmp_path / "a.flo").read_bytes()
    assert data[:4] == b"PIEH" and len(data) == 12 + 7 * 5 * 8
    np.testing.assert_array_equal(read_flo(tmp_path / "a.flo"), flow)
    (tmp_path / "bad.flo").write_bytes(data[:-4])
    with pytest.raises(InputError, match="should be"):
        read_flo(tmp_path / "bad.flo")


def test_kitti_png_decoding(tmp_path):
    flow = np.array([[[1.5, -2.25], [0.0, 0.0]]], np.float32)
    red, green = flow[..., 0] * 64 + 2**15, flow[..., 1] * 64 + 2**15
    valid = np.array([[1, 0]])
    cv2.imwrite(str(tmp_path / "gt.png"), np.stack([valid, green, red], axis=-1).astype(np.uint16))  # BGR
    decoded, mask = read_kitti_flow(tmp_path / "gt.png")
    np.testing.assert_allclose(decoded, flow)
    np.testing.assert_array_equal(mask, [[True, False]])


def test_colour_coding():
    flow = np.array([[[0.0, 0.0], [4.0, 0.0], [8.0, 0.0], [0.0, 4.0]]], np.float32)
    colours = flow_to_rgb(flow, max_magnitude=4.0)
    assert colours.dtype == np.uint8 and colours.shape == (1, 4, 3)
    assert colours[0, 0].tolist() == [255, 255, 255]  # no motion: white
    assert colours[0, 1].tolist() == [255, 0, 0]  # rightwards at full length: red
    assert colours[0, 2].tolist() == [191, 0, 0]  # beyond max_magnitude: darker
    assert colours[0, 3].max() == 255 and colours[0, 3].tolist() != [255, 0, 0]


def test_endpoint_error_and_resize():
    flow = np.zeros((4, 6, 2), np.float32)
    reference = np.zeros_like(flow)
    reference[..., 0] = 3.0
    reference[..., 1] = 4.0
    assert endpoint_error(flow, reference) == pytest.approx(5.0)
    flow[0, 0] = reference[0, 0]
    valid = np.zeros((4, 6), bool)
    valid[0, 0] = True
    assert endpoint_error(flow, reference, valid) == 0.0 and endpoint_error(flow, reference, ~valid) == 5.0
    np.testing.assert_allclose(resize_flow(reference, (12, 2)), np.broadcast_to([6.0, 2.0], (2, 12, 2)))


def test_dis_recovers_a_translation(tmp_path):
    frames = make_frames_artifact(tmp_path / "frames", translated_frames(3))
    info = run_flow(frames, tmp_path / "flow", backend="dis", max_size=0, backward=True)
    assert (info.backend, info.model, info.counts) == ("dis", "dis-medium", {"pairs": 4})
    index = json.loads((tmp_path / "flow" / "index.json").read_text())
    assert index["pairs"] == [[0, 1], [1, 0], [1, 2], [2, 1]]
    assert (index["size"], index["scale"], index["backend"]) == ([160, 120], [1.0, 1.0], "dis")
    flow = FlowArtifact(tmp_path / "flow")
    forward, backward = flow.read(0, 1), flow.read(1, 0)
    interior = (slice(16, -16), slice(16, -16))
    assert forward.shape == (120, 160, 2)
    assert endpoint_error(forward[interior], np.broadcast_to(SHIFT, (88, 128, 2))) < 0.5
    assert endpoint_error(backward[interior], np.broadcast_to(-SHIFT, (88, 128, 2))) < 0.5


def test_a_finer_dis_level_follows_a_zoom_more_closely():
    """The camera stage's DIS refines one pyramid level finer than the fast preset: on a 6% zoom
    (flow growing to 10 pixels from the centre, like parallax) its error is well below the preset's."""
    noise = np.random.default_rng(0).random((240, 320)).astype(np.float32)
    first = (cv2.GaussianBlur(noise, (0, 0), 1.5) * 765 - 255).clip(0, 255).astype(np.uint8)
    zoom, centre = 1.06, np.array([160.0, 120.0])
    warp = np.array([[zoom, 0.0, (1 - zoom) * centre[0]], [0.0, zoom, (1 - zoom) * centre[1]]])
    second = cv2.warpAffine(first, warp, (320, 240), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    pixels = np.stack(np.meshgrid(np.arange(320.0), np.arange(240.0)), -1)
    truth = (zoom - 1) * (pixels - centre)
    inside = (slice(25, -25), slice(30, -30))
    errors = {}
    for finest_scale in (-1, 1):
        config = planned_config(flow_stage, {"backend": "dis", "dis_preset": "fast",
                                             "dis_finest_scale": finest_scale})
        estimator = backends.get("flow", "dis").build(config)
        flow = estimator.flow(*(estimator.prepare(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
                                for image in (first, second)))
        errors[estimator.model] = endpoint_error(flow[inside], truth[inside])
    assert set(errors) == {"dis-fast", "dis-fast-finest1"}
    assert errors["dis-fast-finest1"] < 0.1 and errors["dis-fast-finest1"] < 0.6 * errors["dis-fast"]


def test_flow_at_reduced_size_records_its_scale(tmp_path):
    frames = make_frames_artifact(tmp_path / "frames", translated_frames(2))
    run_flow(frames, tmp_path / "flow", backend="dis", max_size=80)
    index = json.loads((tmp_path / "flow" / "index.json").read_text())
    assert (index["size"], index["frame_size"], index["scale"]) == ([80, 60], [160, 120], [2.0, 2.0])
    flow = FlowArtifact(tmp_path / "flow")
    field = flow.read(0, 1) * flow.scale
    assert endpoint_error(field[8:-8, 8:-8], np.broadcast_to(SHIFT, (44, 64, 2))) < 0.75


def test_flow_files_as_kitti_png_or_flo(tmp_path):
    """The default KITTI PNGs hold the .flo's field to 1/128 px in a fraction of its bytes (#16.17)."""
    frames = make_frames_artifact(tmp_path / "frames", translated_frames(2))
    fields, sizes = {}, {}
    for file_format in ("png", "flo"):
        run_flow(frames, tmp_path / file_format, backend="dis", max_size=0, format=file_format)
        (path,) = (tmp_path / file_format / "pairs").iterdir()
        assert path.name == pair_filename(0, 1, "." + file_format)
        fields[file_format] = FlowArtifact(tmp_path / file_format).read(0, 1)
        sizes[file_format] = path.stat().st_size
    assert np.abs(fields["png"] - fields["flo"]).max() <= 1 / 128
    assert sizes["png"] < sizes["flo"] / 3


def test_flow_settings_are_checked(tmp_path):
    frames = make_frames_artifact(tmp_path / "frames", translated_frames(2))
    with pytest.raises(ConfigError, match="backend"):
        run_flow(frames, tmp_path / "a", backend="farneback")
    with pytest.raises(InputError, match="needs at least 3"):
        run_flow(frames, tmp_path / "b", backend="dis", step=2)


@pytest.fixture
def raft_checkpoint(tmp_path, monkeypatch):
    """A randomly initialised raft_large checkpoint in a private VIDCLI_HOME."""
    import torch
    from torchvision.models.optical_flow import raft_large

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    path = registry.local_path(RAFT_CHECKPOINT)
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(raft_large(weights=None, progress=False).state_dict(), path)
    return path


def test_raft_backend_with_a_checkpoint(tmp_path, raft_checkpoint):
    frames = make_frames_artifact(tmp_path / "frames", [f[:100, :140] for f in translated_frames(3)])
    info = run_flow(frames, tmp_path / "flow", backend="auto", max_size=0)
    assert (info.backend, info.model, info.counts) == ("raft", "raft_large", {"pairs": 2})
    assert info.checksum == sha256_of(raft_checkpoint)
    for i in (0, 1):
        flow = FlowArtifact(tmp_path / "flow").read(i, i + 1)
        assert flow.shape == (100, 140, 2) and np.isfinite(flow).all()
    assert json.loads((tmp_path / "flow" / "index.json").read_text())["backend"] == "raft"


def test_auto_falls_back_to_dis_and_raft_never_does(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "empty-home"))
    frames = make_frames_artifact(tmp_path / "frames", translated_frames(2))
    assert run_flow(frames, tmp_path / "auto").backend == "dis"
    with pytest.raises(ConfigError, match="needs checkpoint raft_large"):
        run_flow(frames, tmp_path / "raft", backend="raft")


@pytest.mark.skipif(not CHAIRS.is_dir(), reason="no FlyingChairs samples in shared data")
def test_dis_on_flying_chairs(tmp_path):
    errors = []
    for pair in range(3):
        images = [cv2.cvtColor(cv2.imread(str(CHAIRS / f"{pair:07d}-img{k}.png")), cv2.COLOR_BGR2RGB)
                  for k in (0, 1)]
        frames = make_frames_artifact(tmp_path / f"frames{pair}", images)
        run_flow(frames, tmp_path / f"flow{pair}", backend="dis")
        flow = FlowArtifact(tmp_path / f"flow{pair}").read(0, 1)
        errors.append(endpoint_error(flow, read_flo(CHAIRS / f"{pair:07d}-gt.flo")))
    assert np.mean(errors) < 5.0  # DIS medium measures about 4.4 px here; standing still scores 5.0


def test_flow_video(tmp_path):
    frames = make_frames_artifact(tmp_path / "frames", translated_frames(4))
    run_flow(frames, tmp_path / "flow", backend="dis", max_size=80, backward=True)
    out_dir = tmp_path / "video"
    out_dir.mkdir()
    inputs = {"frames": frames, "flow": Artifact(tmp_path / "flow")}
    info = flow_video_stage.run(flow_video_stage.Config(), inputs, out_dir)
    assert info.counts["frames"] == 3 and info.counts["max_flow"] == pytest.approx(np.hypot(*SHIFT), rel=0.25)
    video = out_dir / "flow.mp4"
    described = probe(video)
    assert (described.width, described.height, described.codec) == (320, 120, "h264")
    decoded = [frame.rgb for frame in iter_frames(video)]
    assert len(decoded) == 3
    right_half = decoded[0][20:-20, 180:-20].astype(float)
    assert right_half.std(axis=(0, 1)).max() < 30 and right_half.mean() < 240  # one even, saturated colour
