"""Regression tests of the hardening in #15: bad numbers, the central scheduler, data-deleting commands,
pickled body files, signals, full disks and leftovers. The fuzz and fault-injection suite is
tests/test_faults.py."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_clip, vidcli

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
    """A value or path holding `[/]` gave a traceback; `[draft] take1.mp4` was printed as ` take1.mp4`
    (#15.5)."""
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
    script = ("import os, click; from vidcli import cli, console\n"
              "def noise():\n"
              "    os.write(2, b'W0000 native\\n')\n"
              "    console.error('kept')\n"
              "cli.main.add_command(click.command('noise')(noise))\n"
              "cli.main(['-q', 'noise'])\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stderr == "error: kept\n"


def _artifacts(workspace: Path, stage: str) -> list[Path]:
    return sorted(p for p in workspace.glob(f"*/{stage}/*") if (p / "manifest.json").is_file())


def test_exported_files_are_copies_of_the_cache(clip, tmp_path):
    """Editing a file that -o delivered must not change the cached artifact (#16.15)."""
    workspace, out = tmp_path / "work", tmp_path / "out"
    vidcli("frames", str(clip), "-o", str(out), workspace=workspace, check=True)
    [artifact] = _artifacts(workspace, "frames")
    [exported] = out.glob("*/frames/index.json")
    cached = (artifact / "index.json").read_bytes()
    exported.write_text("edited")
    assert (artifact / "index.json").read_bytes() == cached


def test_outputs_inside_the_workspace_are_refused(clip, tmp_path):
    """-o equal to the workspace deleted the cached stage folder before copying into it (#15.3)."""
    workspace = tmp_path / "work"
    vidcli("frames", str(clip), workspace=workspace, check=True)
    before = _artifacts(workspace, "frames")
    for target in (workspace, workspace / "sub"):
        proc = vidcli("frames", str(clip), "-o", str(target), workspace=workspace)
        assert proc.returncode == 2 and "lies inside the workspace" in proc.stderr
    assert _artifacts(workspace, "frames") == before


def test_clean_deletes_only_inside_a_marked_workspace(tmp_path):
    """`clean --all --yes` deleted any folder it was pointed at; `/` crashed with PermissionError (#15.4)."""
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    proc = vidcli("clean", "--all", "--yes", workspace=folder)
    assert proc.returncode == 2 and "is not a vidcli workspace" in proc.stderr
    assert (folder / "thesis.tex").is_file()
    root = vidcli("--workspace", "/", "clean", "--all", "--dry-run")
    assert root.returncode == 2 and len(root.stderr.strip().splitlines()) == 1


def test_clean_never_follows_a_symlinked_input_folder(clip, tmp_path):
    """A symbolic link inside the workspace leads nowhere `clean --superseded` deletes (#15.4)."""
    other, workspace = tmp_path / "other", tmp_path / "work"
    vidcli("frames", str(clip), workspace=other, check=True)
    vidcli("frames", str(clip), "--max-size", "64", workspace=other, check=True)
    vidcli("frames", str(clip), workspace=workspace, check=True)
    [input_dir] = [p for p in other.iterdir() if not p.name.startswith(".")]
    (workspace / "linked-00000000").symlink_to(input_dir, target_is_directory=True)
    vidcli("clean", "--superseded", workspace=workspace, check=True)
    assert len(_artifacts(other, "frames")) == 2


def test_superseded_keeps_what_the_newest_downstream_reads(clip, tmp_path):
    """The newest flow reads an older frames artifact: `clean --superseded` keeps it (#16.16)."""
    workspace = tmp_path / "work"
    vidcli("frames", str(clip), "--max-size", "96", workspace=workspace, check=True)
    vidcli("flow", str(clip), workspace=workspace, check=True)
    vidcli("flow", str(clip), "--set", "frames.max_size=96", workspace=workspace, check=True)
    vidcli("clean", "--superseded", workspace=workspace, check=True)
    [flow] = _artifacts(workspace, "flow")
    upstream = json.loads((flow / "manifest.json").read_text())["upstream"]["frames"]
    assert (workspace / upstream / "manifest.json").is_file()
    assert len(_artifacts(workspace, "frames")) == 2 and len(_artifacts(workspace, "flow_video")) == 1
    again = vidcli("--json", "flow", str(clip), "--set", "frames.max_size=96", workspace=workspace,
                   check=True)
    assert {r["status"] for r in json.loads(again.stdout)["results"]} == {"up to date"}


def test_no_leftovers_after_runs(clip, tmp_path):
    """No lock files, no empty stage folder of a failed input, no hidden input folder; the workspace is
    printed resolved (#15.10, #16.17)."""
    hidden, broken = tmp_path / ".hidden.mp4", tmp_path / "broken.mp4"
    hidden.write_bytes(clip.read_bytes())
    broken.write_bytes(clip.read_bytes()[:3000])
    (tmp_path / "a").mkdir()
    proc = vidcli("frames", str(hidden), str(broken), workspace=tmp_path / "a" / ".." / "work")
    assert proc.returncode == 3 and f"workspace: {tmp_path / 'work'}\n" in proc.stdout
    workspace = tmp_path / "work"
    assert not list(workspace.rglob("*.lock"))
    assert [p.name.split("-")[0] for p in workspace.iterdir() if p.name != ".vidcli"] == ["hidden"]
    cleaned = vidcli("clean", "--dry-run", workspace=workspace, check=True)
    assert cleaned.stdout.startswith("0 entries")


def test_a_shared_luigid_never_mistakes_one_workspace_or_forced_run_for_another(clip, tmp_path, luigid):
    """luigid ignores a task added again within 10 s of finishing: a second workspace, a rerun after
    deleting the workspace, and --force all did nothing and exited 1 without a word (#15.2)."""
    central = ("--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid))
    for workspace in (tmp_path / "one", tmp_path / "two", tmp_path / "one"):
        proc = vidcli("--json", "frames", str(clip), *central, workspace=workspace)
        assert proc.returncode == 0, proc.stderr
        assert _artifacts(workspace, "frames")
        if workspace.name == "two":
            shutil.rmtree(tmp_path / "one")
    for _ in range(2):
        forced = vidcli("--json", "frames", str(clip), "--force", "frames", *central,
                        workspace=tmp_path / "two")
        assert forced.returncode == 0, forced.stderr
        assert [r["status"] for r in json.loads(forced.stdout)["results"]] == ["ran"]


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    """Two 20 s clips (of different content), long enough for a signal to land mid-stage."""
    folder = tmp_path_factory.mktemp("long")
    return [make_clip(folder / f"long{i}.mp4", seconds=20 + i, size="640x360", fps=30) for i in range(2)]


def _start_and_wait_for_a_stage(workspace: Path, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "vidcli", "--workspace", str(workspace), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    decoding = "*/frames/.tmp-*/.source-*.jpg"  # ffmpeg is writing frames: the stage has seconds to go
    while not list(workspace.glob(decoding)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


def _processes_using(workspace: Path) -> list:
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        if str(workspace) in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def test_sigterm_is_handled_like_sigint(long_clips, tmp_path):
    """SIGTERM exited 143 with no summary and left a .tmp-* folder (#15.7)."""
    workspace = tmp_path / "work"
    proc = _start_and_wait_for_a_stage(workspace, "frames", str(long_clips[0]))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted" in out and "terminated: finished artifacts are kept" in out
    assert not list(workspace.glob("*/frames/*")) and "Traceback" not in err


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_parent_stops_its_task_processes(long_clips, tmp_path, how):
    """With --workers 2 the task processes ran on to the end of their stage when the parent died (#15.10)."""
    workspace = tmp_path / "work"
    proc = _start_and_wait_for_a_stage(workspace, "frames", "--workers", "2", *map(str, long_clips))
    proc.send_signal(how)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while _processes_using(workspace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_using(workspace)
    assert not list(workspace.glob("*/frames/*/manifest.json")), "a stage ran on after its parent died"
    assert not list(workspace.glob("*/frames/.tmp-*")) and not list(workspace.rglob("*.lock"))


def test_error_prefixes_are_never_doubled():
    """`camera: camera: ...` (#15.11): a prefix is added only where the message lacks it."""
    from vidcli.engine.stage import load_stage, planned_config
    from vidcli.errors import with_prefix

    assert with_prefix("camera", "camera: fy needs fx") == "camera: fy needs fx"
    assert with_prefix("camera", "fy needs fx") == "camera: fy needs fx"
    with pytest.raises(ConfigError) as error:
        planned_config(load_stage("camera"), {"fy": 500.0})
    assert str(error.value) == "camera: fy needs fx"


def test_a_termination_that_python_drops_is_delivered_again():
    """A SIGTERM handled where Python cannot let an exception out (here a __del__, as in the callbacks
    that run after a fork) must still stop the run."""
    import os

    from vidcli.engine.runner import sigterm_as_interrupt
    from vidcli.errors import Terminated

    class Dropper:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000):  # the handler runs in this loop, and its exception is dropped
                pass

    went_on = []
    with pytest.raises(Terminated):
        with sigterm_as_interrupt():
            Dropper()
            went_on.append(True)
            time.sleep(5)  # the second delivery ends this
    assert went_on  # the first delivery was dropped
