"""Open a mocap result's `index.html` in headless Chromium and measure it against its overlay video.

For a finished export artifact (in a workspace, e.g. after `vidcli mocap hiphop_clip1.mp4 --workspace W`):
the page's size, how long it takes to be ready to play, console errors, and at a few frames where the
page's video-camera view draws the body compared with the overlay video: the centre of the body's pixels
(page: saturated pixels over the grey scene; overlay: pixels that differ from the source frame) as a
fraction of the frame, and the body's height as a fraction of the frame's.

Usage: ANNY_CACHE_DIR=.cache/anny python benchmarks/results_page.py W/<input>/export/<key> [--frames 5,45]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vidcli.io.frames import FrameSequence
from vidcli.io.video import iter_frames


def _driver():
    """The Chromium driver and image helpers of tests/test_results_page.py (which imports its conftest)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    return importlib.import_module("test_results_page")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="an export artifact folder in a workspace")
    parser.add_argument("--frames", default="5,25,45,65,85", help="0-based frames to compare")
    args = parser.parse_args()
    driver = _driver()
    if driver.CHROMIUM is None:
        raise SystemExit("no Chromium found (Debian: apt-get install chromium)")
    manifest = json.loads((args.export / "manifest.json").read_text())
    frames = FrameSequence(args.export.parents[2] / manifest["upstream"]["frames"])
    page = args.export / "index.html"
    wanted = [int(f) for f in args.frames.split(",")]
    overlays = {f.index: f.rgb for f in iter_frames(args.export / "overlay.mp4") if f.index in wanted}

    browser = driver.Chromium(Path(tempfile.mkdtemp(prefix="vidcli-page-")))
    try:
        start = time.monotonic()
        browser.send("Page.navigate", session=True, url=page.resolve().as_uri())
        while not browser.evaluate("Boolean(window.vidcliPage && window.vidcliPage.ready)"):
            time.sleep(0.05)
        ready = time.monotonic() - start
        print(f"{page}: {page.stat().st_size / 1e6:.2f} MB, ready to play after {ready:.1f} s")
        print(f"{'frame':>5s} {'page centre':>14s} {'overlay centre':>15s} {'difference':>13s} "
              f"{'heights':>13s}")
        for frame in wanted:
            browser.evaluate(f"vidcliPage.setView('camera'); vidcliPage.setFrame({frame})")
            scene = driver._screenshot(browser, "scene").astype(int)
            in_page = driver._largest_blob(scene.max(axis=-1) - scene.min(axis=-1) > 60)
            left = overlays[frame][:, :overlays[frame].shape[1] // 2].astype(int)
            source = frames.read_resized(frame, (left.shape[1], left.shape[0])).astype(int)
            changed = (np.abs(left - source).sum(axis=-1) > 45).astype(np.uint8)
            closed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
            in_overlay = driver._largest_blob(closed > 0)
            centres = [driver._centre(mask) for mask in (in_page, in_overlay)]
            heights = [np.ptp(np.nonzero(mask)[0]) / mask.shape[0] for mask in (in_page, in_overlay)]
            print(f"{frame:5d} {np.array2string(centres[0], precision=3):>14s} "
                  f"{np.array2string(centres[1], precision=3):>15s} "
                  f"{np.array2string(np.abs(centres[0] - centres[1]), precision=3):>13s} "
                  f"{heights[0]:6.3f} {heights[1]:6.3f}")
        print("console errors:", browser.errors() or "none")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
