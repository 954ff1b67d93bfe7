"""Where Anny's built model data goes ($VIDCLI_HOME/anny unless ANNY_CACHE_DIR is set) and the notice
before a build."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vidcli.body import anny_model
from vidcli.console import log


@pytest.fixture
def notices(caplog, monkeypatch):
    """vidcli's log records (the console setup may have stopped them reaching the root logger)."""
    monkeypatch.setattr(log, "propagate", True)
    caplog.set_level(logging.INFO, logger=log.name)
    return caplog


def test_cache_dir_is_under_vidcli_home_unless_anny_cache_dir_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("ANNY_CACHE_DIR", raising=False)
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    assert anny_model.anny_cache_dir() == tmp_path / "home" / "anny"
    monkeypatch.delenv("VIDCLI_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert anny_model.anny_cache_dir() == tmp_path / ".cache" / "vidcli" / "anny"
    monkeypatch.setenv("ANNY_CACHE_DIR", str(tmp_path / "shared-anny"))
    assert anny_model.anny_cache_dir() == tmp_path / "shared-anny"


def test_notice_only_while_the_cache_is_not_built(tmp_path, notices):
    from anny.models.model_data import CURRENT_DATA_VERSION

    anny_model.announce_anny_build(tmp_path)
    [notice] = [r.getMessage() for r in notices.records]
    assert str(tmp_path) in notice and "775 MB" in notice and "3 minutes" in notice
    old = tmp_path / f"v{CURRENT_DATA_VERSION - 1}" / "build_compact_model_data_0123.safetensors"
    old.parent.mkdir()
    old.touch()
    notices.clear()
    anny_model.announce_anny_build(tmp_path)  # another data version's files: anny builds anew
    assert len(notices.records) == 1
    built = tmp_path / f"v{CURRENT_DATA_VERSION}" / "build_compact_model_data_0123.safetensors"
    built.parent.mkdir()
    built.touch()
    notices.clear()
    anny_model.announce_anny_build(tmp_path)
    assert notices.records == []


def test_body_points_anny_at_the_cache_and_announces_before_building(tmp_path, monkeypatch, notices):
    import anny
    from anny.paths import get_anny_cache_path, set_anny_cache_path

    monkeypatch.delenv("ANNY_CACHE_DIR", raising=False)
    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path))
    seen = []

    def stop_before_building(**kwargs):
        seen.append((get_anny_cache_path(), [r.getMessage() for r in notices.records]))
        raise RuntimeError("stop here: the real build takes minutes")

    monkeypatch.setattr(anny, "Anny", stop_before_building)
    previous = get_anny_cache_path()
    try:
        with pytest.raises(RuntimeError, match="stop here"):
            anny_model.AnnyBody()
    finally:
        set_anny_cache_path(previous)
    [(cache_dir, messages)] = seen
    assert Path(cache_dir) == tmp_path / "anny"
    assert len(messages) == 1 and str(tmp_path / "anny") in messages[0]
