"""Fault-injection and fuzz suite (#15): hostile inputs, killed processes and load.

(a) fuzz: mutated copies of a valid mp4 (byte flips, zeroed runs, truncations) through `frames`, and
    mutated workflow files (random YAML values, byte flips) through `run`: never a traceback or an
    internal error, every failure a one-line input or usage error, never exit 0 with an invalid artifact;
(b) fault injection: a batch of short inputs with `--workers 2` whose processes are killed at random
    points (SIGKILL and SIGTERM) over reruns until it completes: every artifact equals that of an
    undisturbed run and no temporary folder or lock file is left;
(c) load: many tiny inputs through `vidcli run` against a real luigid from two processes at once.

The fast part runs by default; the full sizes are marked slow. Each test prints its counts (-s).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_clip

from vidcli.cli import main

FUZZ_SEED = 15


def _strict_json(path: Path):
    """JSON as the standard has it: NaN and Infinity are refused."""
    def refuse(constant):
        raise ValueError(f"{path}: holds {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _check_frames_artifact(artifact: Path) -> None:
    """A frames artifact that claims to be complete is one: valid JSON, and as many decodable JPEGs as
    its index says, with finite timestamps."""
    import cv2

    index = _strict_json(artifact / "index.json")
    _strict_json(artifact / "manifest.json")
    assert index["count"] > 0 and len(index["timestamps"]) == index["count"]
    assert all(np.isfinite(index["timestamps"]))
    frames = sorted(artifact.glob("*.jpg"))
    assert len(frames) == index["count"], artifact
    for frame in frames:
        image = cv2.imread(str(frame))
        assert image is not None and image.shape[:2] == (index["height"], index["width"]), frame


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """One random corruption of a file: flipped bytes, a zeroed run, a cut, or a dropped middle part."""
    data = bytearray(data)
    kind = rng.choice(["flip", "flip", "zero", "truncate", "splice"])
    if kind == "flip":
        for _ in range(rng.randint(1, 64)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "zero":
        start = rng.randrange(len(data))
        length = min(rng.randint(1, 4096), len(data) - start)
        data[start:start + length] = bytes(length)
    elif kind == "truncate":
        del data[rng.randrange(1, len(data)):]
    else:
        start = rng.randrange(len(data))
        del data[start:start + rng.randint(1, len(data) // 4)]
    return bytes(data)


def _invoke(args: list[str]):
    """The real CLI in this process: (exit code, stdout, stderr); an exception that escapes is a bug."""
    from click.testing import CliRunner

    result = CliRunner().invoke(main, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"vidcli {' '.join(args)} raised {result.exception!r}") from result.exception
    return result.exit_code, result.stdout, result.stderr


def fuzz_videos(tmp_path: Path, count: int) -> dict[str, int]:
    """`count` mutated copies of a valid mp4 through `frames` in one batch; returns counts by outcome."""
    rng = random.Random(FUZZ_SEED)
    original = make_clip(tmp_path / "original.mp4", seconds=1.0, size="96x64", fps=10).read_bytes()
    folder = tmp_path / "mutants"
    folder.mkdir()
    for index in range(count):
        (folder / f"m{index:03d}.mp4").write_bytes(_mutate(original, rng))
    workspace = tmp_path / "work"
    code, out, err = _invoke(["--json", "--workspace", str(workspace), "frames",
                              *sorted(str(p) for p in folder.iterdir())])
    assert "Traceback" not in err and "internal error" not in err, err
    report = json.loads(out)
    assert code == report["exit_code"] and code in (0, 3), err
    counts = {"inputs": count, "ran": 0, "refused": 0}
    for result in report["results"]:
        if result["status"] == "ran":
            _check_frames_artifact(Path(result["artifact"]))
            counts["ran"] += 1
        else:
            assert result["status"] in ("failed", "invalid input"), result
            assert result.get("error_kind") in ("input", None) and "\n" not in result["detail"], result
            counts["refused"] += 1
    assert counts["ran"] + counts["refused"] == count
    assert not list(workspace.rglob(".tmp-*")) and not list(workspace.rglob("*.lock"))
    return counts


_VALUES = [0, 1, -1, 2, 10**9, -(10**9), 0.5, 1e3, float("nan"), float("inf"), -float("inf"), True, False,
           None, "", "[/]", "1e3", "nan", "x" * 300, "../../etc", [1, 2], {"a": 1}, "dis", "embedded",
           "frames"]
_KEYS = {"pipeline": None, "inputs": None, "workspace": None, "workers": None, "outputs": None,
         "config": {"frames": ["fps", "max_size", "qscale", "speed"], "flow": ["backend", "max_size"]}}


def _random_workflow(rng: random.Random, clip: Path, root: Path) -> str:
    """A workflow file with some of its values replaced by random ones, or its text corrupted."""
    import yaml

    data = {"pipeline": "frames", "inputs": [str(clip)], "workspace": str(root / "work"),
            "config": {"frames": {"max_size": 64}}}
    for _ in range(rng.randint(0, 3)):  # none at times: valid files must run and give valid artifacts
        key = rng.choice(list(_KEYS))
        if key == "config":
            stage = rng.choice(list(_KEYS["config"]))
            data["config"].setdefault(stage, {})[rng.choice(_KEYS["config"][stage])] = rng.choice(_VALUES)
        else:
            data[key] = rng.choice(_VALUES + [[rng.choice(_VALUES)]])
    if data.get("outputs") is not None and not isinstance(data["outputs"], (list, dict)):
        data["outputs"] = str(root / "out" / str(data["outputs"]).replace("/", "_")[:50])
    if isinstance(data.get("workspace"), str) and not data["workspace"].startswith(str(root)):
        data["workspace"] = str(root / "ws" / data["workspace"].replace("/", "_")[:50])
    text = yaml.safe_dump(data, allow_unicode=True)
    if rng.random() < 0.3:
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        text = raw.decode("latin-1")
    return text


def fuzz_workflows(tmp_path: Path, count: int) -> dict[str, int]:
    """`count` mutated workflow files through `run`, each in its own folder; returns counts by outcome."""
    rng = random.Random(FUZZ_SEED)
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.5, size="64x48", fps=10)
    counts = {"workflows": count, "exit 0": 0, "refused": 0}
    for index in range(count):
        root = tmp_path / f"wf{index:03d}"
        root.mkdir()
        workflow = root / "wf.yaml"
        workflow.write_text(_random_workflow(rng, clip, root), encoding="latin-1")
        code, out, err = _invoke(["--json", "run", str(workflow)])
        assert "Traceback" not in err and "internal error" not in err, (workflow.read_text(), err)
        assert code in (0, 2, 3), (workflow.read_text(), code, err)
        if code == 0:
            counts["exit 0"] += 1
            for finals in json.loads(out)["finished"].values():
                _check_frames_artifact(Path(finals["frames"]))
        else:
            assert len(err.strip().splitlines()) >= 1 and err.startswith("error: "), err
            counts["refused"] += 1
        assert not list(root.rglob(".tmp-*")) and not list(root.rglob("*.lock"))
    return counts


def test_fuzzed_videos_quick(tmp_path):
    print("fuzz videos:", fuzz_videos(tmp_path, 24))


def test_fuzzed_workflows_quick(tmp_path):
    print("fuzz workflows:", fuzz_workflows(tmp_path, 30))


@pytest.mark.slow
def test_fuzzed_videos_full(tmp_path):
    print("fuzz videos:", fuzz_videos(tmp_path, 300))


@pytest.mark.slow
def test_fuzzed_workflows_full(tmp_path):
    print("fuzz workflows:", fuzz_workflows(tmp_path, 300))


# (b) fault injection ------------------------------------------------------------------------------------

def _batch(tmp_path: Path, count: int) -> Path:
    """A workflow of `count` short, distinct clips through the flow pipeline (three stages each)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for index in range(count):
        make_clip(videos / f"c{index:02d}.mp4", seconds=1.0 + 0.1 * (index % 5), size="128x96", fps=10,
                  extra=["-metadata", f"title=clip {index}"])
    return videos


