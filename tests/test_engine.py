"""The cached-stage engine end to end, through the real `vidcli` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FFMPEG, make_clip, vidcli


def artifacts(workspace: Path, stage: str) -> list[Path]:
    return sorted(p.parent for p in workspace.glob(f"*/{stage}/*/manifest.json"))


def leftovers(workspace: Path) -> list[Path]:
    return [p for p in workspace.glob("*/*/.*") if p.is_dir()]


def results(proc) -> dict[str, str]:
    return {r["stage"]: r["status"] for r in json.loads(proc.stdout)["results"]}


def test_second_run_executes_nothing(clip, workspace):
    first = vidcli("--json", "flow", str(clip), workspace=workspace, check=True)
    assert results(first) == {"frames": "ran", "flow": "ran", "flow_video": "ran"}
    stamps = {p: p.stat().st_mtime_ns for p in workspace.glob("*/*/*/manifest.json")}
    second = vidcli("--json", "flow", str(clip), workspace=workspace, check=True)
    assert results(second) == {"frames": "up to date", "flow": "up to date", "flow_video": "up to date"}
    assert {p: p.stat().st_mtime_ns for p in workspace.glob("*/*/*/manifest.json")} == stamps


def test_config_change_reruns_that_stage_and_downstream_only(clip, workspace):
    vidcli("flow", str(clip), workspace=workspace, check=True)
    plan = vidcli("--json", "flow", str(clip), "--max-size", "64", "--dry-run", workspace=workspace, check=True)
    reasons = {r["stage"]: (r["status"], r["detail"]) for r in json.loads(plan.stdout)["results"]}
    assert reasons["frames"] == ("up to date", "")
    assert reasons["flow"][0] == "would run" and reasons["flow"][1].startswith("config changed: max_size")
    assert reasons["flow_video"] == ("would run", "upstream changed (flow)")
    rerun = vidcli("--json", "flow", str(clip), "--max-size", "64", workspace=workspace, check=True)
    assert results(rerun) == {"frames": "up to date", "flow": "ran", "flow_video": "ran"}
    assert len(artifacts(workspace, "frames")) == 1 and len(artifacts(workspace, "flow")) == 2


def test_force_and_force_downstream(clip, workspace):
    vidcli("flow", str(clip), workspace=workspace, check=True)
    forced = vidcli("--json", "flow", str(clip), "--force", "flow", workspace=workspace, check=True)
    assert results(forced) == {"frames": "up to date", "flow": "ran", "flow_video": "up to date"}
    both = vidcli("--json", "flow", str(clip), "--force", "frames", "--force-downstream", workspace=workspace,
                  check=True)
    assert results(both) == {"frames": "ran", "flow": "ran", "flow_video": "ran"}
    assert len(artifacts(workspace, "frames")) == 1 and not leftovers(workspace)
    bad = vidcli("flow", str(clip), "--force", "nosuchstage", workspace=workspace)
    assert bad.returncode == 2 and "nosuchstage" in bad.stderr


def test_sigkill_mid_stage_leaves_no_complete_artifact(tmp_path, workspace):
    video = make_clip(tmp_path / "long.mp4", seconds=20, size="640x360", fps=30)
    proc = subprocess.Popen([sys.executable, "-m", "vidcli", "--workspace", str(workspace), "frames", str(video)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(workspace.glob("*/frames/.tmp-*/*.jpg")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(workspace.glob("*/frames/.tmp-*")), "the kill should land while the stage is writing"
    assert artifacts(workspace, "frames") == []
    rerun = vidcli("--json", "frames", str(video), workspace=workspace, check=True)
    assert results(rerun) == {"frames": "ran"}
    [artifact] = artifacts(workspace, "frames")
    assert json.loads((artifact / "index.json").read_text())["count"] == 600
    assert not leftovers(workspace)


def test_sigint_exits_130_without_complete_artifact(tmp_path, workspace):
    video = make_clip(tmp_path / "long.mp4", seconds=20, size="640x360", fps=30)
    # A shell without job control starts background jobs with SIGINT ignored, and Python keeps an ignored
    # SIGINT ignored: give the command Ctrl-C's default whatever launched the tests.
    proc = subprocess.Popen([sys.executable, "-m", "vidcli", "--workspace", str(workspace), "frames", str(video)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not list(workspace.glob("*/frames/.tmp-*/*.jpg")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert artifacts(workspace, "frames") == [] and not list(workspace.glob("*/frames/.tmp-*"))


def test_two_concurrent_runs_share_one_workspace(tmp_path, workspace):
    video = make_clip(tmp_path / "clip.mp4", seconds=4, size="320x240", fps=25)
    command = [sys.executable, "-m", "vidcli", "--workspace", str(workspace), "--json", "flow", str(video)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    statuses = [results(type("P", (), {"stdout": out})()) for out, _ in outs]
    for stage in ("frames", "flow", "flow_video"):
        assert len(artifacts(workspace, stage)) == 1
        assert sorted(s[stage] for s in statuses) == ["ran", "up to date"]
    assert not leftovers(workspace)


def test_luigid_central_scheduler_with_two_workers(tmp_path, workspace, luigid):
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):
        make_clip(videos / f"clip{i}.mp4", seconds=1 + i * 0.5)
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(f"pipeline: flow\ninputs: [videos/]\nworkspace: {workspace}\n")
    command = [sys.executable, "-m", "vidcli", "--json", "run", str(workflow),
               "--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ran_by = {}
    for out, _ in outs:
        for r in json.loads(out)["results"]:
            if r["status"] == "ran":
                assert r["artifact"] not in ran_by, "an artifact was computed twice"
                ran_by[r["artifact"]] = out
    assert len(ran_by) == 9
    for stage in ("frames", "flow", "flow_video"):
        assert len(artifacts(workspace, stage)) == 3
    assert not leftovers(workspace)


def test_workflow_with_one_bad_input_among_good_ones(tmp_path, workspace):
    videos = tmp_path / "videos"
    videos.mkdir()
    make_clip(videos / "a.mp4")
    make_clip(videos / "b.mp4", seconds=2)
    (videos / "c.mp4").write_bytes(os.urandom(4096))
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        "pipeline: flow\ninputs: [videos/, missing.mp4]\nworkers: 2\noutputs: results\n"
        "config: {flow: {max_size: 96}}\n"
    )
    proc = vidcli("--json", "run", str(workflow), workspace=workspace)
    assert proc.returncode == 3, proc.stderr
    by_input = {}
    for r in json.loads(proc.stdout)["results"]:
        by_input.setdefault(Path(r["input"]).name, {})[r["stage"]] = (r["status"], r["detail"])
    assert by_input["a.mp4"] == by_input["b.mp4"] == {s: ("ran", "") for s in ("frames", "flow", "flow_video")}
    assert by_input["c.mp4"]["frames"][0] == "failed" and by_input["c.mp4"]["flow"][0] == "skipped"
    assert by_input["missing.mp4"] == {None: ("invalid input", f"input not found: {tmp_path / 'missing.mp4'}")}
    exported = sorted(p.relative_to(tmp_path / "results") for p in (tmp_path / "results").glob("*/*/flow.mp4"))
    assert [p.parts[1:] for p in exported] == [("flow_video", "flow.mp4")] * 2
    plan = vidcli("plan", str(workflow), workspace=workspace)
    assert plan.returncode == 3 and "would run" in plan.stdout and "up to date" in plan.stdout


def test_manifest_records_what_ran(clip, workspace):
    vidcli("flow", str(clip), workspace=workspace, check=True)
    [frames] = artifacts(workspace, "frames")
    [flow] = artifacts(workspace, "flow")
    manifest = json.loads((flow / "manifest.json").read_text())
    assert manifest["stage"] == "flow" and manifest["key"] == flow.name
    assert manifest["upstream"] == {"frames": str(frames.relative_to(workspace))}
    assert manifest["backend"]["name"] == "dis"
    assert manifest["seconds"] >= 0 and manifest["finished"] >= manifest["started"]
    assert "numpy" in manifest["packages"] and manifest["counts"]
    source = json.loads((frames / "manifest.json").read_text())["sources"]["video"]
    assert frames.parent.parent.name == f"clip-{source['content_hash'][:8]}"


def test_input_identity_is_content_not_path(clip, tmp_path, workspace):
    vidcli("frames", str(clip), workspace=workspace, check=True)
    moved = tmp_path / "elsewhere" / "clip.mp4"
    moved.parent.mkdir()
    clip.rename(moved)
    again = vidcli("--json", "frames", str(moved), workspace=workspace, check=True)
    assert results(again) == {"frames": "up to date"}


def test_clean_removes_leftovers_of_dead_processes(clip, workspace):
    vidcli("frames", str(clip), workspace=workspace, check=True)
    [artifact] = artifacts(workspace, "frames")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from vidcli.engine.store import HOST

    stale = artifact.parent / f".tmp-{artifact.name}-{HOST}-{dead.stdout.strip()}-0123abcd"
    stale.mkdir()
    listed = vidcli("clean", "--dry-run", workspace=workspace, check=True)
    assert str(stale) in listed.stdout and stale.exists()
    vidcli("clean", workspace=workspace, check=True)
    assert not stale.exists() and artifact.exists()


@pytest.mark.parametrize("text, message", [
    ("pipeline: flow\ninputs: [a.mp4\n", "malformed YAML"),
    ("pipeline: flow\ninputs: [a.mp4]\nworkerz: 2\n", "unknown key 'workerz'"),
    ("pipeline: nosuch\ninputs: [a.mp4]\n", "unknown pipeline 'nosuch'"),
    ("pipeline: flow\ninputs: [a.mp4]\nconfig: {flow: {max_size: big}}\n", "flow.max_size must be int"),
    ("pipeline: flow\ninputs: [a.mp4]\nconfig: {flow: {speed: 2}}\n", "unknown setting 'speed'"),
    ("pipeline: flow\n", "missing key 'inputs'"),
])
def test_bad_workflow_files_exit_2_with_one_line(tmp_path, workspace, text, message):
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(text)
    proc = vidcli("run", str(workflow), workspace=workspace)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_unwritable_workspace_exits_2(clip, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = vidcli("frames", str(clip), workspace=blocker / "work")
    assert proc.returncode == 2 and "is not writable" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _truncated(tmp_path):
    whole = make_clip(tmp_path / "whole.mp4", seconds=2).read_bytes()
    return whole[: len(whole) // 2]


def _audio_only(tmp_path):
    path = tmp_path / "tone.m4a"
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", str(path)], check=True)
    return path.read_bytes()


def _unknown_codec(tmp_path):
    return make_clip(tmp_path / "ok.mp4").read_bytes().replace(b"avc1", b"zzzz")


@pytest.mark.parametrize("make, message", [
    (None, "input not found"),
    (lambda tmp: b"", "is empty"),
    (lambda tmp: os.urandom(20000), ""),
    (lambda tmp: b"just some text\n" * 100, ""),
    (_truncated, ""),
    (_audio_only, "no video stream"),
    (_unknown_codec, "codec"),
], ids=["missing", "empty", "random-bytes", "text", "truncated", "audio-only", "unknown-codec"])
def test_bad_input_exits_3_with_one_error_line_and_no_artifact(tmp_path, workspace, make, message):
    bad = tmp_path / "bad.mp4"
    if make:
        bad.write_bytes(make(tmp_path))
    proc = vidcli("flow", str(bad), workspace=workspace)
    assert proc.returncode == 3
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in proc.stderr
    assert not list(workspace.glob("*/*/*/manifest.json")) and not leftovers(workspace)
