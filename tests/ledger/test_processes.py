"""Writers in separate processes: killed with SIGKILL mid-stream, and two at once on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.db import create_engine_for
from ledger.audit import audit
from ledger.checkpoint import NoteSigner, load_or_create_signing_key
from ledger.models import create_tables
from ledger.service import Ledger
from ledger.settings import LedgerSettings

pytestmark = pytest.mark.db
REPO = Path(__file__).resolve().parents[2]


def start_writer(
    url: str, key_file: Path, *, count: int, threads: int, tag: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.ledger.writer_process",
            url,
            str(key_file),
            "--count",
            str(count),
            "--threads",
            str(threads),
            "--tag",
            tag,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def open_ledger(url: str, key_file: Path) -> tuple[Ledger, NoteSigner, sa.Engine]:
    settings = LedgerSettings()
    signer = NoteSigner(settings.origin, load_or_create_signing_key(key_file))
    engine = create_engine_for(url)
    return Ledger(engine, signer, settings), signer, engine


def test_sigkill_loses_no_acknowledged_append(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "ledger.pem"
    writer = start_writer(database_url, key_file, count=100_000, threads=4, tag="crash")
    assert writer.stdout is not None
    acknowledged: list[tuple[int, str]] = []
    for line in writer.stdout:
        index_text, leaf_hash = line.split()
        acknowledged.append((int(index_text), leaf_hash))
        if len(acknowledged) == 300:
            os.kill(writer.pid, signal.SIGKILL)  # mid-stream: other appends are in flight
            break
    for line in writer.stdout:  # appends acknowledged before the kill took effect
        index_text, leaf_hash = line.split()
        acknowledged.append((int(index_text), leaf_hash))
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    ledger, signer, engine = open_ledger(database_url, key_file)
    try:
        assert len(acknowledged) >= 300
        for index, leaf_hash in acknowledged:
            assert ledger.entry(index).leaf_hash == leaf_hash
        report = audit(engine, signer.vkey)
        assert report.ok, report.detail
        assert report.tree_size >= max(index for index, _ in acknowledged) + 1
        after = ledger.append_many([])  # restart: the log keeps growing from its head
        assert after == []
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("AIGC_TEST_DB", "sqlite") != "postgres",
    reason="several processes sharing one ledger is the PostgreSQL deployment; "
    "runs in the AIGC_TEST_DB=postgres pass",
)
def test_two_processes_append_5000_each(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "ledger.pem"
    load_or_create_signing_key(key_file)
    ledger, signer, engine = open_ledger(database_url, key_file)
    create_tables(engine)  # before the writers, so they do not race on CREATE TABLE
    started = time.monotonic()
    writers = [start_writer(database_url, key_file, count=5000, threads=8, tag=tag) for tag in "ab"]
    outputs = [writer.communicate(timeout=600)[0] for writer in writers]
    elapsed_s = time.monotonic() - started
    try:
        assert [w.returncode for w in writers] == [0, 0]
        indices = [int(line.split()[0]) for out in outputs for line in out.splitlines()]
        assert len(indices) == 10_000
        assert sorted(indices) == list(range(10_000))  # no gaps, no duplicates
        assert ledger.size() == 10_000
        report = audit(engine, signer.vkey)
        assert report.ok, report.detail
        assert report.leaves_checked == 10_000
        print(
            f"two processes, 10,000 appends in {elapsed_s:.1f} s, "
            f"{report.checkpoints_checked} checkpoints"
        )
    finally:
        engine.dispose()
