"""Fixtures for the ledger tests: an engine on the backend under test, a ledger, records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from gateway.db import create_engine_for
from ledger.checkpoint import NoteSigner
from ledger.interface import EventRecord, EventType
from ledger.models import create_tables
from ledger.service import Ledger
from ledger.settings import LedgerSettings


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
    built = create_engine_for(database_url)
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
