"""Regression tests of the hardening in #15: bad numbers, the central scheduler, data-deleting commands,
pickled body files, signals, full disks and leftovers. The fuzz and fault-injection suite is
tests/test_faults.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import vidcli

from vidcli.errors import ConfigError
from vidcli.workflow import load_workflow


def _workflow(tmp_path, config: str):
    path = tmp_path / "wf.yaml"
    path.write_text(f"pipeline: frames\ninputs: [a.mp4]\nconfig: {{frames: {config}}}\n")
    return load_workflow(path)


def test_yaml_numbers_in_exponent_form_are_numbers(tmp_path):
    assert _workflow(tmp_path, "{fps: 2.5e1}").pipeline.stages["frames"].config.fps == 25.0
    with pytest.raises(ConfigError, match=r"frames.fps must lie in \[0, 240\], got 1000.0"):
        _workflow(tmp_path, "{fps: 1e3}")


@pytest.mark.parametrize("value, message", [
    (".nan", "must be a finite number"), (".inf", "must be a finite number"), ("-1", "must lie in"),
])
def test_workflow_numbers_must_be_finite_and_bounded(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message):
        _workflow(tmp_path, f"{{fps: {value}}}")


def test_booleans_are_not_sizes(tmp_path):
    with pytest.raises(ConfigError, match="frames.max_size must be int, got bool"):
        _workflow(tmp_path, "{max_size: true}")


def test_user_text_is_never_rich_markup(clip, tmp_path):
    """A value or path holding `[/]` gave a traceback; `[draft] take1.mp4` was printed as ` take1.mp4` (#15.5)."""
    draft = tmp_path / "[draft] take1.mp4"
    draft.write_bytes(clip.read_bytes())
    workspace = tmp_path / "w[/]b"
    bad = vidcli("frames", str(draft), "--set", "frames.qscale=[/]", workspace=workspace)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "error: frames.qscale must be int, got '[/]'"
    good = vidcli("frames", str(draft), workspace=workspace)
    assert good.returncode == 0 and "[draft] take1.mp4" in good.stdout and "w[/]b" in good.stdout


def test_quiet_hides_native_library_chatter(tmp_path):
    """Under -q only vidcli's warnings and errors reach stderr, not what C++ libraries print (#15.11)."""
    script = ("import os, sys; from vidcli import cli; from vidcli import console;"
              "cli.main.add_command(__import__('click').command('noise')(lambda: (os.write(2, b'W0000 native\\n'),"
              " console.error('kept'))));"
              "cli.main(['-q', 'noise'])")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stderr == "error: kept\n"
