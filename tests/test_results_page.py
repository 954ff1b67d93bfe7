"""The mocap results page (`index.html`) in a real headless Chromium: it loads from disk without console
errors, steps to a frame, and draws the body where the overlay video draws it.

The world artifact is made by hand (a body walking past a camera that pans and moves), so the test needs
no fitting; the export stage writes the .glb, the overlay and the page from it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import make_clip
from vidcli.engine.stage import Artifact, Source, load_stage, planned_config

CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no Chromium found (Debian: apt-get install chromium)")

FPS, SIZE, FRAMES = 10, (320, 240), 20


def _world(directory: Path) -> Path:
    """A world artifact: one adult walking from left to right 4 m in front of a camera that pans 10 degrees
    and moves 0.4 m, swinging the arms, facing the camera."""
    from vidcli.body.models import BodySpec, load_body_model, pose_numpy
    from vidcli.io.camera import CameraTrack, write_camera
    from vidcli.io.motion import MOTION_NPZ, WORLD_JSON, MotionTable, write_motion

    model = load_body_model(BodySpec())
    shape = np.zeros(len(model.shape_labels))
    shape[:4] = 0.5
    steps = np.linspace(0, 1, FRAMES)
    turns = np.zeros((FRAMES, 24, 3))
    turns[:, 0, 1] = np.pi  # facing the camera
    for shoulder, sign in ((16, 1), (17, -1)):
        turns[:, shoulder, 0] = sign * 0.6 * np.sin(2 * np.pi * steps)
    local = Rotation.from_rotvec(turns.reshape(-1, 3)).as_matrix().reshape(FRAMES, 24, 3, 3)
    soles = model.rest_mesh(shape)[0][:, 1].min()
    root = np.stack([np.linspace(-1.0, 1.0, FRAMES), np.full(FRAMES, -soles), np.full(FRAMES, 4.0)], 1)
    _, joints, landmarks = pose_numpy(model, shape, local, root)

    looking_along_z = np.diag([-1.0, -1.0, 1.0])  # camera x, y (down), z (forward) in the world
    pan = Rotation.from_euler("y", np.radians(np.linspace(-5, 5, FRAMES))[:, None]).as_matrix()
    R_wc = pan @ looking_along_z
    t_wc = np.stack([np.linspace(-0.2, 0.2, FRAMES), np.full(FRAMES, 1.2), np.zeros(FRAMES)], 1)
    K = np.array([[280.0, 0, 165], [0, 280, 118], [0, 0, 1]])

    def to_camera(points):
        return np.einsum("fji,fkj->fki", R_wc, points - t_wc[:, None])

    directory.mkdir()
    write_motion(directory / MOTION_NPZ, MotionTable(
        frame=np.arange(FRAMES), track_id=np.ones(FRAMES, int), joints_world=joints,
        joints_cam=to_camera(joints),
        blazepose_world=landmarks, blazepose_cam=to_camera(landmarks), blazepose_valid=model.landmark_valid,
        contact=np.zeros((FRAMES, 2), bool), shape=np.tile(shape, (FRAMES, 1)), rotations=local,
        root_world=root, segment=np.zeros(FRAMES, int), interpolated=np.zeros(FRAMES, bool)))
    write_camera(directory, CameraTrack(K, R_wc, t_wc, np.arange(FRAMES) / FPS, *SIZE, float(FPS)))
    ground = {"normal": [0, 1, 0], "offset": 0.0, "candidates": 0, "people_frames": 0.0, "camera_frames": 60.0,
              "level_deg": 0.0}
    (directory / WORLD_JSON).write_text(json.dumps({"body_model": BodySpec().as_dict(), "ground": ground}))
    return directory


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """The export stage's folder for the hand-made world, and the frames it was drawn over."""
    root = tmp_path_factory.mktemp("page")
    video = make_clip(root / "clip.mp4", seconds=FRAMES / FPS, size=f"{SIZE[0]}x{SIZE[1]}", fps=FPS)
    frames = root / "frames"
    frames.mkdir()
    frames_stage = load_stage("frames")
    frames_stage.run(frames_stage.Config(), {"video": Source(video, "test")}, frames)
    export = load_stage("export")
    out = root / "export"
    out.mkdir()
    inputs = {"frames": Artifact(frames), "world": Artifact(_world(root / "world"))}
    export.run(planned_config(export, {"rig": "mixamo", "formats": "glb,video,page"}), inputs, out)
    return out, frames


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
    messages ending in a NUL byte, commands on fd 3, replies and events on fd 4)."""

    def __init__(self, profile: Path):
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        flags = ["--headless", "--no-sandbox", "--remote-debugging-pipe", "--allow-file-access-from-files",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--mute-audio", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1000,600",
                 f"--user-data-dir={profile}"]
        self.process = subprocess.Popen(
            [CHROMIUM, *flags, "about:blank"], pass_fds=(3, 4), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=lambda: _as_fds_3_and_4(commands_read, replies_write))
        os.close(commands_read)
        os.close(replies_write)
        self._buffer, self._next_id, self.events = b"", 0, []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable", session=True)

    def send(self, method: str, session: bool = False, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", session=True, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads reported so far."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                out.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
            elif method == "Runtime.exceptionThrown":
                out.append(str(params["exceptionDetails"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(params["entry"]["text"])
        return out

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        os.close(self._commands)
        os.close(self._replies)


def _as_fds_3_and_4(commands: int, replies: int) -> None:
    """In the child: the pipe ends as fds 3 and 4 (through copies, in case they are 3 and 4 swapped)."""
    commands, replies = os.dup(commands), os.dup(replies)
    os.dup2(commands, 3)
    os.dup2(replies, 4)


@pytest.fixture
def browser(tmp_path):
    chromium = Chromium(tmp_path / "profile")
    yield chromium
    chromium.close()


def _centre(mask: np.ndarray) -> np.ndarray:
    """Centroid of a mask's pixels as a fraction of its width and height."""
    rows, columns = np.nonzero(mask)
    return np.array([columns.mean() / mask.shape[1], rows.mean() / mask.shape[0]])


