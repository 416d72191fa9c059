"""Tamper audit: rows altered, deleted, inserted and swapped directly in the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Connection, Engine

from ledger.audit import audit
from ledger.checkpoint import NoteSigner
from ledger.interface import EventRecord, TamperKind
from ledger.merkle import MemoryTree, NodeKey, hash_leaf
from ledger.service import Ledger

pytestmark = pytest.mark.db
SIZE = 40
# The first ten leaves arrive as one batch, the rest one by one (one checkpoint each).
FIRST_BATCH = 10


@pytest.fixture
def filled(ledger: Ledger, make_record: Callable[..., EventRecord]) -> Ledger:
    ledger.append_many([make_record(i) for i in range(FIRST_BATCH)])
    for i in range(FIRST_BATCH, SIZE):
        ledger.append(make_record(i))
    return ledger


def leaf_text(conn: Connection, index: int) -> str:
    return str(
        conn.execute(
            sa.text("SELECT leaf FROM ledger_leaves WHERE leaf_index = :i"), {"i": index}
        ).scalar_one()
    )


def set_leaf(conn: Connection, index: int, text: str, *, fix_hash: bool = True) -> None:
    values = {"i": index, "leaf": text, "h": hash_leaf(text.encode()).hex()}
    column = ", leaf_hash = :h" if fix_hash else ""
    conn.execute(
        sa.text(f"UPDATE ledger_leaves SET leaf = :leaf{column} WHERE leaf_index = :i"), values
    )


def shift(conn: Connection, start: int, by: int) -> None:
    """Move leaves from ``start`` on by ``by`` places (through a high offset: no PK clash)."""
    for delta in (1_000_000, by - 1_000_000):
        conn.execute(
            sa.text("UPDATE ledger_leaves SET leaf_index = leaf_index + :d WHERE leaf_index >= :s"),
            {"d": delta, "s": start + (0 if delta > 0 else 1_000_000)},
        )


def forged(conn: Connection, index: int) -> str:
    return leaf_text(conn, index).replace('"allow"', '"block"')


def alter(conn: Connection) -> None:
    set_leaf(conn, 17, forged(conn, 17), fix_hash=False)


def alter_and_fix_hash(conn: Connection) -> None:
    set_leaf(conn, 17, forged(conn, 17))


def delete_leaving_a_gap(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM ledger_leaves WHERE leaf_index = 17"))


def delete_and_close_the_gap(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM ledger_leaves WHERE leaf_index = 17"))
    shift(conn, 18, -1)


def delete_the_last(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM ledger_leaves WHERE leaf_index = :i"), {"i": SIZE - 1})


def insert_in_the_middle(conn: Connection) -> None:
    text = forged(conn, 17)
    shift(conn, 17, 1)
    conn.execute(
        sa.text(
            "INSERT INTO ledger_leaves (leaf_index, leaf_hash, leaf, event_type, generation_id, "
            "tenant) VALUES (17, :h, :leaf, 'stamp', 'gen_x', 'acme')"
        ),
        {"h": hash_leaf(text.encode()).hex(), "leaf": text},
    )


def insert_at_the_end(conn: Connection) -> None:
    text = forged(conn, 3)
    conn.execute(
        sa.text(
            "INSERT INTO ledger_leaves (leaf_index, leaf_hash, leaf, event_type, generation_id, "
            "tenant) VALUES (:i, :h, :leaf, 'stamp', 'gen_x', 'acme')"
        ),
        {"i": SIZE, "h": hash_leaf(text.encode()).hex(), "leaf": text},
    )


def swap(first: int, second: int) -> Callable[[Connection], None]:
    def swap_rows(conn: Connection) -> None:
        a, b = leaf_text(conn, first), leaf_text(conn, second)
        set_leaf(conn, first, b)
        set_leaf(conn, second, a)

    return swap_rows


def rewrite_every_node(conn: Connection) -> None:
    """Recompute every stored node hash from the leaves as they now are."""
    texts = [leaf_text(conn, i) for i in range(SIZE)]
    tree = MemoryTree(hash_leaf(text.encode()) for text in texts)
    keys = [
        NodeKey(level, index)
        for level, index in conn.execute(sa.text("SELECT level, node_index FROM ledger_nodes"))
    ]
    stored = tree.read_nodes(keys)
    for key in keys:
        conn.execute(
            sa.text("UPDATE ledger_nodes SET hash = :h WHERE level = :l AND node_index = :i"),
            {"h": stored[key], "l": key.level, "i": key.index},
        )


def rewrite_leaf_and_every_node(conn: Connection) -> None:
    """The strongest forgery: a leaf plus every stored hash above it, made consistent."""
    set_leaf(conn, 17, forged(conn, 17))
    rewrite_every_node(conn)


def rewrite_a_checkpoint(conn: Connection) -> None:
    note = str(
        conn.execute(sa.text("SELECT note FROM ledger_checkpoints WHERE tree_size = 25")).scalar()
    )
    conn.execute(
        sa.text("UPDATE ledger_checkpoints SET note = :n WHERE tree_size = 25"),
        {"n": note.replace("\n25\n", "\n26\n")},
    )


CASES = [
    (alter, 17, TamperKind.MODIFIED),
    (alter_and_fix_hash, 17, TamperKind.MODIFIED),
    (delete_leaving_a_gap, 17, TamperKind.DELETED),
    (delete_and_close_the_gap, 17, TamperKind.DELETED),
    (delete_the_last, SIZE - 1, TamperKind.DELETED),
    (insert_in_the_middle, 17, TamperKind.INSERTED),
    (insert_at_the_end, SIZE, TamperKind.INSERTED),
    (swap(10, 30), 10, TamperKind.REORDERED),
    (swap(3, 4), 3, TamperKind.REORDERED),
    (swap(0, SIZE - 1), 0, TamperKind.REORDERED),
    (rewrite_leaf_and_every_node, 17, TamperKind.MODIFIED),
    (rewrite_a_checkpoint, 24, TamperKind.BAD_CHECKPOINT),
]


def test_untouched_log_passes(filled: Ledger, engine: Engine, signer: NoteSigner) -> None:
    report = audit(engine, signer.vkey)
    assert report.ok, report.detail
    assert (report.tree_size, report.leaves_checked) == (SIZE, SIZE)
    assert report.checkpoints_checked == SIZE - FIRST_BATCH + 1


def test_empty_log_passes(engine: Engine, signer: NoteSigner) -> None:
    assert audit(engine, signer.vkey).ok


@pytest.mark.parametrize(("tamper", "index", "kind"), CASES, ids=[c[0].__name__ for c in CASES])
def test_audit_names_the_first_bad_index(
    filled: Ledger,
    engine: Engine,
    signer: NoteSigner,
    tamper: Callable[[Connection], None],
    index: int,
    kind: TamperKind,
) -> None:
    with engine.begin() as conn:
        tamper(conn)
    report = audit(engine, signer.vkey)
    assert not report.ok
    assert (report.first_bad_index, report.problem) == (index, kind), report.detail
    assert report.detail


def test_forgery_inside_one_batch_is_bounded_by_its_checkpoint(
    filled: Ledger, engine: Engine, signer: NoteSigner
) -> None:
    with engine.begin() as conn:
        set_leaf(conn, 5, forged(conn, 5))
        rewrite_every_node(conn)
    report = audit(engine, signer.vkey)
    # Leaves 0..9 were signed together: the signed checkpoint at 10 is the only evidence.
    assert (report.first_bad_index, report.problem) == (0, TamperKind.MODIFIED)
    assert "0..9" in report.detail


def test_audit_refuses_another_key(filled: Ledger, engine: Engine) -> None:
    other = NoteSigner(filled.origin, Ed25519PrivateKey.generate())
    report = audit(engine, other.vkey)
    assert (report.ok, report.problem) == (False, TamperKind.BAD_CHECKPOINT)
