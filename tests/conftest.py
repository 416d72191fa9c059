"""Fixtures shared by every test package.

The database backend is chosen by ``AIGC_TEST_DB``: ``sqlite`` (default) gives each
test a fresh SQLite file; ``postgres`` gives each test a fresh schema in the machine's
PostgreSQL (``AIGC_TEST_PG_URL``, default database ``test`` on 127.0.0.1), dropped
afterwards, so parallel runs and leftovers never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_BASE_URL = os.environ.get(
    "AIGC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that touches a database (through ``database_url``, however indirectly)
    is a ``db`` test, so the PostgreSQL pass (``-m db``) runs all of them."""
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def test_backend() -> str:
    return os.environ.get("AIGC_TEST_DB", "sqlite")


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of the backend under test."""
    if test_backend() == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty AIGC_DATA_DIR for one test."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def tiny_models_dir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny default models (built once per machine, cached by their builders' hash)."""
    from tests.generators.tiny_models import cached_tiny_models

    return cached_tiny_models(request.config, tmp_path_factory)


# Gateway fixtures (settings, runtime, client) for the gateway, e2e and browser tests.
from tests.support.gateway import client, runtime, settings  # noqa: E402

__all__ = ["client", "data_dir", "database_url", "runtime", "settings", "tiny_models_dir"]
