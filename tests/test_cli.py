"""The command line as a whole: help texts, global options, errors."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from conftest import vidcli
from vidcli.cli import main


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,)
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


@pytest.mark.parametrize("path", [()] + list(_commands(main)), ids=lambda p: " ".join(p) or "vidcli")
def test_every_help_ends_with_an_example(path):
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Example: vidcli" in result.output.strip().splitlines()[-1]


def test_unknown_command_is_a_usage_error():
    proc = vidcli("nosuchcommand")
    assert proc.returncode == 2 and "No such command" in proc.stderr


def test_workspace_from_environment(clip, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_WORKSPACE", str(tmp_path / "from-env"))
    vidcli("-q", "frames", str(clip), check=True)
    assert list((tmp_path / "from-env").glob("clip-*/frames/*/manifest.json"))


def test_a_text_file_given_as_video_is_invalid_input(tmp_path):
    """ffmpeg draws a long enough .txt file as 25 fps frames; vidcli must not run a pipeline on that."""
    notes = tmp_path / "notes.txt"
    notes.write_text("Videos to 3D human motion, every stage cached on disk.\n" * 40)
    proc = vidcli("flow", str(notes), workspace=tmp_path / "work")
    assert proc.returncode == 3
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.endswith(f"{notes}: is not a video but text, which ffmpeg's 'tty' "
                                                         "reader draws as frames")


def test_json_output_is_one_document_whatever_happens(tmp_path, clip):
    refused = vidcli("--json", "frames", str(clip), "--set", "frames.fps=inf", workspace=tmp_path / "w")
    assert refused.returncode == 2
    assert json.loads(refused.stdout) == {"error": "frames.fps must be a finite number, got inf", "exit_code": 2}
    missing = vidcli("--json", "frames", str(tmp_path / "none.mp4"), workspace=tmp_path / "w")
    assert missing.returncode == 3 and json.loads(missing.stdout)["exit_code"] == 3
