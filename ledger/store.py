"""SQL access for the ledger: node reads, batch writes, leaf and checkpoint queries.

Everything takes an open SQLAlchemy ``Connection`` so that the sequencer can run a
whole batch — lock, leaves, nodes, checkpoint, head — in one transaction::

    with engine.begin() as conn:
        size, root_hex = lock_head(conn)
        nodes = SqlNodes(conn).read_nodes(CompactRange.frontier_keys(size))
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from common.sqltable import table_of
from ledger.merkle import EMPTY_ROOT, NodeKey
from ledger.models import (
    STATE_ROW_ID,
    LedgerAnchorRow,
    LedgerCheckpointRow,
    LedgerLeafRow,
    LedgerNodeRow,
    LedgerStateRow,
)

__all__ = [
    "SqlNodes",
    "ensure_head",
    "insert_checkpoint",
    "insert_leaves",
    "insert_nodes",
    "iter_leaf_rows",
    "lock_head",
    "read_head",
    "set_head",
]

LEAVES = table_of(LedgerLeafRow)
NODES = table_of(LedgerNodeRow)
CHECKPOINTS = table_of(LedgerCheckpointRow)
STATE = table_of(LedgerStateRow)
ANCHORS = table_of(LedgerAnchorRow)


class SqlNodes:
    """``merkle.NodeReader`` over ``ledger_nodes``: one SELECT per call, by primary key."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        unique = list(dict.fromkeys(keys))
        stored: dict[NodeKey, bytes] = {}
        for start in range(0, len(unique), _MAX_KEYS_PER_SELECT):
            chunk = unique[start : start + _MAX_KEYS_PER_SELECT]
            params: dict[str, int] = {}
            for n, key in enumerate(chunk):
                params[f"l{n}"], params[f"i{n}"] = key.level, key.index
            rows = self._conn.execute(_select_nodes(len(chunk)), params)
            stored.update((NodeKey(level, index), bytes(digest)) for level, index, digest in rows)
        return stored


# A proof needs ~2·log2(n) keys; larger reads (frontiers of huge batches) are split.
_MAX_KEYS_PER_SELECT = 200


@functools.cache
def _select_nodes(count: int) -> sa.TextClause:
    """One cached statement per key count: SQLAlchemy compiles it once, not per proof."""
    # Primary-key point lookups OR-ed together; both SQLite and PostgreSQL use the index.
    pairs = " OR ".join(f"(level = :l{n} AND node_index = :i{n})" for n in range(count))
    return sa.text(f"SELECT level, node_index, hash FROM ledger_nodes WHERE {pairs}")


def ensure_head(conn: Connection) -> None:
    """Insert the empty head row if no process has yet; safe to race."""
    values = {"id": STATE_ROW_ID, "tree_size": 0, "root_hash": EMPTY_ROOT.hex()}
    dialect = conn.dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(STATE).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(STATE).values(values).on_conflict_do_nothing()
    else:
        exists = conn.execute(sa.select(STATE.c.id).where(STATE.c.id == STATE_ROW_ID)).first()
        if exists:
            return
        statement = sa.insert(STATE).values(values)
    conn.execute(statement)


def lock_head(conn: Connection) -> tuple[int, str]:
    """Take the sequencer lock and return the tree size and root hash under it.

    A no-op UPDATE is the portable row lock: PostgreSQL locks the row until commit,
    SQLite takes its RESERVED (single-writer) lock. It must be the transaction's first
    statement so that SQLite never has to upgrade a read snapshot (SQLITE_BUSY_SNAPSHOT).
    """
    with _cursor(conn) as cursor:
        cursor.execute(_sql(conn, _LOCK_HEAD_SQL), (STATE_ROW_ID,))
        row = cursor.fetchone()
    if row is None:
        raise LookupError("ledger head row is missing")
    return int(row[0]), str(row[1])


_READ_HEAD = sa.select(STATE.c.tree_size, STATE.c.root_hash).where(STATE.c.id == STATE_ROW_ID)


def read_head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(_READ_HEAD).first()
    if row is None:
        return 0, EMPTY_ROOT.hex()
    return int(row.tree_size), str(row.root_hash)


def set_head(conn: Connection, tree_size: int, root_hash: str) -> None:
    with _cursor(conn) as cursor:
        cursor.execute(_sql(conn, _SET_HEAD_SQL), (tree_size, root_hash, STATE_ROW_ID))


