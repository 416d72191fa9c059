"""The ledger's tables. Leaves, perfect-subtree hashes, checkpoints, state and anchors.

``ledger_nodes`` persists every *perfect* subtree hash (level 0 = leaf hashes) as it
completes, so an inclusion or consistency proof reads O(log n) rows by primary key
and never recomputes from the leaves. ``ledger_state`` holds the one row whose lock
serialises sequencers across processes. Tests and benchmarks call
``create_tables(engine)``; the gateway creates them through its Alembic history::

    create_tables(engine)
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

__all__ = [
    "LEDGER_TABLES",
    "LedgerAnchorRow",
    "LedgerCheckpointRow",
    "LedgerLeafRow",
    "LedgerNodeRow",
    "LedgerStateRow",
    "create_tables",
]

STATE_ROW_ID = 1
_ONCE_PER_GENERATION_SQL = "event_type IN ('generation', 'moderation', 'stamp')"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LedgerLeafRow(SQLModel, table=True):
    """One leaf: the RFC 8785 canonical JSON of an event, and lookup columns copied from it."""

    __tablename__ = "ledger_leaves"
    __table_args__ = (
        # A backstop under the sequencer's own check (service._refuse_repeated_events):
        # one generation, moderation and stamp leaf per generation.
        sa.Index(
            "uq_ledger_leaves_once_per_generation",
            "generation_id",
            "event_type",
            unique=True,
            sqlite_where=sa.text(_ONCE_PER_GENERATION_SQL),
            postgresql_where=sa.text(_ONCE_PER_GENERATION_SQL),
        ),
    )

    leaf_index: int = Field(
        sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False)
    )
    leaf_hash: str = Field(max_length=64)
    # Exactly the bytes that were hashed (UTF-8 text of the canonical JSON).
    leaf: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    event_type: str = Field(max_length=32)
    generation_id: str = Field(max_length=128, index=True)
    tenant: str = Field(max_length=128)
    artifact_sha256: str | None = Field(default=None, max_length=64, index=True)
    manifest_hash: str | None = Field(default=None, max_length=64, index=True)
    watermark_id: str | None = Field(default=None, max_length=128, index=True)


class LedgerNodeRow(SQLModel, table=True):
    """Hash of the perfect subtree of 2**level leaves starting at node_index * 2**level."""

    __tablename__ = "ledger_nodes"

    level: int = Field(sa_column=sa.Column(sa.SmallInteger, primary_key=True, autoincrement=False))
    node_index: int = Field(
        sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False)
    )
    hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))


class LedgerCheckpointRow(SQLModel, table=True):
    """A signed checkpoint issued after a batch; one per tree size."""

    __tablename__ = "ledger_checkpoints"

    tree_size: int = Field(
        sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False)
    )
    root_hash: str = Field(max_length=64)
    note: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(
        default_factory=_utcnow,
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, default=_utcnow),
    )


class LedgerStateRow(SQLModel, table=True):
    """The head of the log. Sequencers lock this row to integrate a batch."""

    __tablename__ = "ledger_state"

    id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    tree_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    root_hash: str = Field(max_length=64)


class LedgerAnchorRow(SQLModel, table=True):
    """A checkpoint root written to an EVM chain: the transaction receipt we kept."""

    __tablename__ = "ledger_anchors"

    id: int | None = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    contract: str = Field(max_length=42)
    tx_hash: str = Field(max_length=64)
    block_number: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    root_hash: str = Field(max_length=64)
    tree_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    anchored_at: str = Field(max_length=40)


LEDGER_TABLES: tuple[sa.Table, ...] = tuple(
    SQLModel.metadata.tables[name]
    for name in (
        "ledger_leaves",
        "ledger_nodes",
        "ledger_checkpoints",
        "ledger_state",
        "ledger_anchors",
    )
)


def create_tables(engine: Engine) -> None:
    """Create the ledger's tables if missing (tests, benchmarks; not the gateway)."""
    SQLModel.metadata.create_all(engine, tables=list(LEDGER_TABLES))
