"""`index.html` of a mocap result folder: the input video beside the 3D scene, in one file.

The page (`page/results.html`, `page/results.js`) carries three.js r147 (`page/three/`, from the npm
package `three@0.147.0`, MIT licence, see its README: the last release with classic-script builds,
which a page opened from disk may load without a server or browser flags) and its data: the camera
(intrinsics, a pose per frame), and per person segment its frame span, colour, files and `.glb`
(base64). The video is a relative link to the overlay next to it.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np

PAGE_NAME = "index.html"
_FILES = Path(__file__).with_name("page")
_THREE = ("three.min.js", "GLTFLoader.min.js", "OrbitControls.min.js")


def write_results_page(path: Path, title: str, camera, people: list[dict], video: str | None,
                       video_halves: int = 2) -> None:
    """Write the page. `people`: per segment `track`, `first` and `last` frame, `colour` (r, g, b),
    `root` (F, 3) pelvis path, `files` (names to link) and `glb` (path of its .glb)."""
    data = {
        "fps": float(camera.fps), "frames": int(len(camera.t_wc)), "width": int(camera.width),
        "height": int(camera.height),
        "K": [float(camera.K[0, 0]), float(camera.K[1, 1]), float(camera.K[0, 2]), float(camera.K[1, 2])],
        "camera": {"R_wc": np.round(camera.R_wc.reshape(-1, 9), 6).tolist(),
                   "t_wc": np.round(camera.t_wc, 4).tolist()},
        "video": video, "video_halves": video_halves,
        "people": [{"track": int(p["track"]), "first": int(p["first"]), "last": int(p["last"]),
                    "colour": "#{:02x}{:02x}{:02x}".format(*p["colour"]), "files": list(p["files"]),
                    "root": np.round(p["root"], 3).tolist(),
                    "glb": base64.b64encode(Path(p["glb"]).read_bytes()).decode("ascii")}
                   for p in people],
    }
    parts = {
        "TITLE": html.escape(title),
        "DATA": json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
        "THREE_JS": "\n".join((_FILES / "three" / name).read_text() for name in _THREE),
        "VIEWER_JS": (_FILES / "results.js").read_text(),
    }
    template = (_FILES / "results.html").read_text()
    page = re.sub(r"\b(TITLE|DATA|THREE_JS|VIEWER_JS)\b", lambda match: parts[match.group(1)], template)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(page)
    partial.replace(path)

