"""vidcli.io.video: probing, streaming decode (rotation, variable frame rate, bad inputs), writing."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from conftest import FFMPEG, make_clip

from vidcli.errors import ConfigError, InputError, StageError
from vidcli.io import video
from vidcli.io.video import VideoWriter, ffmpeg_exe, iter_frames, probe, scaled_size


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True)


def ffmpeg_report(path) -> str:
    """What `ffmpeg -i` prints about a file."""
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1.0, size="160x120", fps=10)


def test_probe_reports_the_stream(clip):
    info = probe(clip)
    assert (info.width, info.height, info.rotation, info.codec) == (160, 120, 0, "h264")
    assert info.fps == 10.0
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.frame_count == 10


def test_probe_makes_ntsc_rates_exact(tmp_path):
    info = probe(make_clip(tmp_path / "ntsc.mp4", seconds=0.2, size="64x48", extra=["-r", "30000/1001"]))
    assert info.fps == pytest.approx(30000 / 1001, abs=1e-9)


def test_frames_stream_at_source_rate(clip):
    frames = list(iter_frames(clip))
    assert [f.index for f in frames] == list(range(10))
    assert [f.source_index for f in frames] == list(range(10))
    assert [f.timestamp for f in frames] == pytest.approx([i / 10 for i in range(10)])
    assert [f.source_timestamp for f in frames] == pytest.approx([i / 10 for i in range(10)])
    assert frames[0].rgb.shape == (120, 160, 3) and frames[0].rgb.dtype == np.uint8


def test_lower_rate_picks_every_other_frame(clip):
    frames = list(iter_frames(clip, fps=5))
    assert [f.source_index for f in frames] == [0, 2, 4, 6, 8]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])


def test_max_size_scales_to_even_dimensions(clip):
    first = next(iter_frames(clip, max_size=81))
    assert first.rgb.shape == (60, 80, 3)
    assert scaled_size(1281, 721, 0) == (1280, 720)
    assert scaled_size(1280, 720, 512) == (512, 288)


def test_rotation_is_applied(clip, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(clip), "-c", "copy", str(rotated))
    info = probe(rotated)
    assert (info.width, info.height, info.rotation) == (120, 160, 90)
    upright, turned = next(iter_frames(clip)).rgb, next(iter_frames(rotated)).rgb
    assert turned.shape == (160, 120, 3)
    np.testing.assert_array_equal(turned, np.rot90(upright, 1))  # counter-clockwise


def test_variable_frame_rate_becomes_constant(tmp_path):
    # 30 frames: 0.04 s apart, then ten 0.1 s apart, then 0.04 s apart again (millisecond timestamps).
    vfr = tmp_path / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=1.2",
           "-vf", "settb=1/1000,setpts='(N*0.04+clip(N-10\\,0\\,10)*0.06)/TB'",
           "-fps_mode", "vfr", "-enc_time_base", "1/1000", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(vfr))
    frames = list(iter_frames(vfr, fps=25))
    sources = {f.source_index: f.source_timestamp for f in frames}
    expected = [n * 0.04 + min(max(n - 10, 0), 10) * 0.06 for n in range(30)]
    assert sorted(sources) == list(range(30))
    assert [sources[n] for n in range(30)] == pytest.approx(expected, abs=0.002)
    assert len(frames) == round(expected[-1] * 25) + 1
    assert [f.timestamp for f in frames] == pytest.approx([k / 25 for k in range(len(frames))])
    for f in frames:  # each output frame shows the source frame nearest to its time
        nearest = min(abs(t - f.timestamp) for t in sources.values())
        assert abs(f.source_timestamp - f.timestamp) <= nearest + 1e-9
    assert any(a.source_index == b.source_index for a, b in zip(frames, frames[1:]))  # repeats in the gap


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _audio_only(tmp_path):
    path = tmp_path / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", str(path))
    return path


def _text_ffmpeg_draws(tmp_path):
    """A text file long enough for ffmpeg's `tty` reader to take it for ANSI art, 640x400 at 25 fps."""
    line = b"Videos to 3D human motion, every stage cached on disk.\n"
    path = _write_bytes(tmp_path / "notes.txt", line * 40)
    assert "Input #0, tty" in ffmpeg_report(path)
    return path


def _still_image(tmp_path):
    path = tmp_path / "photo.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(path))
    return path


def _cover_picture_only(tmp_path):
    """Audio with an album cover: its only video stream is an attached picture."""
    path = tmp_path / "song.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", "-i", str(_still_image(tmp_path)),
           "-map", "0", "-map", "1", "-c:v", "png", "-disposition:v", "attached_pic", str(path))
    return path


def _unknown_codec(tmp_path, clip):
    return _write_bytes(tmp_path / "zzzz.mp4", clip.read_bytes().replace(b"avc1", b"zzzz"))


def _no_streams(tmp_path):
    path = tmp_path / "empty.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=1", "-frames:v", "0", "-c:v", "libx264",
           str(path))
    return path


def _headers_only(tmp_path, clip):
    """An H.264 track whose slices were removed: a video stream without a decodable frame."""
    path = tmp_path / "headers_only.mp4"
    ffmpeg("-i", str(clip), "-c", "copy", "-bsf:v", "filter_units=remove_types=1|5", str(path))
    return path


