"""Engine pieces without running stages: keys, input identity, plans, Luigi task resources."""

from __future__ import annotations

import subprocess
import sys

from vidcli.engine.keys import WHOLE_FILE_LIMIT, cached_content_hash, file_content_hash
from vidcli.engine.pipeline import load_pipeline
from vidcli.engine.plan import build_plan
from vidcli.engine.stage import load_stage, planned_config, resources
from vidcli.engine.store import Workspace
from vidcli.engine.tasks import StageTask


def test_large_files_hash_by_samples_and_any_sampled_change_shows(tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(3 * WHOLE_FILE_LIMIT)
    before = file_content_hash(big)
    with open(big, "r+b") as f:
        f.seek(3 * WHOLE_FILE_LIMIT - 10)
        f.write(b"x")
    assert file_content_hash(big) != before


def test_hash_cache_is_keyed_by_stat(tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"one")
    cache = tmp_path / "cache"
    first = cached_content_hash(video, cache)
    assert cached_content_hash(video, cache) == first and len(list(cache.iterdir())) == 1
    video.write_bytes(b"two")
    assert cached_content_hash(video, cache) != first


def _keys(tmp_path, overrides):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"content")
    [plan] = build_plan(load_pipeline("flow", overrides), [{"video": video}], Workspace(tmp_path / "w"))
    return {stage: node.key for stage, node in plan.nodes.items()}


def test_only_significant_settings_change_keys(tmp_path):
    base = _keys(tmp_path, {})
    assert _keys(tmp_path, {"flow": {"device": "cpu"}}) == base
    changed = _keys(tmp_path, {"flow": {"step": 2}})
    assert changed["frames"] == base["frames"]
    assert changed["flow"] != base["flow"] and changed["flow_video"] != base["flow_video"]


def test_a_run_holds_a_gpu_where_its_resolved_device_is_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr("vidcli.devices.visible_gpu_count", lambda: 1)
    monkeypatch.setattr("vidcli.models.registry.is_present", lambda name: True)
    video = tmp_path / "a.mp4"
    video.write_bytes(b"content")
    for backend, expected in (("dis", {}), ("raft", {"gpu": 1})):  # DIS never uses the GPU
        pipeline = load_pipeline("flow", {"flow": {"backend": backend}})
        [plan] = build_plan(pipeline, [{"video": video}], Workspace(tmp_path / "w"))
        assert plan.nodes["flow"].config["device"] == ("cuda" if expected else "cpu")
        node = plan.nodes["flow"].to_dict()
        assert StageTask(artifact=plan.nodes["flow"].rel, scope="w", workspace=str(tmp_path), node=node,
                         run_id="r").resources == expected
    animate = load_stage("generate")  # the CPU-only puppet holds no GPU slot where one is visible
    assert resources(planned_config(animate, {"backend": "embedded"})) == {}


def test_planning_never_imports_torch(tmp_path):
    code = (
        "import sys; from pathlib import Path\n"
        "from vidcli.engine.pipeline import load_pipeline\n"
        "from vidcli.engine.plan import build_plan\n"
        "from vidcli.engine.store import Workspace\n"
        f"p = Path({str(tmp_path / 'a.mp4')!r}); p.write_bytes(b'x')\n"
        f"build_plan(load_pipeline('flow'), [{{'video': p}}], Workspace(Path({str(tmp_path / 'w')!r})))\n"
        "assert 'torch' not in sys.modules, 'torch imported while planning'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
