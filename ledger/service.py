"""The ledger service: a batching sequencer, signed checkpoints, proofs and lookups.

``Ledger`` is safe to share between threads, and several processes may run one each
over the same PostgreSQL (or SQLite) database: batches are integrated under a lock on
the head row, so indices have no gaps or duplicates and follow one total order::

    ledger = Ledger(engine, NoteSigner(settings.origin, key), settings)
    receipt = ledger.append(record)      # returns once committed and checkpointed
    note = ledger.latest_checkpoint()    # C2SP tlog-checkpoint signed note
    proof = ledger.inclusion_proof(receipt.index, tree_size=ledger.size())
    stamp = ledger.find_latest(artifact_sha256=sha, event_type=EventType.STAMP)

Concurrent ``append`` calls in one process are group-committed: whichever caller holds
the sequencer lock drains every queued record (up to ``batch_max_entries``) into one
transaction and one checkpoint, then wakes the callers it served.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger import store
from ledger.checkpoint import (
    NoteSigner,
    checkpoint_body,
    load_or_create_signing_key,
    parse_checkpoint_body,
    split_note,
)
from ledger.interface import (
    ONCE_PER_GENERATION,
    AnchorReceipt,
    AppendReceipt,
    Checkpoint,
    ConsistencyProof,
    DuplicateEventError,
    Entry,
    EntryNotFoundError,
    EventRecord,
    EventType,
    InclusionProof,
    InvalidEventError,
    LedgerConfigurationError,
    LedgerUnavailableError,
    PublicKeyInfo,
    TreeSizeError,
)
from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_ranges,
    fold_subtrees,
    hash_leaf,
    inclusion_ranges,
    perfect_subtrees,
)
from ledger.settings import LedgerSettings
from ledger.verify import leaf_data, make_bundle

__all__ = ["Alongside", "Ledger", "open_ledger"]

# The advisory lock key of anchoring: "aigcanch" as a big-endian 64-bit integer.
_ANCHORING_LOCK = int.from_bytes(b"aigcanch", "big", signed=True)

# A caller's own writes, committed in the transaction that commits its leaves: it gets
# that transaction's connection and the caller's receipts (indices are fixed before the
# commit), so a row can cite its ledger index and never exist without its leaves.
Alongside = Callable[[sa.Connection, Sequence[AppendReceipt]], None]


@dataclass(frozen=True, slots=True)
class _PreparedLeaf:
    data: bytes
    leaf_hash: bytes
    record: EventRecord


@dataclass(slots=True)
class _Pending:
    """One caller's records waiting for a sequencer; ``done`` is set by the leader."""

    leaves: list[_PreparedLeaf]
    alongside: Alongside | None = None
    done: threading.Event = field(default_factory=threading.Event)
    receipts: list[AppendReceipt] = field(default_factory=list)
    error: BaseException | None = None


