"""The frames stage and the FrameSequence reader."""

from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import pytest
from conftest import FFMPEG, make_clip

from vidcli.engine.stage import Source, planned_config
from vidcli.errors import ConfigError, InputError
from vidcli.io.frames import FrameSequence, ReadAhead
from vidcli.io.video import iter_frames
from vidcli.stages import frames as frames_stage


def run_frames(video, out_dir, **settings):
    out_dir.mkdir()
    config = planned_config(frames_stage, settings)
    return frames_stage.run(config, {"video": Source(video, "sha256:test")}, out_dir)


def test_frames_and_index(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, size="160x120", fps=10)
    info = run_frames(clip, tmp_path / "frames")
    assert info.backend == "ffmpeg" and info.counts == {"frames": 10}
    index = json.loads((tmp_path / "frames" / "index.json").read_text())
    summary = index["fps"], index["width"], index["height"], index["count"], index["rotation"]
    assert summary == (10.0, 160, 120, 10, 0)
    assert index["timestamps"] == pytest.approx([i / 10 for i in range(10)])
    assert index["source_timestamps"] == pytest.approx([i / 10 for i in range(10)])
    assert index["source_indices"] == list(range(10))
    assert index["source"] == {"name": "clip.mp4", "content_hash": "sha256:test", "codec": "h264",
                               "source_fps": 10.0, "duration": pytest.approx(1.0, abs=0.05)}
    assert sorted(p.name for p in (tmp_path / "frames").glob("*.jpg")) == [f"{i:06d}.jpg" for i in range(10)]

    sequence = FrameSequence(tmp_path / "frames")
    assert (len(sequence), sequence.fps, sequence.size) == (10, 10.0, (160, 120))
    assert sum(1 for _ in sequence) == 10
    with pytest.raises(IndexError):
        sequence.read(10)


def test_frames_are_rgb(tmp_path):
    red = tmp_path / "red.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "color=c=red:size=64x48:rate=5:duration=0.4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(red)], check=True)
    run_frames(red, tmp_path / "frames")
    pixel = FrameSequence(tmp_path / "frames").read(0)[24, 32].astype(int)
    assert pixel[0] > 200 and pixel[1] < 50 and pixel[2] < 50


def test_rate_size_and_rotation(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, size="160x120", fps=10)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-display_rotation", "-90", "-i", str(clip), "-c", "copy",
                    str(rotated)], check=True)
    run_frames(rotated, tmp_path / "frames", fps=5.0, max_size=80, qscale=5)
    index = json.loads((tmp_path / "frames" / "index.json").read_text())
    assert (index["width"], index["height"], index["rotation"], index["count"]) == (60, 80, 270, 5)
    assert index["source_indices"] == [0, 2, 4, 6, 8]
    assert FrameSequence(tmp_path / "frames").read(4).shape == (80, 60, 3)


def test_significant_settings():
    significant = {name for name, field in frames_stage.Config.__dataclass_fields__.items()
                   if field.metadata["significant"]}
    assert significant == {"fps", "max_size", "qscale"}


def test_bad_qscale_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="qscale"):
        run_frames(tmp_path / "unused.mp4", tmp_path / "frames", qscale=0)


def test_bad_video_is_an_input_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    with pytest.raises(InputError, match="not a video"):
        run_frames(text, tmp_path / "frames")
    with pytest.raises(InputError, match="not a frames artifact"):
        FrameSequence(tmp_path)


def test_frame_content_survives_jpeg(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.3, size="160x120", fps=10)
    run_frames(clip, tmp_path / "frames")
    decoded = next(iter_frames(clip)).rgb.astype(float)
    stored = FrameSequence(tmp_path / "frames").read(0).astype(float)
    assert np.abs(decoded - stored).mean() < 8  # testsrc2's saturated edges are a worst case for 4:2:0 JPEG


