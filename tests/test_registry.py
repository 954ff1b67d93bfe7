"""Checkpoint registry: missing files, downloads (from a local server), verification, safe loading."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
from dataclasses import replace

import pytest
import torch

from conftest import vidcli
from vidcli.errors import StageError
from vidcli.models import registry


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def served(tmp_path):
    """A checkpoint file served over HTTP on 127.0.0.1."""
    folder = tmp_path / "served"
    folder.mkdir()
    weights = folder / "tiny.pth"
    torch.save({"layer.weight": torch.arange(6.0).reshape(2, 3)}, weights)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tiny.pth", hashlib.sha256(weights.read_bytes()).hexdigest()
    server.shutdown()


def _register(monkeypatch, url, sha256):
    entry = replace(registry.CHECKPOINTS["raft_large"], name="tiny", url=url, filename="tiny.pth", sha256=sha256)
    monkeypatch.setitem(registry.CHECKPOINTS, "tiny", entry)


def test_missing_checkpoint_names_file_url_and_folder(home):
    with pytest.raises(StageError) as err:
        registry.checkpoint_path("raft_large")
    message = str(err.value)
    assert "raft_large_C_T_SKHT_V2-ff5fadd5.pth" in message and "https://download.pytorch.org" in message
    assert str(home / "checkpoints") in message


def test_download_verifies_and_loads_safely(home, served, monkeypatch):
    url, digest = served
    _register(monkeypatch, url, digest)
    path = registry.download("tiny")
    assert path == home / "checkpoints" / "tiny.pth" and path.is_file()
    assert registry.verify("tiny") == (True, f"sha256 {digest} matches")
    state, checksum = registry.load_state_dict("tiny")
    assert checksum == digest and torch.equal(state["layer.weight"], torch.arange(6.0).reshape(2, 3))


def test_download_with_wrong_digest_keeps_nothing(home, served, monkeypatch):
    url, _ = served
    _register(monkeypatch, url, "0" * 64)
    with pytest.raises(StageError, match="nothing was kept"):
        registry.download("tiny")
    assert not any((home / "checkpoints").iterdir())


def test_unreachable_download_says_where_to_put_the_file(home, monkeypatch):
    _register(monkeypatch, "http://127.0.0.1:9/tiny.pth", None)
    with pytest.raises(StageError, match=f"put tiny.pth in {home / 'checkpoints'}"):
        registry.download("tiny")


def test_weights_only_refuses_pickled_objects(home, monkeypatch):
    _register(monkeypatch, "http://127.0.0.1:9/tiny.pth", None)
    path = registry.local_path("tiny")
    path.parent.mkdir(parents=True)
    torch.save({"evil": object()}, path)
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        registry.load_state_dict("tiny")


def test_models_cli(home):
    listed = vidcli("--json", "models", "list", check=True)
    assert '"name": "raft_large"' in listed.stdout and '"present": false' in listed.stdout
    where = vidcli("models", "path", "raft_large", check=True)
    assert where.stdout.strip() == str(home / "checkpoints" / "raft_large_C_T_SKHT_V2-ff5fadd5.pth")
    missing = vidcli("models", "verify", "raft_large")
    assert missing.returncode == 1 and "vidcli models download raft_large" in missing.stderr


def test_models_list_sizes_and_unsplit_urls_when_piped(home):
    """Sizes on disk for present checkpoints, else the published one; piped rows keep URLs whole."""
    raft = registry.local_path("raft_large")
    raft.parent.mkdir(parents=True)
    raft.write_bytes(b"\0" * 3_000_000)
    hub = registry.local_path("controlnet_openpose")
    (hub / "weights").mkdir(parents=True)
    (hub / "config.json").write_bytes(b"\0" * 1_000_000)
    (hub / "weights" / "part.safetensors").write_bytes(b"\0" * 1_600_000)
    listed = vidcli("models", "list", check=True).stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in listed[1:-2]}
    assert set(rows) == set(registry.CHECKPOINTS)
    assert rows["raft_large"][3:6] == ["3", "MB", "yes"]
    assert rows["controlnet_openpose"][3:6] == ["3", "MB", "yes"]  # 2.6 MB of files in the folder
    assert rows["sd15"][3:5] == ["?", "no"]
    assert all(rows[c.name][-1] == c.url for c in registry.CHECKPOINTS.values())
    assert listed[-2:] == [f"folder: {home / 'checkpoints'}",
                           f"Anny body model data (built on first use): {os.environ['ANNY_CACHE_DIR']}"]
    raft.unlink()
    assert "20 MB" in vidcli("models", "list", check=True).stdout  # torchvision's published size


class _FakeHub:
    """huggingface_hub's calls that a download makes: model_info (commit and published sha256 of the large
    files) and snapshot_download (writes the files), recorded in `calls`."""

    commit = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, monkeypatch, content=b"{}", published=None):
        import huggingface_hub

        self.calls, self.content, self.published = [], content, published
        monkeypatch.setattr(huggingface_hub, "snapshot_download", self.snapshot_download)
        monkeypatch.setattr(huggingface_hub.HfApi, "model_info", self.model_info)

    def model_info(self, repo_id, revision, files_metadata):
        from types import SimpleNamespace

        self.calls.append(("model_info", repo_id, revision))
        digest = self.published or hashlib.sha256(self.content).hexdigest()
        lfs = SimpleNamespace(sha256=digest)
        siblings = [SimpleNamespace(rfilename="config.json", lfs=None),
                    SimpleNamespace(rfilename="diffusion_pytorch_model.safetensors", lfs=lfs)]
        return SimpleNamespace(sha=revision or self.commit, siblings=siblings)

    def snapshot_download(self, repo_id, revision, allow_patterns, local_dir):
        self.calls.append(("snapshot_download", repo_id, revision, allow_patterns))
        for name in allow_patterns:
            (local_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (local_dir / name).write_bytes(self.content)
        (local_dir / ".cache").mkdir()
        return str(local_dir)


def test_hub_checkpoint_download_into_a_folder(home, monkeypatch):
    """A hub checkpoint: its files fetched at the registry's commit into a folder that appears when complete,
    checked against the sha256 the hub publishes, and pinned: commit and every file's sha256 recorded
    (#15.9)."""
    hub = _FakeHub(monkeypatch)
    commit = registry.get("controlnet_openpose").revision
    assert not registry.is_present("controlnet_openpose")
    path = registry.download("controlnet_openpose")
    assert path == home / "checkpoints" / "control_v11p_sd15_openpose"
    assert registry.is_present("controlnet_openpose")
    files = ["config.json", "diffusion_pytorch_model.safetensors"]
    assert hub.calls == [("model_info", "lllyasviel/control_v11p_sd15_openpose", commit),
                         ("snapshot_download", "lllyasviel/control_v11p_sd15_openpose", commit, files)]
    assert sorted(p.name for p in path.iterdir()) == [registry.PIN, *files]
    assert registry.revision("controlnet_openpose") == commit
    assert registry.verify("controlnet_openpose") == (
        True, f"2 files match their sha256 at commit {commit}")
    (path / "diffusion_pytorch_model.safetensors").write_bytes(b"tampered")
    assert registry.verify("controlnet_openpose") == (
        False, "diffusion_pytorch_model.safetensors differ from the sha256 recorded at download")
    (path / "config.json").unlink()
    assert registry.verify("controlnet_openpose") == (False, f"folder {path} lacks config.json")


def test_hub_revisions_are_commits():
    """A hub revision is a commit hash (a branch name would move), or None: pinned at the first download."""
    revisions = {c.name: c.revision for c in registry.CHECKPOINTS.values() if c.kind == "hub"}
    assert all(r is None or re.fullmatch(r"[0-9a-f]{40}", r) for r in revisions.values()), revisions
    assert sum(r is not None for r in revisions.values()) >= 7


def test_hub_download_with_a_wrong_published_digest_keeps_nothing(home, monkeypatch):
    _FakeHub(monkeypatch, published="0" * 64)
    with pytest.raises(StageError, match="do not match the sha256 the hub publishes"):
        registry.download("controlnet_openpose")
    assert not any((home / "checkpoints").iterdir())


def test_single_file_is_pinned_by_its_full_sha256(home, served, monkeypatch):
    """RAFT's publisher gives 8 hex digits; the full sha256 is recorded at download and checked after."""
    url, digest = served
    _register(monkeypatch, url, digest[:8])
    path = registry.download("tiny")
    assert registry.read_pin("tiny")["sha256"] == {"tiny.pth": digest}
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    ok, detail = registry.verify("tiny")
    assert not ok  # a changed byte fails the published prefix or the recorded full digest


def test_failed_hub_download_keeps_nothing_and_says_what_to_fetch(home, monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", offline)
    with pytest.raises(StageError, match="network is unreachable.*by hand into .*IP-Adapter"):
        registry.download("ip_adapter_sd15")
    assert not any((home / "checkpoints").iterdir())
    with pytest.raises(StageError, match="huggingface.co/h94/IP-Adapter"):
        registry.checkpoint_path("ip_adapter_sd15")