class Ledger:
    """The append-only event log over one database."""

    def __init__(self, engine: Engine, signer: NoteSigner, settings: LedgerSettings) -> None:
        if signer.name != settings.origin:
            raise LedgerConfigurationError("the checkpoint key name must equal the origin")
        self._engine = engine
        self._signer = signer
        self._settings = settings
        self._queue: deque[_Pending] = deque()
        self._queue_lock = threading.Lock()
        self._sequencer_lock = threading.Lock()
        self._head_ready = False
        # The right edge of the tree after this process's last batch, as (size, root,
        # frontier hashes): the next batch skips reading it while the head is unchanged.
        self._frontier: tuple[int, str, list[bytes]] | None = None

    @property
    def origin(self) -> str:
        return self._settings.origin

    # --- appending ---------------------------------------------------------------------

    def append(self, record: EventRecord) -> AppendReceipt:
        """Append one event; return its index and leaf hash once durable."""
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[EventRecord]) -> list[AppendReceipt]:
        """Append events in order, contiguously, in one transaction; durable on return."""
        return self._enqueue([_prepare(record) for record in records])

    def append_chain(
        self, records: Sequence[EventRecord], *, alongside: Alongside | None = None
    ) -> list[AppendReceipt]:
        """Like ``append_many``, each record after the first citing the one before it.

        A leaf hash is a function of the leaf alone, so every link is known before the
        append: the chain costs one transaction and one checkpoint. ``alongside`` runs
        inside that transaction after the leaves are written; if it raises, the batch it
        shares with other callers is rolled back and every one of them gets the error,
        so keep it to plain writes of the caller's own rows.
        """
        leaves: list[_PreparedLeaf] = []
        for record in records:
            if leaves:
                previous = leaves[-1].leaf_hash.hex()
                record = dataclasses.replace(record, previous_leaf_hash=previous)
            leaves.append(_prepare(record))
        return self._enqueue(leaves, alongside)

    def _enqueue(
        self, leaves: list[_PreparedLeaf], alongside: Alongside | None = None
    ) -> list[AppendReceipt]:
        if not leaves:
            return []
        pending = _Pending(leaves, alongside)
        with self._queue_lock:
            self._queue.append(pending)
        while not pending.done.is_set():
            with self._sequencer_lock:
                if not pending.done.is_set():
                    self._integrate_queued()
        if isinstance(pending.error, DuplicateEventError):
            raise pending.error
        if pending.error is not None:
            raise LedgerUnavailableError("the ledger could not record the event") from (
                pending.error
            )
        return pending.receipts

    def _integrate_queued(self) -> None:
        """Run by the caller holding the sequencer lock: write one batch, wake its owners."""
        if self._settings.batch_wait_ms:
            time.sleep(self._settings.batch_wait_ms / 1000)
        batch = self._drain_queue()
        try:
            self._write_batch(batch)
        except Exception as exc:  # every waiter must wake, whatever failed
            for item in batch:
                item.error = exc
                item.done.set()
            return
        for item in batch:
            item.done.set()

    def _drain_queue(self) -> list[_Pending]:
        limit = self._settings.batch_max_entries
        batch: list[_Pending] = []
        count = 0
        with self._queue_lock:
            # Always take at least one caller, even one larger than the limit.
            while self._queue and (not batch or count + len(self._queue[0].leaves) <= limit):
                item = self._queue.popleft()
                batch.append(item)
                count += len(item.leaves)
        return batch

    def _write_batch(self, batch: list[_Pending]) -> None:
        """One transaction and one checkpoint for every queued caller; fills receipts."""
        self._ensure_head()
        with self._engine.begin() as conn:
            size, head_root = store.lock_head(conn)
            batch = _refuse_repeated_events(conn, batch)
            leaves = [leaf for item in batch for leaf in item.leaves]
            if not leaves:  # every caller was refused: no new tree size, no checkpoint
                return
            tree = self._resume_tree(conn, size, head_root)
            nodes = tree.extend(leaf.leaf_hash for leaf in leaves)
            store.insert_leaves(conn, [_leaf_row(size + i, leaf) for i, leaf in enumerate(leaves)])
            store.insert_nodes(conn, nodes)
            root_hex = tree.root().hex()
            note = self._signer.sign(checkpoint_body(self.origin, tree.size, tree.root()))
            store.insert_checkpoint(conn, tree.size, root_hex, note)
            store.set_head(conn, tree.size, root_hex)
            index = size
            for item in batch:
                item.receipts = [
                    AppendReceipt(index + i, leaf.leaf_hash.hex())
                    for i, leaf in enumerate(item.leaves)
                ]
                index += len(item.leaves)
                if item.alongside is not None:
                    item.alongside(conn, item.receipts)
        self._frontier = (tree.size, root_hex, tree.frontier_hashes())  # committed

    def _resume_tree(self, conn: sa.Connection, size: int, head_root: str) -> CompactRange:
        """The tree's right edge at the locked head: remembered, or read from the nodes.

        Another process's append changes the head's size; a head that was rewritten
        behind our back changes its root. Either way the remembered edge is not used.
        """
        if self._frontier is not None and self._frontier[:2] == (size, head_root):
            return CompactRange(size, self._frontier[2])
        frontier_keys = CompactRange.frontier_keys(size)
        frontier = store.SqlNodes(conn).read_nodes(frontier_keys)
        return CompactRange(size, [frontier[key] for key in frontier_keys])

    def _ensure_head(self) -> None:
        if not self._head_ready:
            with self._engine.begin() as conn:
                store.ensure_head(conn)
            self._head_ready = True

    # --- reading -----------------------------------------------------------------------

    def size(self) -> int:
        """The number of leaves covered by the latest checkpoint."""
        with self._engine.connect() as conn:
            return store.read_head(conn)[0]

    def latest_checkpoint(self) -> str:
        """The signed note of the newest checkpoint (an empty-tree note before any append)."""
        with self._engine.connect() as conn:
            note = conn.execute(
                sa.select(store.CHECKPOINTS.c.note)
                .order_by(store.CHECKPOINTS.c.tree_size.desc())
                .limit(1)
            ).scalar()
        if note is None:
            return self._signer.sign(checkpoint_body(self.origin, 0, EMPTY_ROOT))
        return str(note)

    def head(self) -> Checkpoint:
        """The newest checkpoint, parsed (our own note: no signature check needed)."""
        note = self.latest_checkpoint()
        origin, size, root = parse_checkpoint_body(split_note(note)[0])
        return Checkpoint(origin=origin, tree_size=size, root_hash=root.hex(), note=note)

    @contextlib.contextmanager
    def anchoring_turn(self) -> Iterator[bool]:
        """Whether this process may anchor now. On PostgreSQL one process at a time, of
        every process on the ledger (a session advisory lock, held for the block), so
        several API processes do not anchor the same checkpoint twice; elsewhere always
        (an SQLite ledger has one host, and the anchorer's own lock covers its threads)."""
        if self._engine.dialect.name != "postgresql":
            yield True
            return
        with self._engine.connect() as conn:
            key = {"key": _ANCHORING_LOCK}
            taken = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), key).scalar())
            try:
                yield taken
            finally:
                if taken:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), key)

    def record_anchor(self, receipt: AnchorReceipt) -> None:
        """Store the receipt of an anchoring transaction (see ``ledger.anchor.Anchorer``)."""
        with self._engine.begin() as conn:
            conn.execute(sa.insert(store.ANCHORS).values(**receipt.to_dict()))

    def last_anchored_size(self) -> int:
        """The largest tree size any stored anchor covers (0 when none)."""
        with self._engine.connect() as conn:
            size = conn.execute(sa.select(sa.func.max(store.ANCHORS.c.tree_size))).scalar()
        return int(size or 0)

    def checkpoint_at(self, tree_size: int) -> str | None:
        """The signed note issued when the log reached ``tree_size``, if one was."""
        with self._engine.connect() as conn:
            note = conn.execute(
                sa.select(store.CHECKPOINTS.c.note).where(
                    store.CHECKPOINTS.c.tree_size == tree_size
                )
            ).scalar()
        return None if note is None else str(note)

    def public_key_info(self) -> PublicKeyInfo:
        return self._signer.public_key_info(self.origin)

    def entry(self, index: int) -> Entry:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(store.LEAVES).where(store.LEAVES.c.leaf_index == index)
            ).first()
        if row is None:
            raise EntryNotFoundError(f"no ledger entry at index {index}")
        return _entry(row)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        """Audit path of leaf ``index`` in the tree of ``tree_size`` (default: the head).

        With an explicit size this is one indexed SELECT: stored nodes exist exactly for
        the committed tree, so a missing node means the request lies beyond the head.
        """
        size = self.size() if tree_size is None else tree_size
        if not 0 <= index < size:
            self._raise_bad_request(index, size)
        ranges = inclusion_ranges(index, size)
        nodes = self._read_ranges([*ranges, (0, size), (index, index + 1)])
        if nodes is None:
            self._raise_bad_request(index, size)
        return InclusionProof(
            index=index,
            tree_size=size,
            leaf_hash=nodes[(index, index + 1)].hex(),
            hashes=tuple(nodes[r].hex() for r in ranges),
            root_hash=nodes[(0, size)].hex(),
        )

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        """Proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
        size = self.size() if second is None else second
        if not 0 < first <= size:
            raise TreeSizeError("consistency needs 0 < first <= second")
        ranges = consistency_ranges(first, size) if first < size else []
        nodes = self._read_ranges([*ranges, (0, first), (0, size)])
        if nodes is None:
            raise TreeSizeError(f"tree size {size} is beyond the head ({self.size()})")
        return ConsistencyProof(
            first=first,
            second=size,
            hashes=tuple(nodes[r].hex() for r in ranges),
            first_root_hash=nodes[(0, first)].hex(),
            second_root_hash=nodes[(0, size)].hex(),
        )

    def _raise_bad_request(self, index: int, tree_size: int) -> NoReturn:
        head = self.size()
        if not 0 <= index < head:
            raise EntryNotFoundError(f"no ledger entry at index {index}")
        if tree_size > head:
            raise TreeSizeError(f"tree_size {tree_size} is beyond the head ({head})")
        raise TreeSizeError(f"index {index} is not inside a tree of {tree_size} leaves")

    def _read_ranges(
        self, ranges: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes] | None:
        """MTH of each leaf range from one SELECT of its perfect subtrees; None if any is absent."""
        parts = {r: perfect_subtrees(*r) for r in ranges}
        with self._engine.connect() as conn:
            stored = store.SqlNodes(conn).read_nodes([k for keys in parts.values() for k in keys])
        if any(key not in stored for keys in parts.values() for key in keys):
            return None
        return {r: fold_subtrees([stored[key] for key in keys]) for r, keys in parts.items()}

    def find_latest(
        self,
        *,
        artifact_sha256: str | None = None,
        manifest_hash: str | None = None,
        watermark_id: str | None = None,
        event_type: EventType | None = None,
    ) -> Entry | None:
        """The newest entry carrying exactly one given identifier, or None."""
        given = {
            "artifact_sha256": artifact_sha256,
            "manifest_hash": manifest_hash,
            "watermark_id": watermark_id,
        }
        chosen = [(name, value) for name, value in given.items() if value is not None]
        if len(chosen) != 1:
            raise InvalidEventError(
                "give exactly one of artifact_sha256, manifest_hash, watermark_id"
            )
        column, value = store.LEAVES.c[chosen[0][0]], chosen[0][1]
        query = sa.select(store.LEAVES).where(column == value)
        if event_type is not None:
            query = query.where(store.LEAVES.c.event_type == str(event_type))
        with self._engine.connect() as conn:
            row = conn.execute(query.order_by(store.LEAVES.c.leaf_index.desc()).limit(1)).first()
        return None if row is None else _entry(row)

    def events_for_generation(self, generation_id: str) -> list[Entry]:
        """Every event of one generation in log order: its chain of custody."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(store.LEAVES)
                .where(store.LEAVES.c.generation_id == generation_id)
                .order_by(store.LEAVES.c.leaf_index)
            ).all()
        return [_entry(row) for row in rows]

    def anchors(self) -> list[AnchorReceipt]:
        """Stored anchor receipts, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(store.ANCHORS).order_by(store.ANCHORS.c.id)).all()
        return [_anchor_receipt(row) for row in rows]

    def prove(self, index: int) -> dict[str, Any]:
        """A self-contained proof bundle for leaf ``index`` (see ``ledger.verify``).

        The proof targets the newest anchored checkpoint covering the leaf, so the bundle
        carries an anchor receipt; if none covers it yet, the latest checkpoint and no anchor.
        """
        entry = self.entry(index)
        anchor = self._covering_anchor(index)
        note = self.checkpoint_at(anchor.tree_size) if anchor is not None else None
        if anchor is None or note is None:
            anchor, note = None, self.latest_checkpoint()
        size = parse_checkpoint_body(split_note(note)[0])[1]
        proof = self.inclusion_proof(index, size)
        return make_bundle(entry, proof, note, self.public_key_info(), anchor)

    def _covering_anchor(self, index: int) -> AnchorReceipt | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(store.ANCHORS)
                .where(store.ANCHORS.c.tree_size > index)
                .order_by(store.ANCHORS.c.tree_size.desc())
                .limit(1)
            ).first()
        return None if row is None else _anchor_receipt(row)


# --- helpers ---------------------------------------------------------------------------


def _refuse_repeated_events(conn: sa.Connection, batch: list[_Pending]) -> list[_Pending]:
    """The callers whose records may be written; the others are answered with
    ``DuplicateEventError`` (set done once the batch commits, by the leader).

    Run under the head lock, which every sequencer of every process takes: no other
    batch can add a once-only event between this read and this batch's commit.
    """
    keys = [
        (leaf.record.generation_id, str(leaf.record.type))
        for item in batch
        for leaf in item.leaves
        if leaf.record.type in ONCE_PER_GENERATION
    ]
    if not keys:
        return batch
    seen = store.existing_events(conn, {generation_id for generation_id, _ in keys})
    accepted: list[_Pending] = []
    for item in batch:
        wanted = [
            (leaf.record.generation_id, str(leaf.record.type))
            for leaf in item.leaves
            if leaf.record.type in ONCE_PER_GENERATION
        ]
        repeated = [key for key in wanted if key in seen] or _repeats_within(wanted)
        if repeated:
            generation_id, event_type = repeated[0]
            item.error = DuplicateEventError(
                f"generation {generation_id} already has its {event_type} event",
                details={"generation_id": generation_id, "event": event_type},
            )
            continue
        seen.update(wanted)
        accepted.append(item)
    return accepted


def _repeats_within(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [key for i, key in enumerate(keys) if key in keys[:i]]


def _prepare(record: EventRecord) -> _PreparedLeaf:
    data = leaf_data(record.to_leaf())
    return _PreparedLeaf(data=data, leaf_hash=hash_leaf(data), record=record)


def _leaf_row(index: int, leaf: _PreparedLeaf) -> dict[str, Any]:
    record = leaf.record
    return {
        "leaf_index": index,
        "leaf_hash": leaf.leaf_hash.hex(),
        "leaf": leaf.data.decode(),
        "event_type": str(record.type),
        "generation_id": record.generation_id,
        "tenant": record.tenant,
        "artifact_sha256": record.artifact_sha256,
        "manifest_hash": record.manifest_hash,
        "watermark_id": record.watermark_id,
    }


def _entry(row: sa.Row[Any]) -> Entry:
    return Entry(index=int(row.leaf_index), leaf_hash=row.leaf_hash, leaf=json.loads(row.leaf))


def _anchor_receipt(row: sa.Row[Any]) -> AnchorReceipt:
    return AnchorReceipt(
        chain_id=int(row.chain_id),
        contract=row.contract,
        tx_hash=row.tx_hash,
        block_number=int(row.block_number),
        root_hash=row.root_hash,
        tree_size=int(row.tree_size),
        anchored_at=row.anchored_at,
    )


def open_ledger(engine: Engine, settings: LedgerSettings, data_dir: Path) -> Ledger:
    """The gateway's ledger: the signing key under ``data_dir`` (created 0600 on first use)."""
    key = load_or_create_signing_key(settings.signing_key_path(data_dir))
    return Ledger(engine, NoteSigner(settings.origin, key), settings)
