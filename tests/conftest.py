"""Shared test set-up: every test gets its own results store, artifact cache and device dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Exported artifacts are expensive to make: share one cache across the session, keyed as usual.
SESSION_CACHE = Path(os.environ.get("EDGEBENCH_TEST_CACHE", Path(__file__).parent.parent / ".cache" / "test-artifacts"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_DB", str(tmp_path / "results.db"))
    monkeypatch.setenv("EDGEBENCH_CACHE", str(SESSION_CACHE))
    monkeypatch.setenv("EDGEBENCH_DEVICES_DIR", str(tmp_path / "user-devices"))
    monkeypatch.delenv("EDGEBENCH_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("EDGEBENCH_DISABLE_PLUGINS", raising=False)


def pytest_report_header(config: pytest.Config) -> list[str]:
    import sqlite3

    return [f"sqlite {sqlite3.sqlite_version}, artifact cache {SESSION_CACHE}"]
