"""Shared fixtures: small videos made with the bundled ffmpeg, and a clean vidcli workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest

from vidcli.body.anny_model import anny_cache_dir

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: Path, seconds: float = 1.0, size: str = "160x120", fps: int = 10, extra: list[str] = ()) -> Path:
    """An H.264 clip of ffmpeg's moving test pattern."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}",
         *extra, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


@pytest.fixture
def clip(tmp_path) -> Path:
    return make_clip(tmp_path / "clip.mp4")


@pytest.fixture
def workspace(tmp_path) -> Path:
    return tmp_path / "work"


def vidcli(*args: str, workspace: Path | None = None, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `vidcli` console entry point in a subprocess."""
    command = [sys.executable, "-m", "vidcli"]
    if workspace is not None:
        command += ["--workspace", str(workspace)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(command + list(args), capture_output=True, text=True, env=env, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"vidcli {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


# Anny's built data (minutes to make): the user's one cache (`$VIDCLI_HOME/anny`, or ANNY_CACHE_DIR), fixed
# here for the whole session so that tests pointing VIDCLI_HOME at a temporary folder do not rebuild it.
os.environ.setdefault("ANNY_CACHE_DIR", str(anny_cache_dir()))


@pytest.fixture(scope="session")
def anny_body():
    """One Anny body model for the whole session."""
    from vidcli.body.anny_model import load_body

    return load_body()


@pytest.fixture
def luigid(tmp_path):
    """A real `luigid` central scheduler on a free local port; yields the port."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # luigi's own `luigid` entry point, run by this interpreter (the venv may not have the script)
    serve = "import sys; from luigi.cmdline import luigid; luigid(sys.argv[1:])"
    daemon = subprocess.Popen([sys.executable, "-c", serve, "--port", str(port),
                               "--address", "127.0.0.1", "--state-path", str(tmp_path / "luigid.pickle"),
                               "--logdir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "luigid did not start"
                time.sleep(0.2)
        yield port
    finally:
        daemon.terminate()
        daemon.wait()