def _largest_blob(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected region of a mask (video compression leaves specks around edges)."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA]) if count > 1 else mask


def _screenshot(browser: Chromium, element: str) -> np.ndarray:
    """RGB pixels of the element with that id, as the page shows them."""
    box = browser.evaluate(f"(() => {{ const r = document.getElementById('{element}')"
                           ".getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, "
                           "height: r.height, scale: 1}; })()")
    return _png(browser.send("Page.captureScreenshot", session=True, format="png", clip=box)["data"])


def _png(data: str) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    return image[..., ::-1]


def test_page_plays_in_chromium_and_draws_the_body_where_the_overlay_does(result, browser):
    import cv2

    from vidcli.io.frames import FrameSequence
    from vidcli.io.video import iter_frames

    out, frames_dir = result
    page = out / "index.html"
    assert "index.html" in json.loads((out / "summary.json").read_text())["files"]
    browser.send("Page.navigate", session=True, url=page.as_uri())
    deadline = time.monotonic() + 60
    while not browser.evaluate("Boolean(window.vidcliPage && window.vidcliPage.ready)"):
        assert time.monotonic() < deadline, f"the page never got ready: {browser.errors()}"
        time.sleep(0.2)
    frame = 12
    assert browser.evaluate(f"vidcliPage.setView('camera'); vidcliPage.setFrame({frame})") == frame
    state = browser.evaluate("(() => { const v = document.querySelector('video'); return {"
                             "slider: Number(document.getElementById('slider').value), time: v.currentTime,"
                             "ready: v.readyState, error: v.error && v.error.message}; })()")
    assert state["slider"] == frame and state["time"] == pytest.approx((frame + 0.5) / FPS)
    assert state["ready"] >= 2 and state["error"] is None  # the overlay decodes and shows that frame
    scene, shown = (_screenshot(browser, element) for element in ("scene", "video-pane"))

    # Playing moves the video, the slider and the scene together; pausing stops all three.
    browser.evaluate("vidcliPage.setFrame(0).then(() => vidcliPage.play())")
    time.sleep(0.6)
    played = browser.evaluate(
        "(() => { vidcliPage.pause(); const v = document.querySelector('video'); "
        "return {frame: vidcliPage.frame, "
        f"slider: Number(document.getElementById('slider').value), video: Math.floor(v.currentTime * {FPS}), "
        "paused: v.paused}; })()")
    assert played["paused"] and 0 < played["frame"] == played["slider"]
    assert played["video"] == played["frame"]
    assert not browser.errors(), browser.errors()
    if "VIDCLI_PAGE_SHOT" in os.environ:  # to look at it
        full = browser.send("Page.captureScreenshot", session=True, format="png")
        Path(os.environ["VIDCLI_PAGE_SHOT"]).write_bytes(base64.b64decode(full["data"]))

    # The body in the page: the saturated pixels (the background, grid and camera path are grey).
    scene = scene.astype(int)
    body_in_page = _largest_blob(scene.max(axis=-1) - scene.min(axis=-1) > 60)
    overlays = {f.index: f.rgb[:, :f.rgb.shape[1] // 2].astype(int) for f in iter_frames(out / "overlay.mp4")
                if abs(f.index - frame) <= 1}
    left = overlays[frame]
    # The video pane shows that frame of the overlay, not its neighbours.
    shown = cv2.resize(shown, left.shape[1::-1], interpolation=cv2.INTER_AREA).astype(int)
    assert min(overlays, key=lambda k: np.abs(overlays[k] - shown).mean()) == frame
    source = FrameSequence(frames_dir).read_resized(frame, (left.shape[1], left.shape[0])).astype(int)
    body_in_overlay = _largest_blob(np.abs(left - source).sum(axis=-1) > 90)
    assert body_in_page.mean() > 0.01 and body_in_overlay.mean() > 0.01
    np.testing.assert_allclose(_centre(body_in_page), _centre(body_in_overlay), atol=0.02)
    heights = [np.ptp(np.nonzero(mask)[0]) / mask.shape[0] for mask in (body_in_page, body_in_overlay)]
    assert heights[0] == pytest.approx(heights[1], abs=0.04)