def _run_workflow(videos: Path, workspace: Path, workers: int = 2) -> subprocess.Popen:
    workflow = workspace.parent / f"{workspace.name}.yaml"
    workflow.write_text(f"pipeline: flow\ninputs: [{videos}/]\nworkspace: {workspace}\nworkers: {workers}\n"
                        "config: {flow: {backend: dis}}\n")
    return subprocess.Popen([sys.executable, "-m", "vidcli", "--json", "run", str(workflow)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _tree(workspace: Path) -> dict[str, bytes]:
    """Every file of every complete artifact but the manifest (which records times and pids)."""
    files = {}
    for manifest in workspace.glob("*/*/*/manifest.json"):
        for path in manifest.parent.rglob("*"):
            if path.is_file() and path.name != "manifest.json":
                files[str(path.relative_to(workspace))] = path.read_bytes()
    return files


def _processes_of(pid: int) -> list:
    """A vidcli process and its Luigi task processes (not ffmpeg), those still alive."""
    import psutil

    try:
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    alive = []
    for process in family:
        try:
            if "ffmpeg" not in process.name():
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def inject_faults(tmp_path: Path, count: int, min_faults: int, max_delay: float) -> dict[str, int]:
    """Campaigns until at least `min_faults` faults were injected: each runs the batch into a fresh
    workspace, killing one of its processes (the vidcli process or a task process, SIGKILL or SIGTERM)
    a random 0.3 to `max_delay` seconds into each run, until a run completes; then its artifacts are
    compared with an undisturbed run's. Returns the counts."""
    rng = random.Random(FUZZ_SEED)
    videos = _batch(tmp_path, count)
    reference = _run_workflow(videos, tmp_path / "reference")
    _, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err
    expected = _tree(tmp_path / "reference")
    counts = {"inputs": count, "campaigns": 0, "runs": 0, "faults": 0, "SIGKILL": 0, "SIGTERM": 0,
              "artifacts compared": 0, "files compared": 0}
    while counts["faults"] < min_faults:
        workspace = tmp_path / f"disturbed{counts['campaigns']}"
        counts["campaigns"] += 1
        for _ in range(6):
            counts["runs"] += 1
            if _disturbed_run(videos, workspace, rng, max_delay, counts) == 0:
                break
        else:  # the last word: an undisturbed rerun must finish what is left
            final = _run_workflow(videos, workspace)
            _, err = final.communicate(timeout=600)
            assert final.returncode == 0, err
        got = _tree(workspace)
        assert got.keys() == expected.keys()
        assert [name for name in expected if got[name] != expected[name]] == []
        counts["artifacts compared"] += len(list(workspace.glob("*/*/*/manifest.json")))
        counts["files compared"] += len(expected)
        # a killed run leaves leftovers only until the next run that needs their key: none is left now
        assert not list(workspace.rglob(".tmp-*")) and not list(workspace.rglob(".trash-*"))
        assert not list(workspace.rglob("*.lock"))
    return counts


def _disturbed_run(videos: Path, workspace: Path, rng: random.Random, max_delay: float, counts) -> int:
    """One run of the batch with one process killed at a random moment; its exit code."""
    import psutil

    proc = _run_workflow(videos, workspace)
    try:
        time.sleep(rng.uniform(0.3, max_delay))
        victims = _processes_of(proc.pid)
        if victims:
            how = rng.choice([signal.SIGKILL, signal.SIGTERM])
            try:
                rng.choice(victims).send_signal(how)
                counts["faults"] += 1
                counts[how.name] += 1
            except psutil.NoSuchProcess:
                pass
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err
    # -15: SIGTERM while Python was still importing, before vidcli could handle it
    assert proc.returncode in (0, 1, 143, -9, -15), (proc.returncode, err)
    return proc.returncode


def test_fault_injection_quick(tmp_path):
    print("fault injection:", inject_faults(tmp_path, 2, 2, 3.0))


@pytest.mark.slow
def test_fault_injection_full(tmp_path):
    print("fault injection:", inject_faults(tmp_path, 20, 30, 8.0))


# (c) load -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_processes_through_luigid_under_load(tmp_path, luigid):
    """200 tiny inputs, two `vidcli run` processes on one workspace and one luigid: each artifact is made
    once, memory stays bounded, and no lock or temporary folder is left."""
    import psutil

    count = 200
    videos = tmp_path / "videos"
    videos.mkdir()
    for index in range(count):
        make_clip(videos / f"t{index:03d}.mp4", seconds=0.3, size="32x32", fps=10,
                  extra=["-metadata", f"title=tiny {index}"])
    workspace = tmp_path / "work"
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(f"pipeline: frames\ninputs: [{videos}/]\nworkspace: {workspace}\n")
    command = [sys.executable, "-m", "vidcli", "--json", "run", str(workflow), "--workers", "2",
               "--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid)]
    logs = [(open(tmp_path / f"out{i}.json", "w+"), open(tmp_path / f"err{i}.txt", "w+")) for i in range(2)]
    # output to files: a pipe nobody reads while waiting fills up (200 results) and blocks the writer
    procs = [subprocess.Popen(command, stdout=out, stderr=err, text=True) for out, err in logs]
    peak = 0
    while any(p.poll() is None for p in procs):
        for p in procs:
            try:
                family = [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
                peak = max(peak, sum(q.memory_info().rss for q in family))
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.5)
    outs = [(out.seek(0) or out.read(), err.seek(0) or err.read()) for out, err in logs]
    for files in logs:
        for handle in files:
            handle.close()
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    ran = [r["artifact"] for out, _ in outs for r in json.loads(out)["results"] if r["status"] == "ran"]
    assert len(ran) == len(set(ran)) == count
    assert len(list(workspace.glob("*/frames/*/manifest.json"))) == count
    assert peak < 2 * 1024**3, f"peak memory of one process family {peak / 1e6:.0f} MB"
    assert not list(workspace.rglob("*.lock")) and not list(workspace.rglob(".tmp-*"))
    print(f"load: {count} inputs, 2 processes, peak memory {peak / 1e6:.0f} MB")
