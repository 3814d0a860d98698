"""Atomic writes keep the old file on failure; profiles reject typos."""
from __future__ import annotations

import os

import pytest

from msknb.errors import ConfigError, MsknbError
from msknb.io import atomic_path, write_json_atomic, write_text_atomic
from msknb.profiles import PROFILE_NAMES, PROFILES, settings


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "result.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("disk full, say")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temp file left


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_folder_names_the_path(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(MsknbError, match="ro"):
        write_text_atomic(ro / "x.txt", "x")


def test_output_under_a_file_names_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    with pytest.raises(MsknbError, match="file"):
        write_json_atomic(blocker / "results" / "x.json", {"a": 1})
    assert blocker.read_text() == "I am a file"


def test_json_handles_numpy(tmp_path):
    import json

    import numpy as np

    p = write_json_atomic(tmp_path / "a.json", {"x": np.float32(1.5), "v": np.arange(3)})
    assert json.loads(p.read_text()) == {"x": 1.5, "v": [0, 1, 2]}


def test_every_topic_has_every_profile_with_the_same_keys():
    for topic, by_profile in PROFILES.items():
        assert set(by_profile) == set(PROFILE_NAMES), topic
        keys = {name: set(v) for name, v in by_profile.items()}
        assert len({frozenset(k) for k in keys.values()}) == 1, f"{topic}: profiles differ in keys {keys}"


def test_settings_overrides_and_typos():
    s = settings("ddpm", "smoke", epochs=3, lr=None)
    assert s["epochs"] == 3 and s["lr"] == PROFILES["ddpm"]["smoke"]["lr"] and s["profile"] == "smoke"
    with pytest.raises(ConfigError, match="epoch"):
        settings("ddpm", "smoke", epoch=3)
    with pytest.raises(ConfigError, match="unknown profile"):
        settings("ddpm", "fast")


def test_disk_full_gives_named_error_and_keeps_old_file(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    target = tmp_path / "report.html"
    write_text_atomic(target, "previous report")

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(MsknbError, match="report.html.*No space left"):
        write_text_atomic(target, "new report")
    monkeypatch.undo()
    assert target.read_text() == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
