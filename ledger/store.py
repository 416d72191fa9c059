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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

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

LEAVES: sa.Table = LedgerLeafRow.__table__  # type: ignore[attr-defined]  # SQLModel table
NODES: sa.Table = LedgerNodeRow.__table__  # type: ignore[attr-defined]
CHECKPOINTS: sa.Table = LedgerCheckpointRow.__table__  # type: ignore[attr-defined]
STATE: sa.Table = LedgerStateRow.__table__  # type: ignore[attr-defined]
ANCHORS: sa.Table = LedgerAnchorRow.__table__  # type: ignore[attr-defined]

# Rows per INSERT statement; keeps SQLite under its 32,766 bound-parameter limit.
_INSERT_CHUNK = 2000


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
    row = conn.execute(_LOCK_HEAD).first()
    if row is None:
        raise LookupError("ledger head row is missing")
    return int(row.tree_size), str(row.root_hash)


_LOCK_HEAD = (
    sa.update(STATE)
    .where(STATE.c.id == STATE_ROW_ID)
    .values(tree_size=STATE.c.tree_size)
    .returning(STATE.c.tree_size, STATE.c.root_hash)
)
_READ_HEAD = sa.select(STATE.c.tree_size, STATE.c.root_hash).where(STATE.c.id == STATE_ROW_ID)
_SET_HEAD = (
    sa.update(STATE)
    .where(STATE.c.id == STATE_ROW_ID)
    .values(tree_size=sa.bindparam("size"), root_hash=sa.bindparam("root"))
)
_INSERT = {table.name: sa.insert(table) for table in (LEAVES, NODES, CHECKPOINTS)}


def read_head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(_READ_HEAD).first()
    if row is None:
        return 0, EMPTY_ROOT.hex()
    return int(row.tree_size), str(row.root_hash)


def set_head(conn: Connection, tree_size: int, root_hash: str) -> None:
    conn.execute(_SET_HEAD, {"size": tree_size, "root": root_hash})


def _insert_chunked(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _INSERT_CHUNK):
        conn.execute(_INSERT[table.name], list(rows[start : start + _INSERT_CHUNK]))


def insert_leaves(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    _insert_chunked(conn, LEAVES, rows)


def insert_nodes(conn: Connection, nodes: Sequence[tuple[NodeKey, bytes]]) -> None:
    rows = [{"level": k.level, "node_index": k.index, "hash": digest} for k, digest in nodes]
    _insert_chunked(conn, NODES, rows)


def insert_checkpoint(conn: Connection, tree_size: int, root_hash: str, note: str) -> None:
    conn.execute(
        _INSERT[CHECKPOINTS.name], {"tree_size": tree_size, "root_hash": root_hash, "note": note}
    )


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