def test_resized_reads_decode_at_a_reduced_scale(tmp_path):
    import cv2

    clip = make_clip(tmp_path / "clip.mp4", seconds=0.2, size="320x240", fps=10)
    run_frames(clip, tmp_path / "frames")
    sequence = FrameSequence(tmp_path / "frames")
    full = sequence.read(1)
    for size in [(160, 120), (100, 75), (320, 240)]:  # decoded at 1/2, 1/2 then resized, in full
        resized = sequence.read_resized(1, size)
        assert resized.shape == (size[1], size[0], 3)
        expected = cv2.resize(full, size, interpolation=cv2.INTER_AREA).astype(float)
        assert np.abs(resized.astype(float) - expected).mean() < 6
    np.testing.assert_array_equal(sequence.read_resized(1, (320, 240)), full)


def test_repeated_frames_are_copies_and_no_source_files_remain(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.5, size="64x48", fps=10)
    run_frames(clip, tmp_path / "frames", fps=30.0)
    index = json.loads((tmp_path / "frames" / "index.json").read_text())
    assert index["count"] == 13 and index["source_indices"] == [round(k / 3) for k in range(13)]
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"{i:06d}.jpg" for i in range(13)] + ["index.json"]
    sequence = FrameSequence(tmp_path / "frames")
    np.testing.assert_array_equal(sequence.read(2), sequence.read(4))  # source frame 1, three times
    assert not np.array_equal(sequence.read(4), sequence.read(5))


def test_hd_colours_are_kept(tmp_path):
    """BT.709 video is converted to the BT.601 full-range colours that JPEG readers assume."""
    from vidcli.io.video import VideoWriter

    colours = np.random.default_rng(1).integers(30, 225, (6, 3))
    path = tmp_path / "hd.mp4"
    with VideoWriter(path, 10, (64, 48)) as writer:  # tags its output BT.709
        for colour in colours:
            writer.write(np.broadcast_to(colour.astype(np.uint8), (48, 64, 3)))
    run_frames(path, tmp_path / "frames")
    sequence = FrameSequence(tmp_path / "frames")
    for i, colour in enumerate(colours):
        assert np.abs(sequence.read(i)[8:40, 8:56].mean(axis=(0, 1)) - colour).max() < 5


def test_killing_the_stage_stops_its_ffmpeg(tmp_path):
    """ffmpeg writes the frames itself; it must not outlive a stage process killed mid-run."""
    import os
    import signal
    import time

    clip = make_clip(tmp_path / "long.mp4", seconds=60.0, size="640x360", fps=30,
                     extra=["-preset", "ultrafast"])
    out_dir = tmp_path / "frames"
    out_dir.mkdir()
    child = os.fork()
    if child == 0:  # the stage process
        try:
            run_frames(clip, out_dir / "run")
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while not any((out_dir / "run").glob(".source-*.jpg")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    time.sleep(0.5)
    written = len(list((out_dir / "run").glob(".source-*.jpg")))
    time.sleep(0.5)
    assert 0 < written == len(list((out_dir / "run").glob(".source-*.jpg")))  # nothing writes any more
    assert not (out_dir / "run" / "index.json").exists()


def test_read_ahead_gives_every_frame_asked_for_and_decodes_the_next_step_in_advance():
    asked = []

    def read(i):
        asked.append(i)
        if i == 7:
            raise InputError("frame 7 is damaged")
        return i * 10

    def wait_for(i):
        deadline = time.monotonic() + 10
        while i not in asked and time.monotonic() < deadline:
            time.sleep(0.01)

    with ReadAhead(read, count=20, depth=2) as ahead:
        assert ahead(0) == 0
        wait_for(1)
        assert ahead(1) == 10 and asked.count(1) == 1  # decoded once, ahead of the call
        assert [ahead(i) for i in (2, 4, 6)] == [20, 40, 60]
        wait_for(8)  # a stride of 2 is kept up
        assert ahead(8) == 80 and asked.count(8) == 1
        with pytest.raises(InputError, match="damaged"):
            ahead(7)  # out of step: read when asked, and the error reaches the caller
        assert [ahead(i) for i in (19, 3, 3)] == [190, 30, 30]
