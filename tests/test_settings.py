"""Settings: declared once, checked once at plan time, reachable with `--set`, listed by `vidcli settings`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
from conftest import vidcli

from vidcli.engine.pipeline import load_pipeline
from vidcli.engine.plan import build_plan
from vidcli.engine.stage import load_stage
from vidcli.engine.store import Workspace
from vidcli.errors import ConfigError
from vidcli.settings import Interval, build, setting, settings_of


@dataclass
class Example:
    rate: float = setting(1.0, "a rate", bounds="(0, 240]")
    count: int = setting(2, "a count", bounds="[1, 10]")
    mode: str = setting("a", "a mode", choices=("a", "b"))
    flag: bool = setting(False, "a flag")
    device: str = setting("cpu", "where", significant=False)


def test_values_are_typed_bounded_and_finite():
    built = build(Example, {"rate": 3, "count": 4, "mode": "b", "flag": True}, "x")
    assert built == Example(3.0, 4, "b", True)
    assert build(Example, {"rate": "1e2"}, "x").rate == 100.0  # YAML reads 1e2 as text
    for values, message in (({"rate": math.nan}, "x.rate must be a finite number"),
                            ({"rate": math.inf}, "x.rate must be a finite number"),
                            ({"rate": 0.0}, r"x.rate must lie in \(0, 240\]"),
                            ({"rate": 241}, r"x.rate must lie in \(0, 240\]"),
                            ({"count": True}, "x.count must be int, got bool"),
                            ({"count": 2.5}, "x.count must be int, got float"),
                            ({"mode": "c"}, "x.mode must be one of a, b"),
                            ({"flag": 1}, "x.flag must be bool"),
                            ({"speed": 1}, "x: unknown setting 'speed'; known: rate, count, mode, flag")):
        with pytest.raises(ConfigError, match=message):
            build(Example, values, "x")


def test_command_line_text_is_parsed_by_the_field_type():
    parsed = build(Example, {}, "x", {"rate": "2.5", "count": "3", "flag": "yes", "mode": "b"})
    assert parsed == Example(2.5, 3, "b", True)
    with pytest.raises(ConfigError, match="x.flag must be true or false"):
        build(Example, {}, "x", {"flag": "maybe"})
    with pytest.raises(ConfigError, match="x.count must be int, got 'many'"):
        build(Example, {}, "x", {"count": "many"})


def test_intervals():
    assert 240 in Interval.parse("(0, 240]") and 0 not in Interval.parse("(0, 240]")
    assert str(Interval.parse("[1, inf)")) == "[1, inf)" and 1e9 in Interval.parse("[1, inf)")


def _keys(tmp_path, assignments=()):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"content")
    [plan] = build_plan(load_pipeline("mocap", assignments=list(assignments)), [{"video": video}],
                        Workspace(tmp_path / "w"))
    return {stage: node.key for stage, node in plan.nodes.items()}


def test_a_set_setting_changes_its_stage_and_what_follows_only(tmp_path):
    base, changed = _keys(tmp_path), _keys(tmp_path, ["world.smooth=0.1"])
    assert {stage for stage in base if base[stage] != changed[stage]} == {"world", "export"}
    with pytest.raises(ConfigError, match="pipeline mocap has no stage 'wrld'"):
        _keys(tmp_path, ["wrld.smooth=0.1"])
    with pytest.raises(ConfigError, match="write STAGE.FIELD=VALUE"):
        _keys(tmp_path, ["world.smooth"])


def test_set_on_the_command_line(tmp_path, clip):
    typo = vidcli("frames", str(clip), "--set", "frames.fsp=5", workspace=tmp_path / "w")
    assert typo.returncode == 2
    assert typo.stderr.strip() == "error: frames: unknown setting 'fsp'; known: fps, max_size, qscale"
    bad = vidcli("frames", str(clip), "--set", "frames.fps=inf", workspace=tmp_path / "w")
    assert bad.returncode == 2 and "frames.fps must be a finite number" in bad.stderr
    done = vidcli("--json", "frames", str(clip), "--set", "frames.max_size=64", "--set", "frames.fps=5",
                  workspace=tmp_path / "w", check=True)
    [result] = json.loads(done.stdout)["results"]
    manifest = json.loads(open(f"{result['artifact']}/manifest.json").read())
    assert (manifest["config"]["max_size"], manifest["config"]["fps"]) == (64, 5.0)


def test_settings_lists_every_field_of_every_stage():
    listed = json.loads(vidcli("--json", "settings", "mocap", check=True).stdout)["settings"]
    expected = [f"{stage}.{name}" for stage in load_pipeline("mocap").stages
                for name in settings_of(load_stage(stage).Config)]
    assert [row["setting"] for row in listed] == expected
    smooth = next(row for row in listed if row["setting"] == "world.smooth")
    assert smooth["default"] == 1.0 and smooth["type"] == "float" and smooth["allowed"] == "[0, 1e+06]"
    text = vidcli("settings", "mocap", check=True).stdout
    assert "world.smooth = 1.0" in text and "camera.device = 'auto'" in text


def test_dedicated_options_take_their_help_from_the_setting():
    from vidcli.stages import track

    help_text = " ".join(vidcli("mocap", "--help", check=True).stdout.split())
    assert settings_of(track.Config)["max_people"].doc.capitalize() in help_text
