"""Where Anny's built model data goes ($VIDCLI_HOME/anny unless ANNY_CACHE_DIR is set), the notice
before a build, and one build at a time. anny.Anny is replaced by a recorder: a real build takes minutes."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from vidcli.body import anny_model
from vidcli.console import log
from vidcli.engine.store import key_lock


@pytest.fixture
def notices(caplog, monkeypatch):
    """vidcli's log records (the console setup may have stopped them reaching the root logger)."""
    monkeypatch.setattr(log, "propagate", True)
    caplog.set_level(logging.INFO, logger=log.name)
    return caplog


@pytest.fixture
def builds(monkeypatch, notices):
    """Calls of anny.Anny: anny's cache folder then, and the log messages said before."""
    import anny
    from anny.paths import get_anny_cache_path, set_anny_cache_path

    calls = []

    def record(**kwargs):
        calls.append((get_anny_cache_path(), [r.getMessage() for r in notices.records]))
        return kwargs

    monkeypatch.setattr(anny, "Anny", record)
    previous = get_anny_cache_path()
    yield calls
    set_anny_cache_path(previous)


def _mark_built(cache_dir, version_offset: int = 0) -> None:
    from anny.models.model_data import CURRENT_DATA_VERSION

    built = cache_dir / f"v{CURRENT_DATA_VERSION + version_offset}" / "build_compact_model_data_0123.safetensors"
    built.parent.mkdir(parents=True)
    built.touch()


def test_cache_dir_is_under_vidcli_home_unless_anny_cache_dir_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("ANNY_CACHE_DIR", raising=False)
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    assert anny_model.anny_cache_dir() == tmp_path / "home" / "anny"
    monkeypatch.delenv("VIDCLI_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert anny_model.anny_cache_dir() == tmp_path / ".cache" / "vidcli" / "anny"
    monkeypatch.setenv("ANNY_CACHE_DIR", str(tmp_path / "shared-anny"))
    assert anny_model.anny_cache_dir() == tmp_path / "shared-anny"


def test_the_body_model_builds_into_vidcli_home_saying_so_first(tmp_path, monkeypatch, builds):
    monkeypatch.delenv("ANNY_CACHE_DIR", raising=False)
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    with pytest.raises(AttributeError):  # the recorder is no model: the body stops right after making it
        anny_model.AnnyBody()
    [(cache_dir, said)] = builds
    assert cache_dir == tmp_path / "anny"
    [notice] = said
    assert str(tmp_path / "anny") in notice and "775 MB" in notice and "3 minutes" in notice


def test_notice_only_while_the_cache_is_not_built(tmp_path, builds):
    _mark_built(tmp_path, version_offset=-1)  # another anny data version: anny builds anew
    anny_model.make_anny(tmp_path)
    _mark_built(tmp_path)
    anny_model.make_anny(tmp_path)
    assert [len(said) for _, said in builds] == [1, 1]  # the second call said nothing more


def test_a_second_process_waits_for_the_build_then_loads(tmp_path, builds, notices):
    with key_lock(tmp_path, "build"):  # as a process building the cache holds it
        waiting = threading.Thread(target=anny_model.make_anny, args=(tmp_path,))
        waiting.start()
        deadline = time.monotonic() + 30
        while not any("waiting" in r.getMessage() for r in notices.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert builds == []  # nothing made while the other build runs
        _mark_built(tmp_path)
    waiting.join(timeout=30)
    [(_, said)] = builds
    assert len(said) == 1 and said[0].startswith("waiting for another process")  # and no build notice
