"""Database engine, sessions and migrations.

    engine = create_engine_for(settings.database_url_resolved)
    migrate(engine)              # Alembic upgrade to head; safe with several processes
    with session_scope(engine) as session: ...

SQLite gets WAL mode and a busy timeout so that the API's worker threads and the
ledger's sequencer can share one file; PostgreSQL gets a pre-pinged pool.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlmodel import Session

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "MODEL_MODULES",
    "create_engine_for",
    "import_all_models",
    "migrate",
    "session_scope",
]

# The largest values of SQL INTEGER (row ids; 32-bit on PostgreSQL) and BIGINT (ledger
# indices): a larger number names no row, and drivers raise on it instead of matching none.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Every module that declares tables. Alembic's autogenerate and the test helpers import
# them so that SQLModel.metadata is complete.
MODEL_MODULES: tuple[str, ...] = (
    "gateway.models",
    "moderation.models",
    "review_ui.models",
    "ledger.models",
    "gateway.jobs.models",
    "gateway.webhooks.outbox",
)

# Any fixed 64-bit number: all gateway processes agree on it to serialise migrations.
_MIGRATION_LOCK_ID = 0x41494743_4D494752


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        sa.event.listen(engine, "connect", _configure_sqlite)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits; NORMAL sync is durable in WAL
    # mode across process crashes (only an OS crash can lose the last transaction).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision; concurrent callers wait their turn."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
