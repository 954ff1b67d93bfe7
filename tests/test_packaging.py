"""The wheel's layout: every package is listed, stages and workflows live under `vidcli`."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "vidcli").rglob("__init__.py")}
    assert on_disk - listed == set(), "add these packages to pyproject.toml"
    assert config["package-dir"] == {"vidcli": "vidcli", "vidcli.stages": "stages", "vidcli.workflows": "workflows"}
    assert {"vidcli.stages", "vidcli.workflows"} <= listed
    assert not any(name.split(".")[0] != "vidcli" for name in listed), "no generic top-level names"


def test_results_page_files_are_package_data():
    from fnmatch import fnmatch

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    page = ROOT / "vidcli" / "mocap" / "page"
    files = [p.relative_to(ROOT / "vidcli" / "mocap").as_posix() for p in page.rglob("*") if p.is_file()]
    assert {"page/results.html", "page/results.js", "page/three/three.min.js", "page/three/LICENSE"} <= set(files)
    assert all(any(fnmatch(name, pattern) for pattern in patterns["vidcli.mocap"]) for name in files)


def test_one_package_provides_cv2():
    """`make` keeps mediapipe's opencv-contrib-python as the only writer of cv2/ (ultralytics asks for
    opencv-python, whose files would overwrite it) (#16.4)."""
    from importlib.metadata import distributions

    writers = sorted({d.metadata["Name"] for d in distributions()
                      if any(str(f) == "cv2/__init__.py" for f in d.files or ())})
    assert writers == ["opencv-contrib-python"]


def test_the_pose_prior_is_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert (ROOT / "vidcli" / "mocap" / "data" / "pose_prior.npz").is_file()
    assert "data/pose_prior.npz" in patterns["vidcli.mocap"]
