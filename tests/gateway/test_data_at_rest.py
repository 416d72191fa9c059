"""Data at rest is private: the data directory 0700, the database and content 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.runtime import build_runtime
from gateway.settings import Settings
from ledger.settings import AnchorSettings, LedgerSettings

# The in-process chain: tests/ledger/test_anvil.py is where anvil runs.
_IN_PROCESS_CHAIN = LedgerSettings(anchor=AnchorSettings(node="eth_tester"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_start_makes_the_data_directory_and_database_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    previous = os.umask(0o022)
    try:
        runtime = build_runtime(Settings(data_dir=data_dir, ledger=_IN_PROCESS_CHAIN))
        runtime.start(serving=False)
        runtime.close()
    finally:
        os.umask(previous)
    assert _mode(data_dir) == 0o700
    databases = list(data_dir.glob("*.db")) + list(data_dir.glob("*.sqlite*"))
    assert databases, "the default SQLite database lives in the data directory"
    for database in databases:
        assert _mode(database) & 0o077 == 0, database
    for path in data_dir.rglob("*"):
        if path.is_dir():
            assert _mode(path) & 0o077 == 0, path


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_files_created_after_start_are_owner_only(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        runtime = build_runtime(Settings(data_dir=tmp_path / "data", ledger=_IN_PROCESS_CHAIN))
        runtime.start(serving=False)
        created = runtime.settings.content_dir_resolved / "probe.bin"
        created.write_bytes(b"x")
        runtime.close()
    finally:
        os.umask(previous)
    assert _mode(created) == 0o600
