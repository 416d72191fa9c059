"""Gateway fixtures (registered in tests/conftest.py): a runtime with a fake generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from common.types import ContentKind
from gateway.app import create_app
from gateway.auth import create_api_key, ensure_tenant
from gateway.catalog import GeneratorCatalog
from gateway.db import session_scope
from gateway.models import Role
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from generators.fake import FakeImageGenerator, FakeModel3DGenerator
from ledger.settings import AnchorSettings, LedgerSettings
from tests.support.fakes import EchoTextGenerator


def fake_catalog() -> GeneratorCatalog:
    """Deterministic generators of every kind, no model needed."""
    return GeneratorCatalog(
        {
            "echo-text": EchoTextGenerator,
            "fake-image": FakeImageGenerator,
            "fake-3d": FakeModel3DGenerator,
        },
        {
            ContentKind.TEXT: "echo-text",
            ContentKind.IMAGE: "fake-image",
            ContentKind.MODEL3D: "fake-3d",
        },
        {
            "echo-text": ContentKind.TEXT,
            "fake-image": ContentKind.IMAGE,
            "fake-3d": ContentKind.MODEL3D,
        },
    )


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    # The in-process chain: no child process per test (tests/ledger/test_anvil.py runs anvil).
    ledger = LedgerSettings(anchor=AnchorSettings(node="eth_tester"))
    return Settings(data_dir=data_dir, database_url=database_url, ledger=ledger)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = build_runtime(settings, catalog=fake_catalog())
    runtime.start()
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as test_client:
        yield test_client


def issue_key(runtime: Runtime, tenant: str, role: Role, label: str = "") -> str:
    with session_scope(runtime.engine) as session:
        ensure_tenant(session, tenant, runtime.settings.default_policy)
        return create_api_key(session, tenant, role, label).plain_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
