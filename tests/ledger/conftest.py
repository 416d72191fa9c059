"""Fixtures for the ledger tests: an engine on the backend under test, a ledger, records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from ledger.checkpoint import NoteSigner
from ledger.interface import EventRecord, EventType
from ledger.models import create_tables
from ledger.service import Ledger
from ledger.settings import LedgerSettings


def make_engine(url: str) -> Engine:
    """The engine the gateway would build (gateway.db): WAL and a busy timeout on SQLite."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def record(n: int, *, generation: str | None = None, **fields: Any) -> EventRecord:
    """A valid event whose hashes are derived from ``n`` (distinct per n)."""
    values: dict[str, Any] = {
        "type": EventType.STAMP,
        "generation_id": generation or f"gen_{n}",
        "tenant": "acme",
        "actor": "pipeline",
        "time": "2026-11-23T11:00:00Z",
        "artifact_sha256": f"{n:064x}",
        "manifest_hash": f"{n + 1:064x}",
        "watermark_id": f"wm-{n}",
        "decision": "allow",
        "policy_version": "cn-marketing@1",
    }
    values.update(fields)
    return EventRecord(**values)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    create_tables(built)
    yield built
    built.dispose()


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(LedgerSettings().origin, Ed25519PrivateKey.generate())


@pytest.fixture
def ledger(engine: Engine, signer: NoteSigner) -> Ledger:
    return Ledger(engine, signer, LedgerSettings())


@pytest.fixture
def make_record() -> Callable[..., EventRecord]:
    return record