def existing_events(conn: Connection, generation_ids: set[str]) -> set[tuple[str, str]]:
    """(generation id, event type) of every leaf these generations already have."""
    query = sa.select(LEAVES.c.generation_id, LEAVES.c.event_type).where(
        LEAVES.c.generation_id.in_(sorted(generation_ids))
    )
    return {(row.generation_id, row.event_type) for row in conn.execute(query)}


def insert_leaves(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    values = [tuple(row[name] for name in _LEAF_COLUMNS) for row in rows]
    _insert_many(conn, _INSERT_LEAF_SQL, values)


def insert_nodes(conn: Connection, nodes: Sequence[tuple[NodeKey, bytes]]) -> None:
    _insert_many(conn, _INSERT_NODE_SQL, [(k.level, k.index, digest) for k, digest in nodes])


def insert_checkpoint(conn: Connection, tree_size: int, root_hash: str, note: str) -> None:
    now = datetime.now(UTC)
    # On SQLite, the text SQLAlchemy's DateTime writes and reads back (UTC, no offset).
    created_at = now.strftime("%Y-%m-%d %H:%M:%S.%f") if conn.dialect.name == "sqlite" else now
    with _cursor(conn) as cursor:
        cursor.execute(_sql(conn, _INSERT_CHECKPOINT_SQL), (tree_size, root_hash, note, created_at))


# The sequencer's writes, through the driver's cursor inside the SQLAlchemy transaction:
# the same statements through ``Connection.execute`` cost ~3× as much (compiled-cache
# lookup, execution context, result wrapping), and a release runs ten of them. Written
# with "?" and rendered once per driver parameter style.
_LEAF_COLUMNS = (
    "leaf_index",
    "leaf_hash",
    "leaf",
    "event_type",
    "generation_id",
    "tenant",
    "artifact_sha256",
    "manifest_hash",
    "watermark_id",
)
_LOCK_HEAD_SQL = (
    "UPDATE ledger_state SET tree_size = tree_size WHERE id = ? RETURNING tree_size, root_hash"
)
_SET_HEAD_SQL = "UPDATE ledger_state SET tree_size = ?, root_hash = ? WHERE id = ?"
_INSERT_LEAF_SQL = (
    f"INSERT INTO ledger_leaves ({', '.join(_LEAF_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _LEAF_COLUMNS)})"
)
_INSERT_NODE_SQL = "INSERT INTO ledger_nodes (level, node_index, hash) VALUES (?, ?, ?)"
_INSERT_CHECKPOINT_SQL = (
    "INSERT INTO ledger_checkpoints (tree_size, root_hash, note, created_at) VALUES (?, ?, ?, ?)"
)


@functools.cache
def _rendered(sql: str, paramstyle: str) -> str:
    if paramstyle == "qmark":
        return sql
    if paramstyle in ("format", "pyformat"):
        return sql.replace("?", "%s")
    raise ValueError(f"unsupported DB-API parameter style {paramstyle!r}")


def _sql(conn: Connection, sql: str) -> str:
    return _rendered(sql, conn.dialect.paramstyle)


@contextmanager
def _cursor(conn: Connection) -> Iterator[Any]:
    """A DB-API cursor in ``conn``'s transaction (committed or rolled back with it)."""
    cursor = conn.connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def _insert_many(conn: Connection, sql: str, values: Sequence[tuple[Any, ...]]) -> None:
    if not values:
        return
    with _cursor(conn) as cursor:
        cursor.executemany(_sql(conn, sql), values)


def iter_leaf_rows(conn: Connection, *, page: int = 5000) -> Iterator[Any]:
    """Every leaf row in index order, paged by key so memory stays flat."""
    last = -1
    while True:
        rows = conn.execute(
            sa.select(LEAVES.c.leaf_index, LEAVES.c.leaf_hash, LEAVES.c.leaf)
            .where(LEAVES.c.leaf_index > last)
            .order_by(LEAVES.c.leaf_index)
            .limit(page)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].leaf_index


def iter_nodes(conn: Connection, level: int, *, page: int = 5000) -> Iterator[tuple[int, bytes]]:
    """(index, hash) of every stored node at one level, in index order."""
    last = -1
    while True:
        rows = conn.execute(
            sa.select(NODES.c.node_index, NODES.c.hash)
            .where(NODES.c.level == level, NODES.c.node_index > last)
            .order_by(NODES.c.node_index)
            .limit(page)
        ).all()
        if not rows:
            return
        yield from ((int(index), bytes(digest)) for index, digest in rows)
        last = rows[-1].node_index
