"""Video input and output through an ffmpeg subprocess.

There is no ffprobe: `probe` reads what `ffmpeg -i` prints. `iter_frames` streams decoded frames
through a pipe, takes each frame's source timestamp from ffmpeg's `showinfo` filter and resamples
variable frame rate to constant frame rate in Python. numpy and ffmpeg-python are imported inside
the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

from vidcli.errors import ConfigError, InputError, StageError

# Options placed before everything else on every ffmpeg command line.
_GLOBAL_ARGS = ["-hide_banner", "-nostdin", "-nostats"]

# Open-time failures: a fragment of ffmpeg's stderr and what it means, checked in order.
_OPEN_FAILURES = (
    ("moov atom not found", "is truncated or not an mp4 (its 'moov' atom is missing)"),
    ("Permission denied", "is not readable (permission denied)"),
    ("no decoder found", "uses a video codec that this ffmpeg cannot decode"),
    ("Invalid data found when processing input", "is not a video file ffmpeg can read (invalid data)"),
)

# ffmpeg's readers that draw text files (ANSI art, binary text) as video frames: such "videos" are
# never footage. Single images come through `image2` or a `<codec>_pipe` reader.
_TEXT_DEMUXERS = {"tty", "bintext", "xbin", "adf", "idf"}
_DEMUXER = re.compile(r"^Input #0, (.+?), from ", re.MULTILINE)
_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+\S*: Video: (.*)")
_LOG_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)+")
_HEADER_LINE = re.compile(r"^(Input|Output) #|^Stream |^Press \[q\]|^Conversion failed!$")
MAX_FPS = 240.0  # the highest output frame rate: that of the fastest consumer cameras
# ffmpeg's words for failures of the machine (disk full, quota, read-only or failing disk), not of the input
_SYSTEM_ERRORS = re.compile(r"No space left on device|Disk quota exceeded|Read-only file system|"
                            r"Input/output error|Cannot allocate memory", re.IGNORECASE)
_ERROR_WORDS = re.compile(r"error|invalid|corrupt|not found|denied|no decoder|unknown", re.IGNORECASE)
_SHOWINFO_TIME_BASE = re.compile(r"config in time_base: (\d+)/(\d+)")
_SHOWINFO_FRAME = re.compile(r"\bn:\s*\d+\s+pts:\s*(-?\d+|NOPTS)")
# Stream colour matrices (as `ffmpeg -i` names them) that decode_jpegs converts with the colorspace
# filter, and that filter's name for each.
_COLORSPACE_FILTER_MATRICES = {"bt709": "bt709", "bt2020nc": "bt2020", "bt2020c": "bt2020",
                               "smpte240m": "smpte240m"}
_END = object()  # marks the end of a _StderrReader's timestamps


def ffmpeg_exe() -> str:
    """The ffmpeg to run: imageio-ffmpeg's bundled binary, or `VIDCLI_FFMPEG` (`system` = PATH)."""
    choice = os.environ.get("VIDCLI_FFMPEG", "")
    if not choice:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    if choice == "system":
        found = shutil.which("ffmpeg")
        if found is None:
            raise ConfigError("VIDCLI_FFMPEG=system but there is no ffmpeg on PATH")
        return found
    if not os.access(choice, os.X_OK):
        raise ConfigError(f"VIDCLI_FFMPEG={choice}: not an executable file")
    return choice


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a video's first video stream.

    `width`/`height` are as displayed, after the rotation in the container's display matrix;
    `rotation` is that matrix's counter-clockwise rotation in degrees (0, 90, 180 or 270).
    `frame_count` is an estimate (duration x fps), 0 when the duration is unknown. `color_matrix` is
    the YUV matrix the stream is tagged with ('bt709', 'smpte170m', ...; 'unknown' when untagged)
    and `full_range` whether its levels are full range (JPEG-style) rather than TV range.
    """

    width: int
    height: int
    rotation: int
    fps: float
    duration: float | None
    codec: str
    frame_count: int
    color_matrix: str = "unknown"
    full_range: bool = False


class Frame(NamedTuple):
    """One output frame of `iter_frames`: its index and time, and which source frame it shows."""

    index: int
    timestamp: float
    source_timestamp: float
    source_index: int
    rgb: Any  # HxWx3 uint8 numpy array


def probe(path) -> VideoInfo:
    """Describe the video at `path`; raise InputError when it is missing or not a decodable video."""
    path = Path(path)
    _check_readable(path)
    result = subprocess.run(
        [ffmpeg_exe(), *_GLOBAL_ARGS, "-i", _input_url(path)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
    )
    text = result.stderr
    stream = next((s for s in _VIDEO_STREAM.finditer(text) if "(attached pic)" not in s.group(1)), None)
    if stream is None:
        if "Input #0" in text:
            if "(attached pic)" in text:
                raise InputError(f"{path}: has no video stream, only a cover picture")
            if "Stream #" in text:
                raise InputError(f"{path}: has no video stream (audio or data only)")
            raise InputError(f"{path}: has no video frames (the file holds no streams)")
        raise InputError(f"{path}: {_open_failure(text.splitlines())}")
    description = stream.group(1)
    codec = description.split()[0].strip(",")
    demuxer = _DEMUXER.search(text).group(1)
    if demuxer in _TEXT_DEMUXERS:
        raise InputError(f"{path}: is not a video but text, which ffmpeg's '{demuxer}' reader draws as "
                         "frames")
    if demuxer == "image2" or demuxer.endswith("_pipe"):
        raise InputError(f"{path}: is a still image ({codec}), not a video")
    if codec == "none":
        tag = re.search(r"\((\S{4}) / 0x", description)
        named = f" '{tag.group(1)}'" if tag else ""
        raise InputError(f"{path}: uses a video codec{named} that this ffmpeg cannot decode")
    size = re.search(r"\b([1-9]\d*)x([1-9]\d*)\b", description)
    if size is None:
        raise InputError(f"{path}: ffmpeg reports no frame size for its video stream")
    width, height = int(size.group(1)), int(size.group(2))
    rotation_match = re.search(r"rotation of (-?[\d.]+) degrees", text[stream.start():])
    rotation = round(float(rotation_match.group(1))) % 360 if rotation_match else 0
    if rotation in (90, 270):
        width, height = height, width
    duration_match = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    duration = None
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    fps = _stream_rate(description)
    frame_count = round(duration * fps) if duration and fps else 0
    color_matrix, full_range = _colour_tags(description)
    return VideoInfo(width, height, rotation, fps, duration, codec, frame_count, color_matrix, full_range)


def scaled_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """(width, height) with the longest side at most `max_size` (0 = keep), both even."""
    scale = min(1.0, max_size / max(width, height)) if max_size else 1.0
    return max(2, 2 * int(width * scale / 2 + 1e-6)), max(2, 2 * int(height * scale / 2 + 1e-6))


def iter_frames(path, fps: float | None = None, max_size: int = 0):
    """Decode `path` as constant-rate RGB frames, streaming (never the whole video in memory).

    Output frame k is at time t0 + k/fps (t0: the first source frame's timestamp; fps: `fps`, or the
    source's average rate) and shows the source frame nearest to that time, so variable frame rate
    becomes constant, with frames repeated or dropped. ffmpeg applies the container's rotation.
    Yields `Frame`s; a repeated source frame is the same array object. Raises InputError for
    unreadable inputs, decoding errors and videos without frames.
    """
    path = Path(path)
    info = probe(path)
    rate = fps or info.fps
    if not rate or rate <= 0:
        raise InputError(f"{path}: ffmpeg reports no frame rate; give one explicitly")
    size = scaled_size(info.width, info.height, max_size)
    decoded = _decode(path, size, fallback_rate=info.fps or rate)
    try:
        for k, timestamp, (source_index, source_timestamp, rgb) in constant_rate(decoded, rate):
            yield Frame(k, timestamp, source_timestamp, source_index, rgb)
    finally:
        decoded.close()


class VideoWriter:
    """Write RGB frames to an H.264 yuv420p mp4 with +faststart, which browsers play.

    Odd sizes are padded to even. Frames go to a hidden temporary file that is renamed to `path`
    only when the `with` block ends without an error, so no half-written video is left looking
    complete.
    """

    def __init__(self, path, fps: float, size: tuple[int, int], crf: int = 18, preset: str = "medium"):
        self.path = Path(path)
        self.fps, self.size, self.crf, self.preset = fps, tuple(size), crf, preset
        self.frames = 0
        self._partial = self.path.with_name(f".{self.path.name}.partial")
        self._process: subprocess.Popen | None = None
        self._stderr: _StderrReader | None = None

    def __enter__(self) -> VideoWriter:
        import ffmpeg

        width, height = self.size
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}",
                              framerate=f"{rate.numerator}/{rate.denominator}")
        if width % 2 or height % 2:
            stream = stream.filter("pad", width + width % 2, height + height % 2)
        # Convert and tag as BT.709, limited range: what browsers assume for untagged HD video.
        stream = stream.filter("scale", out_color_matrix="bt709", out_range="tv").filter(
            "setparams", colorspace="bt709", color_primaries="bt709", color_trc="bt709", range="tv")
        cmd = stream.output(
            str(self._partial), format="mp4", vcodec="libx264", pix_fmt="yuv420p", crf=self.crf,
            preset=self.preset, movflags="+faststart",
        ).compile(cmd=ffmpeg_exe(), overwrite_output=True)
        self._process = subprocess.Popen(
            [cmd[0], *_GLOBAL_ARGS, "-loglevel", "error", *cmd[1:]],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self._stderr = _StderrReader(self._process.stderr)
        return self

    def write(self, rgb) -> None:
        """Append one HxWx3 uint8 RGB frame of the writer's size."""
        import numpy as np

        width, height = self.size
        if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
            raise StageError(
                f"{self.path.name}: frame {rgb.shape} {rgb.dtype} is not {height}x{width}x3 uint8")
        try:
            self._process.stdin.write(np.ascontiguousarray(rgb).data)
        except BrokenPipeError:
            self._process.wait()
            self._stderr.join()
            reason = _error_summary(self._stderr.lines)
            raise StageError(f"writing {self.path.name} failed: {reason}") from None
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        process = self._process
        if exc_type is not None:
            process.kill()
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        returncode = process.wait()
        self._stderr.join()
        if exc_type is None and returncode == 0 and self.frames:
            os.replace(self._partial, self.path)
            return
        self._partial.unlink(missing_ok=True)
        if exc_type is None:
            reason = _error_summary(self._stderr.lines) if returncode else "no frames were written"
            raise StageError(f"writing {self.path.name} failed: {reason}")


class _StderrReader(threading.Thread):
    """Drain an ffmpeg stderr pipe: `showinfo` frame timestamps (seconds, None without one) go to
    `timestamps`, then `_END`; other lines are kept in `lines` for error messages."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.timestamps: queue.SimpleQueue = queue.SimpleQueue()
        self.lines: collections.deque[str] = collections.deque(maxlen=100)
        self.start()

    def run(self) -> None:
        time_base = None
        for raw in self.pipe:
            line = raw.decode(errors="replace").rstrip()
            if "Parsed_showinfo" not in line:
                if line and not line[0].isspace():
                    self.lines.append(line)
                continue
            frame = _SHOWINFO_FRAME.search(line)
            if frame:
                pts = frame.group(1)
                known = pts != "NOPTS" and time_base is not None
                self.timestamps.put(float(int(pts) * time_base) if known else None)
            elif base := _SHOWINFO_TIME_BASE.search(line):
                time_base = Fraction(int(base.group(1)), int(base.group(2)))
        self.pipe.close()
        self.timestamps.put(_END)


def decode_jpegs(path, out_dir, info: VideoInfo, size: tuple[int, int], qscale: int, fallback_rate: float,
                 on_frame=None) -> list[tuple[int, float, Path]]:
    """Decode every frame of `path` (described by `info`) at `size` straight to JPEGs in `out_dir`.

    ffmpeg's MJPEG encoder writes them, with the colours converted to what JPEG readers assume
    (BT.601, full range) and the container's rotation applied. `qscale` is ffmpeg's `-q:v`: 1 (best)
    to 31. `on_frame()` is called as each frame is decoded. Returns (source_index,
    source_timestamp, file) for every frame in display order, the files named `.source-NNNNNN.jpg`;
    raises InputError like `iter_frames`.
    """
    path, out_dir = Path(path), Path(out_dir)
    stream = _showinfo_stream(path)
    matrix = _COLORSPACE_FILTER_MATRICES.get(info.color_matrix)
    if matrix is None:  # BT.601 or untagged (taken as BT.601): only the levels change
        stream = stream.filter("scale", *size, flags="area", out_color_matrix="bt601", out_range="full")
    else:  # the colorspace filter's fast mode converts the matrix many times faster than scale does
        stream = stream.filter("scale", *size, flags="area").filter("format", "yuv420p").filter(
            "colorspace", iall=matrix, irange="pc" if info.full_range else "tv", all="bt601-6-625",
            range="pc", fast=1, format="yuv420p")
    output = stream.output(str(out_dir / ".source-%06d.jpg"), format="image2", vcodec="mjpeg",
                           pix_fmt="yuvj420p", qmin=1, start_number=0, fps_mode="passthrough",
                           **{"q:v": qscale})
    process, stderr = _start_decoder(output)
    stamps = _SourceTimes(fallback_rate)
    try:
        while (stamp := stderr.timestamps.get()) is not _END:
            stamps.add(stamp)
            if on_frame:
                on_frame()
        process.wait()
    finally:
        _reap(process, stderr)
    files = [out_dir / f".source-{i:06d}.jpg" for i in range(len(stamps.times))]
    written = sum(1 for f in files if f.is_file())
    _check_decoded(path, process, stderr, written, partial=written < len(files))
    return [(i, t, f) for i, (t, f) in enumerate(zip(stamps.times, files))]


def _showinfo_stream(path: Path):
    """An ffmpeg-python stream of the first video stream of `path`, through `showinfo`, which
    `_StderrReader` reads each frame's timestamp from."""
    import ffmpeg

    return ffmpeg.input(_input_url(path))["v:0"].filter("showinfo", checksum=0)


def _start_decoder(output):
    """Start ffmpeg for an ffmpeg-python `output`, stopping at the first decoding error."""
    cmd = output.compile(cmd=ffmpeg_exe())
    process = subprocess.Popen(
        [cmd[0], *_GLOBAL_ARGS, "-xerror", *cmd[1:]],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    return process, _StderrReader(process.stderr)


def _die_with_parent() -> None:
    """Run in the child before exec: Linux kills it when its parent dies, so a killed stage never
    leaves an ffmpeg behind writing frames (ffmpeg ignores the broken pipes)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _reap(process: subprocess.Popen, stderr: _StderrReader) -> None:
    """Kill ffmpeg if it still runs, then close its pipes."""
    if process.poll() is None:
        process.kill()
        process.wait()
    process.stdout.close()
    stderr.join()


def _check_decoded(path: Path, process: subprocess.Popen, stderr: _StderrReader, count: int,
                   partial: bool) -> None:
    """Raise InputError when ffmpeg failed, stopped inside a frame or decoded no frame at all; StageError
    when it failed for a reason of the machine (a full disk)."""
    failed = process.returncode != 0 or partial
    system = next((line for line in stderr.lines if _SYSTEM_ERRORS.search(line)), None)
    if failed and system:  # the machine failed, not the input: exit 1, never "bad input" (3)
        raise StageError(f"{path}: ffmpeg failed after {count} frames: {_LOG_PREFIX.sub('', system).strip()}")
    if count == 0:
        detail = f" ({_error_summary(stderr.lines)})" if failed else ""
        raise InputError(f"{path}: has no video frames{detail}")
    if failed:
        raise InputError(f"{path}: decoding failed after {count} frames: {_error_summary(stderr.lines)}")


class _SourceTimes:
    """Frame timestamps from `showinfo`; a frame without one is put 1/`fallback_rate` after the last."""

    def __init__(self, fallback_rate: float):
        self.fallback_rate = fallback_rate
        self.times: list[float] = []

    def add(self, stamp: float | None) -> float:
        if stamp is None:
            stamp = self.times[-1] + 1.0 / self.fallback_rate if self.times else 0.0
        self.times.append(stamp)
        return stamp


def _decode(path: Path, size: tuple[int, int], fallback_rate: float):
    """Yield (source_index, source_timestamp, rgb) for every decoded frame, in display order."""
    import numpy as np

    width, height = size
    stream = _showinfo_stream(path).filter("scale", width, height, flags="area")
    process, stderr = _start_decoder(stream.output("pipe:", format="rawvideo", pix_fmt="rgb24",
                                                   fps_mode="passthrough"))
    stamps, partial, stamps_ended = _SourceTimes(fallback_rate), False, False
    try:
        while True:
            rgb = np.empty((height, width, 3), np.uint8)
            got = _read_into(process.stdout, memoryview(rgb.reshape(-1)))
            if got < rgb.nbytes:
                partial = got > 0
                break
            stamp = None if stamps_ended else stderr.timestamps.get()
            if stamp is _END:
                stamps_ended, stamp = True, None
            yield len(stamps.times), stamps.add(stamp), rgb
        process.wait()
    finally:
        _reap(process, stderr)
    _check_decoded(path, process, stderr, len(stamps.times), partial)


def constant_rate(decoded, fps: float):
    """Resample (source_index, source_timestamp, payload) items, in display order, to constant rate.

    Yields (k, t0 + k/fps, item) with the item nearest in time (t0: the first item's timestamp), so
    items are repeated or dropped as needed. A rate outside (0, MAX_FPS] is refused before anything
    is read: infinity would loop forever, NaN yield one frame, and 100000 fps write gigabytes.
    """
    if not (isinstance(fps, (int, float)) and 0 < fps <= MAX_FPS):  # NaN fails every comparison
        raise ConfigError(f"frame rate {fps!r} fps is outside (0, {MAX_FPS:g}]; give a rate with --fps")
    k, previous, start = 0, None, 0.0
    for current in decoded:
        if previous is None:
            previous, start = current, current[1]
            continue
        midpoint = (previous[1] + current[1]) / 2
        while start + k / fps <= midpoint:
            yield k, start + k / fps, previous
            k += 1
        previous = current
    if previous is not None:
        while k == 0 or start + k / fps < previous[1] + 0.5 / fps:
            yield k, start + k / fps, previous
            k += 1


def _read_into(pipe, buffer: memoryview) -> int:
    """Fill `buffer` from `pipe`; return the number of bytes read (less only at end of stream)."""
    filled = 0
    while filled < len(buffer):
        got = pipe.readinto(buffer[filled:])
        if not got:
            break
        filled += got
    return filled


def _stream_rate(description: str) -> float:
    """The average frame rate from a stream line ('29.97 fps', else 'tbr'); NTSC rates made exact."""
    match = re.search(r"(\d+(?:\.\d+)?)(k?) (?:fps|tbr)", description)
    if match is None:
        return 0.0
    rate = float(match.group(1)) * (1000 if match.group(2) else 1)
    ntsc = round(rate * 1.001)
    if rate != int(rate) and abs(ntsc / 1.001 - rate) < 0.005:
        return ntsc / 1.001
    return rate


def _colour_tags(description: str) -> tuple[str, bool]:
    """(YUV matrix, full range) from the pixel format on a stream line, e.g. 'yuv420p(tv, bt709)' or
    'yuvj420p(pc, bt470bg/unknown/unknown)' (matrix/primaries/transfer); ('unknown', False) when untagged."""
    match = re.search(r", (\w+)\(([^)]*)\)", description)
    if match is None:
        return "unknown", False
    pixel_format, tags = match.group(1), [tag.strip() for tag in match.group(2).split(",")]
    full_range = "pc" in tags or (pixel_format.startswith("yuvj") and "tv" not in tags)
    field_order = ("progressive", "top", "bottom")
    matrices = [tag.split("/")[0] for tag in tags
                if tag not in ("tv", "pc") and not tag.startswith(field_order)
                and re.fullmatch(r"[\w/-]+", tag)]
    return (matrices[0] if matrices else "unknown"), full_range


def _check_readable(path: Path) -> None:
    try:
        path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:  # a name too long, a loop of links: the path itself is bad
        raise InputError(f"{path}: {error.strerror}") from None
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: is not readable (permission denied)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: is empty (0 bytes)")


def _input_url(path: Path) -> str:
    """A `file:` URL, so that names with ':' are never taken for another ffmpeg protocol."""
    return f"file:{path}"


def _open_failure(lines) -> str:
    """Why ffmpeg could not open or start decoding an input, in a few words."""
    text = "\n".join(lines)
    for fragment, meaning in _OPEN_FAILURES:
        if fragment in text:
            return meaning
    return _error_summary(lines)


def _error_summary(lines) -> str:
    """The first line of ffmpeg's stderr that reads like an error, without its `[component @ 0x..]` tags."""
    cleaned = [_LOG_PREFIX.sub("", line).strip() for line in lines]
    cleaned = [line for line in cleaned if line and not _HEADER_LINE.match(line)]
    for line in cleaned:
        if _ERROR_WORDS.search(line):
            return line
    return cleaned[-1] if cleaned else "ffmpeg failed without a message"
