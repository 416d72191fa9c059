"""Tamper audit: recompute the whole tree from storage and check it against what was signed.

One pass over the leaves in index order, holding O(log n) state::

    report = audit(engine, ledger.public_key_info().vkey)
    if not report.ok:
        print(report.problem, report.first_bad_index, report.detail)

Evidence, strongest first: every leaf's bytes must hash to the level-0 node stored when
it was appended (catches edits, deletions, insertions and swaps of leaf rows, and names
the exact index); every interior node must match its recomputation; the recomputed root
at every checkpoint's size must equal the root in that signed checkpoint (catches a
rewrite of leaves *and* nodes, to within one batch). The first problem in index order
is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledger import store
from ledger.checkpoint import NoteVerifier
from ledger.interface import AuditReport, TamperKind, VerificationError
from ledger.merkle import CompactRange, NodeKey, hash_leaf

__all__ = ["audit"]


@dataclass(frozen=True, slots=True)
class _Finding:
    index: int | None
    problem: TamperKind
    detail: str


class _TamperFoundError(Exception):
    def __init__(self, finding: _Finding) -> None:
        super().__init__(finding.detail)
        self.finding = finding


def audit(engine: Engine, vkey: str, *, origin: str | None = None) -> AuditReport:
    """Recompute the log from storage; report the first index that differs from what was signed.

    ``vkey`` is the published verifier key (``GET /v1/ledger/key``); ``origin`` defaults
    to its key name.
    """
    verifier = NoteVerifier.from_vkey(vkey)
    with engine.connect() as conn:
        auditor = _Auditor(conn, verifier, origin or verifier.name)
        try:
            auditor.run()
        except _TamperFoundError as found:
            return auditor.report(found.finding)
    return auditor.report(None)


class _Auditor:
    def __init__(self, conn: Connection, verifier: NoteVerifier, origin: str) -> None:
        self.conn = conn
        self.verifier = verifier
        self.origin = origin
        self.head_size = store.read_head(conn)[0]
        self.tree = CompactRange(0, [])
        self.checkpoints_checked = 0
        self._levels: dict[int, Iterator[tuple[int, bytes]]] = {}

    def report(self, finding: _Finding | None) -> AuditReport:
        if finding is None:
            return AuditReport(
                ok=True,
                tree_size=self.head_size,
                leaves_checked=self.tree.size,
                checkpoints_checked=self.checkpoints_checked,
                detail="every leaf, node and checkpoint matches",
            )
        return AuditReport(
            ok=False,
            tree_size=self.head_size,
            leaves_checked=self.tree.size,
            checkpoints_checked=self.checkpoints_checked,
            first_bad_index=finding.index,
            problem=finding.problem,
            detail=finding.detail,
        )

    def run(self) -> None:
        checkpoints = self._checkpoints()
        pending = next(checkpoints, None)
        leaf_hashes = store.iter_nodes(self.conn, 0)
        for row in store.iter_leaf_rows(self.conn):
            position = self.tree.size
            while pending is not None and pending[0] == position:
                self._check_root(*pending)
                pending = next(checkpoints, None)
            self._check_row(row, position, next(leaf_hashes, None))
        self._check_end(pending, checkpoints)

    # --- per leaf ------------------------------------------------------------------

    def _check_row(self, row: Any, position: int, stored: tuple[int, bytes] | None) -> None:
        if row.leaf_index != position:
            self._fail(position, TamperKind.DELETED, f"leaf {position} is missing")
        if position >= self.head_size:
            self._fail(position, TamperKind.INSERTED, f"leaf {position} is beyond the head")
        computed = hash_leaf(row.leaf.encode())
        if stored is None or stored[0] != position:
            self._fail(position, TamperKind.BAD_INTERIOR_NODE, f"leaf hash {position} missing")
        if computed != stored[1]:
            self._fail(position, self._classify(position, computed), self._mismatch(position))
        if row.leaf_hash != computed.hex():
            self._fail(position, TamperKind.MODIFIED, f"leaf_hash column of {position} altered")
        for key, digest in self.tree.append(computed)[1:]:
            self._check_node(key, digest)

    def _classify(self, position: int, computed: bytes) -> TamperKind:
        """Name the edit from where this leaf's bytes and its successor's were signed."""
        signed = store.SqlNodes(self.conn).read_nodes(
            [NodeKey(0, position), NodeKey(0, position + 1)]
        )
        following = self.conn.execute(
            sa.select(store.LEAVES.c.leaf).where(store.LEAVES.c.leaf_index == position + 1)
        ).scalar()
        following_hash = None if following is None else hash_leaf(following.encode())
        moved_up = following_hash is not None and following_hash == signed.get(NodeKey(0, position))
        moved_down = computed == signed.get(NodeKey(0, position + 1))
        if moved_up and moved_down:
            return TamperKind.REORDERED  # two neighbours swapped
        if moved_down:
            return TamperKind.DELETED  # later leaves moved down into the gap
        if moved_up:
            return TamperKind.INSERTED  # the signed leaf now sits one place later
        elsewhere = self.conn.execute(
            sa.select(store.NODES.c.node_index).where(
                store.NODES.c.level == 0, store.NODES.c.hash == computed
            )
        ).first()
        return TamperKind.REORDERED if elsewhere is not None else TamperKind.MODIFIED

    def _mismatch(self, position: int) -> str:
        return f"leaf {position} does not hash to the leaf hash recorded when it was appended"

    def _check_node(self, key: NodeKey, digest: bytes) -> None:
        iterator = self._levels.setdefault(key.level, store.iter_nodes(self.conn, key.level))
        stored = next(iterator, None)
        if stored is None or stored != (key.index, digest):
            first_leaf = key.index << key.level
            self._fail(
                first_leaf,
                TamperKind.BAD_INTERIOR_NODE,
                f"stored node (level {key.level}, index {key.index}) differs from recomputation",
            )

    # --- checkpoints ---------------------------------------------------------------

    def _checkpoints(self) -> Iterator[tuple[int, bytes, int]]:
        """(size, signed root, previous size) of every stored checkpoint, verified."""
        previous = 0
        last = -1
        while True:
            rows = self.conn.execute(
                sa.select(
                    store.CHECKPOINTS.c.tree_size,
                    store.CHECKPOINTS.c.root_hash,
                    store.CHECKPOINTS.c.note,
                )
                .where(store.CHECKPOINTS.c.tree_size > last)
                .order_by(store.CHECKPOINTS.c.tree_size)
                .limit(2000)
            ).all()
            if not rows:
                return
            for size, root_hex, note in rows:
                root = self._verified_root(int(size), root_hex, note, previous)
                yield int(size), root, previous
                previous = int(size)
            last = int(rows[-1].tree_size)

    def _verified_root(self, size: int, root_hex: str, note: str, previous: int) -> bytes:
        try:
            checkpoint = self.verifier.verify_checkpoint(note, origin=self.origin)
        except VerificationError as exc:
            self._fail(previous, TamperKind.BAD_CHECKPOINT, f"checkpoint {size}: {exc}")
        if checkpoint.tree_size != size or checkpoint.root_hash != root_hex:
            self._fail(
                previous,
                TamperKind.BAD_CHECKPOINT,
                f"checkpoint row {size} disagrees with its signed note",
            )
        return bytes.fromhex(checkpoint.root_hash)

    def _check_root(self, size: int, root: bytes, previous: int) -> None:
        self.checkpoints_checked += 1
        if self.tree.root() != root:
            self._fail(
                previous,
                TamperKind.MODIFIED,
                f"leaves {previous}..{size - 1} do not match signed checkpoint {size}",
            )

    def _check_end(
        self,
        pending: tuple[int, bytes, int] | None,
        checkpoints: Iterator[tuple[int, bytes, int]],
    ) -> None:
        end = self.tree.size
        while pending is not None and pending[0] == end:
            self._check_root(*pending)
            pending = next(checkpoints, None)
        if end < self.head_size or pending is not None:
            self._fail(end, TamperKind.DELETED, f"leaves from {end} are missing")
        if end > self.head_size:
            self._fail(self.head_size, TamperKind.INSERTED, "leaves beyond the head")

    def _fail(self, index: int | None, problem: TamperKind, detail: str) -> NoReturn:
        raise _TamperFoundError(_Finding(index, problem, detail))