BAD_INPUTS = {
    "missing": (lambda tmp_path, clip: tmp_path / "nope.mp4", "no such file"),
    "directory": (lambda tmp_path, clip: tmp_path, "is a directory"),
    "random bytes": (lambda tmp_path, clip: _write_bytes(tmp_path / "noise.bin", os.urandom(4096)),
                     "not a video"),
    "text file": (lambda tmp_path, clip: _write_bytes(tmp_path / "notes.txt", b"hello\n" * 50),
                  "not a video"),
    "text drawn as frames": (lambda tmp_path, clip: _text_ffmpeg_draws(tmp_path), "is not a video but text"),
    "still image": (lambda tmp_path, clip: _still_image(tmp_path), r"is a still image \(png\), not a video"),
    "cover picture only": (lambda tmp_path, clip: _cover_picture_only(tmp_path), "only a cover picture"),
    "truncated mp4": (lambda tmp_path, clip: _write_bytes(tmp_path / "cut.mp4", clip.read_bytes()[:4000]),
                      "truncated"),
    "audio only": (lambda tmp_path, clip: _audio_only(tmp_path), "no video stream"),
    "unknown codec": (_unknown_codec, "codec 'zzzz' that this ffmpeg cannot decode"),
    "no streams": (lambda tmp_path, clip: _no_streams(tmp_path), "no video frames"),
    "no frames": (_headers_only, "no video frames"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_raise_input_error(case, tmp_path, clip):
    make, message = BAD_INPUTS[case]
    path = make(tmp_path, clip)
    with pytest.raises(InputError, match=message) as caught:
        list(iter_frames(path))
    assert "\n" not in str(caught.value)


def test_corrupt_data_mid_stream_is_an_input_error(tmp_path):
    clip = make_clip(tmp_path / "fast.mp4", seconds=2.0, size="160x96", fps=25,
                     extra=["-movflags", "+faststart"])
    data = bytearray(clip.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    corrupt = _write_bytes(tmp_path / "corrupt.mp4", bytes(data))
    with pytest.raises(InputError, match="decoding failed after [0-9]+ frames"):
        list(iter_frames(corrupt))


def test_closing_early_reaps_ffmpeg(clip, monkeypatch):
    started = []

    class RecordingPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(video.subprocess, "Popen", RecordingPopen)
    frames = iter_frames(clip)
    next(frames)
    frames.close()
    assert started and all(process.returncode is not None for process in started)  # probe, then the decoder


def test_writer_output_is_browser_h264_and_decodes_back(tmp_path):
    path = tmp_path / "out.mp4"
    rng = np.random.default_rng(1)
    colours = rng.integers(30, 225, (12, 3))
    with VideoWriter(path, 12.5, (63, 47)) as writer:  # odd size: padded to 64x48
        for colour in colours:
            writer.write(np.broadcast_to(colour.astype(np.uint8), (47, 63, 3)))
    report = ffmpeg_report(path)
    assert "Video: h264" in report and "yuv420p" in report and "64x48" in report
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart
    frames = list(iter_frames(path))
    assert len(frames) == 12
    for frame, colour in zip(frames, colours):
        assert np.abs(frame.rgb[8:40, 8:56].mean(axis=(0, 1)) - colour).max() < 4
    assert not list(tmp_path.glob(".*partial"))


def test_writer_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 10, (32, 32)) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("stage failed")
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_wrong_frame_size(tmp_path):
    with pytest.raises(StageError, match="is not 32x32x3"):
        with VideoWriter(tmp_path / "out.mp4", 10, (32, 32)) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_choice_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("VIDCLI_FFMPEG", raising=False)
    assert ffmpeg_exe() == FFMPEG
    monkeypatch.setenv("VIDCLI_FFMPEG", FFMPEG)
    assert ffmpeg_exe() == FFMPEG
    monkeypatch.setenv("VIDCLI_FFMPEG", "system")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="no ffmpeg on PATH"):
        ffmpeg_exe()


def test_probe_reads_colour_tags(clip, tmp_path):
    assert (probe(clip).color_matrix, probe(clip).full_range) == ("unknown", False)  # untagged testsrc2
    path = tmp_path / "tagged.mp4"
    with VideoWriter(path, 10, (32, 16)) as writer:
        writer.write(np.zeros((16, 32, 3), np.uint8))
    assert (probe(path).color_matrix, probe(path).full_range) == ("bt709", False)
    full = tmp_path / "full.mp4"
    ffmpeg("-i", str(clip), "-vf", "scale=out_range=full", "-pix_fmt", "yuvj420p", "-c:v", "libx264", str(full))
    assert probe(full).full_range


def test_full_disk_is_a_stage_failure_not_a_bad_input(clip, tmp_path):
    """ENOSPC while writing frames (here: every frame file a link to /dev/full) says so and exits 1, so a
    script following the exit codes does not discard a good video (#15.8)."""
    for index in range(1, 12):
        (tmp_path / f".source-{index:06d}.jpg").symlink_to("/dev/full")
    info = probe(clip)
    with pytest.raises(StageError, match="No space left on device"):
        list(video.decode_jpegs(clip, tmp_path, info, (info.width, info.height), 2, info.fps))


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 0.0, -5.0, 100000.0])
def test_constant_rate_refuses_absurd_rates(fps):
    """Infinity used to loop forever, NaN to cache one frame, 100000 fps to write gigabytes (#15.1)."""
    items = iter([(0, 0.0, "a"), (1, 0.1, "b")])
    with pytest.raises(ConfigError, match="outside"):
        next(video.constant_rate(items, fps))
