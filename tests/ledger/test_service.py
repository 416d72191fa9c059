"""The ledger service on a real database (SQLite, or PostgreSQL with AIGC_TEST_DB=postgres)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from ledger.checkpoint import NoteSigner
from ledger.interface import (
    AppendReceipt,
    BundleProblem,
    DuplicateEventError,
    EntryNotFoundError,
    EventRecord,
    EventType,
    InvalidEventError,
    LedgerConfigurationError,
    LedgerUnavailableError,
    TreeSizeError,
)
from ledger.merkle import MemoryTree, hash_leaf, tree_root
from ledger.service import Ledger, open_ledger
from ledger.settings import LedgerSettings
from ledger.store import LEAVES
from ledger.verify import (
    leaf_data,
    verify_bundle,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.db
Record = Callable[..., EventRecord]


def test_append_returns_index_and_leaf_hash(ledger: Ledger, make_record: Record) -> None:
    first = ledger.append(make_record(0))
    second = ledger.append(make_record(1))
    assert (first.index, second.index) == (0, 1)
    assert first.leaf_hash == hash_leaf(leaf_data(make_record(0).to_leaf())).hex()
    assert ledger.size() == 2
    entry = ledger.entry(1)
    assert entry.leaf_hash == second.leaf_hash
    assert EventRecord.from_leaf(entry.leaf) == make_record(1)
    assert set(entry.to_dict()) == {"index", "leaf_hash", "leaf"}


def test_every_batch_issues_a_checkpoint(
    ledger: Ledger, signer: NoteSigner, make_record: Record
) -> None:
    empty = verify_checkpoint(ledger.latest_checkpoint(), signer.vkey)
    assert (empty.tree_size, empty.root_hash) == (0, tree_root(0, MemoryTree()).hex())
    ledger.append_many([make_record(i) for i in range(5)])
    ledger.append(make_record(5))
    hashes = [hash_leaf(leaf_data(make_record(i).to_leaf())) for i in range(6)]
    checkpoint = verify_checkpoint(ledger.latest_checkpoint(), signer.vkey)
    assert (checkpoint.tree_size, checkpoint.root_hash) == (6, MemoryTree(hashes).root().hex())
    at_five = ledger.checkpoint_at(5)
    assert at_five is not None
    assert verify_checkpoint(at_five, signer.vkey).root_hash == MemoryTree(hashes[:5]).root().hex()
    assert ledger.checkpoint_at(3) is None


def test_proofs_verify_against_signed_checkpoints(
    ledger: Ledger, signer: NoteSigner, make_record: Record
) -> None:
    for start in range(0, 300, 37):
        ledger.append_many([make_record(i) for i in range(start, min(start + 37, 300))])
    checkpoint = verify_checkpoint(ledger.latest_checkpoint(), signer.vkey)
    for index in (0, 1, 36, 37, 128, 255, 256, 299):
        proof = ledger.inclusion_proof(index)
        assert proof.tree_size == checkpoint.tree_size == 300
        verify_inclusion(
            proof.leaf_hash,
            index=index,
            tree_size=300,
            proof=proof.hashes,
            root=checkpoint.root_hash,
        )
    old = ledger.checkpoint_at(111)
    assert old is not None
    old_checkpoint = verify_checkpoint(old, signer.vkey)
    past = ledger.inclusion_proof(100, tree_size=111)
    verify_inclusion(
        past.leaf_hash, index=100, tree_size=111, proof=past.hashes, root=old_checkpoint.root_hash
    )
    consistency = ledger.consistency_proof(111, 300)
    verify_consistency(
        first=111,
        second=300,
        proof=consistency.hashes,
        first_root=old_checkpoint.root_hash,
        second_root=checkpoint.root_hash,
    )
    assert set(consistency.to_dict()) >= {"hashes", "first", "second"}
    assert set(past.to_dict()) >= {"hashes", "index", "tree_size"}


def test_bad_requests_map_to_404_and_400(ledger: Ledger, make_record: Record) -> None:
    ledger.append_many([make_record(i) for i in range(4)])
    with pytest.raises(EntryNotFoundError):
        ledger.entry(4)
    with pytest.raises(EntryNotFoundError):
        ledger.inclusion_proof(9)
    with pytest.raises(TreeSizeError):
        ledger.inclusion_proof(1, tree_size=5)
    with pytest.raises(TreeSizeError):
        ledger.inclusion_proof(3, tree_size=2)
    with pytest.raises(TreeSizeError):
        ledger.consistency_proof(2, 5)
    with pytest.raises(TreeSizeError):
        ledger.consistency_proof(3, 2)
    with pytest.raises(TreeSizeError):
        ledger.consistency_proof(0, 2)
    assert ledger.consistency_proof(4, 4).hashes == ()


def test_lookups_and_chain_of_custody(ledger: Ledger, make_record: Record) -> None:
    generation = ledger.append(
        make_record(
            1, type=EventType.GENERATION, generation="g1", manifest_hash=None, watermark_id=None
        )
    )
    ledger.append(make_record(2, generation="g2"))
    stamp = ledger.append(make_record(1, generation="g1", previous_leaf_hash=generation.leaf_hash))
    found = ledger.find_latest(artifact_sha256=f"{1:064x}")
    assert found is not None
    assert found.index == stamp.index
    by_type = ledger.find_latest(artifact_sha256=f"{1:064x}", event_type=EventType.GENERATION)
    assert by_type is not None
    assert by_type.index == generation.index
    assert ledger.find_latest(watermark_id="wm-2") == ledger.entry(1)
    assert ledger.find_latest(manifest_hash=f"{99:064x}") is None
    custody = ledger.events_for_generation("g1")
    assert [e.index for e in custody] == [0, 2]
    assert custody[1].leaf["previous_leaf_hash"] == custody[0].leaf_hash
    with pytest.raises(InvalidEventError):
        ledger.find_latest(artifact_sha256="a" * 64, watermark_id="wm-1")


def test_concurrent_threads_get_distinct_contiguous_indices(
    ledger: Ledger, signer: NoteSigner, make_record: Record
) -> None:
    receipts: list[int] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        for i in range(25):
            index = ledger.append(make_record(offset * 1000 + i)).index
            with lock:
                receipts.append(index)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(receipts) == list(range(200))
    checkpoint = verify_checkpoint(ledger.latest_checkpoint(), signer.vkey)
    assert checkpoint.tree_size == 200
    for index in (0, 199):
        proof = ledger.inclusion_proof(index)
        verify_inclusion(
            proof.leaf_hash,
            index=index,
            tree_size=200,
            proof=proof.hashes,
            root=checkpoint.root_hash,
        )


def test_two_ledgers_on_one_database_share_one_log(
    engine: Engine, signer: NoteSigner, make_record: Record
) -> None:
    one, two = (Ledger(engine, signer, LedgerSettings()) for _ in range(2))
    # Each ledger remembers the tree's right edge after its own batch; interleaving
    # makes every remembered edge stale at least once, so each root below must come
    # from the edge as it really is.
    writers = [one, one, two, one, two, two, one, one, two, one, one]
    expected = MemoryTree()
    for i, writer in enumerate(writers):
        receipt = writer.append(make_record(i))
        expected.extend([bytes.fromhex(receipt.leaf_hash)])
        checkpoint = verify_checkpoint(writer.latest_checkpoint(), signer.vkey)
        assert (checkpoint.tree_size, checkpoint.root_hash) == (i + 1, expected.root().hex())
    names = [one.entry(i).leaf["generation_id"] for i in range(len(writers))]
    assert names == [f"gen_{i}" for i in range(len(writers))]


def test_a_failed_batch_writes_nothing(ledger: Ledger, engine: Engine, make_record: Record) -> None:
    ledger.append(make_record(0))
    with engine.begin() as conn:  # make the next leaf index collide
        conn.exec_driver_sql(
            "INSERT INTO ledger_leaves (leaf_index, leaf_hash, leaf, event_type, generation_id, "
            "tenant) VALUES (1, 'x', '{}', 'stamp', 'g', 't')"
        )
    with pytest.raises(LedgerUnavailableError):
        ledger.append(make_record(1))
    assert ledger.size() == 1


def test_signer_name_must_be_the_origin(engine: Engine) -> None:
    with pytest.raises(LedgerConfigurationError):
        Ledger(
            engine, NoteSigner("other.example/log", Ed25519PrivateKey.generate()), LedgerSettings()
        )


def test_proof_bundle_verifies_offline_and_rejects_tampering(
    ledger: Ledger, signer: NoteSigner, make_record: Record
) -> None:
    ledger.append_many([make_record(i) for i in range(10)])
    bundle = json.loads(json.dumps(ledger.prove(7)))
    result = verify_bundle(bundle, trusted_vkey=signer.vkey)
    assert result.ok, result.reason
    assert (result.index, result.tree_size, result.anchored) == (7, 10, False)

    def rejected(mutate: Callable[[dict], None]) -> BundleProblem | None:  # type: ignore[type-arg]
        changed = copy.deepcopy(bundle)
        mutate(changed)
        outcome = verify_bundle(changed, trusted_vkey=signer.vkey)
        assert not outcome.ok
        assert outcome.reason
        return outcome.problem

    assert rejected(lambda b: b["entry"]["leaf"].update(decision="block")) is (
        BundleProblem.LEAF_HASH_MISMATCH
    )
    assert rejected(lambda b: b["inclusion_proof"]["hashes"].reverse()) is (
        BundleProblem.INCLUSION_FAILED
    )
    assert rejected(lambda b: b.update(checkpoint=b["checkpoint"].replace("\n10\n", "\n11\n"))) is (
        BundleProblem.BAD_SIGNATURE
    )
    assert rejected(lambda b: b.pop("entry")) is BundleProblem.MALFORMED
    assert rejected(lambda b: b["entry"].update(index="7")) is BundleProblem.MALFORMED
    assert rejected(lambda b: b.update(format="v0")) is BundleProblem.MALFORMED
    assert rejected(lambda b: b["inclusion_proof"].update(hashes=["zz"])) is (
        BundleProblem.INCLUSION_FAILED
    )
    other = NoteSigner(signer.name, Ed25519PrivateKey.generate())
    assert not verify_bundle(bundle, trusted_vkey=other.vkey).ok
    assert not verify_bundle("not a bundle").ok
    assert not verify_bundle([]).ok


def test_open_ledger_creates_the_key_under_the_data_dir(
    engine: Engine, data_dir: Path, make_record: Record
) -> None:
    settings = LedgerSettings()
    ledger = open_ledger(engine, settings, data_dir)
    ledger.append(make_record(0))
    key_path = data_dir / "keys" / "ledger-ed25519.pem"
    assert key_path.exists()
    again = open_ledger(engine, settings, data_dir)
    assert again.public_key_info() == ledger.public_key_info()
    info = ledger.public_key_info()
    assert info.vkey.startswith(f"{settings.origin}+{info.key_id}+")
    verify_checkpoint(again.latest_checkpoint(), info.vkey)


def test_append_chain_links_each_record_to_the_one_before(
    ledger: Ledger, make_record: Record
) -> None:
    receipts = ledger.append_chain([make_record(i) for i in range(3)])
    leaves = [ledger.entry(r.index).leaf for r in receipts]
    assert [r.index for r in receipts] == [0, 1, 2]
    assert leaves[0]["previous_leaf_hash"] == make_record(0).previous_leaf_hash
    assert leaves[1]["previous_leaf_hash"] == receipts[0].leaf_hash
    assert leaves[2]["previous_leaf_hash"] == receipts[1].leaf_hash
    assert ledger.checkpoint_at(1) is None  # one transaction, one checkpoint
    assert ledger.checkpoint_at(3) is not None


def test_alongside_runs_in_the_transaction_that_commits_the_leaves(
    ledger: Ledger, engine: Engine, make_record: Record
) -> None:
    seen: list[tuple[list[int], str | None, str | None]] = []

    def alongside(conn: sa.Connection, receipts: Sequence[AppendReceipt]) -> None:
        index = receipts[-1].index
        # The leaf is visible on this connection and nowhere else: not yet committed.
        with engine.connect() as other:
            outside = other.execute(_leaf_hash_at(index)).scalar()
        seen.append(
            ([r.index for r in receipts], conn.execute(_leaf_hash_at(index)).scalar(), outside)
        )

    ledger.append(make_record(0))
    receipts = ledger.append_chain([make_record(1), make_record(2)], alongside=alongside)
    assert seen == [([1, 2], receipts[1].leaf_hash, None)]
    assert ledger.size() == 3


def test_a_failing_alongside_rolls_its_leaves_back(ledger: Ledger, make_record: Record) -> None:
    def refuse(conn: sa.Connection, receipts: Sequence[AppendReceipt]) -> None:
        raise RuntimeError("the caller's own write failed")

    ledger.append(make_record(0))
    with pytest.raises(LedgerUnavailableError):
        ledger.append_chain([make_record(1)], alongside=refuse)
    assert ledger.size() == 1
    assert ledger.append(make_record(2)).index == 1  # no gap where the rolled-back leaf was


def test_each_waiting_caller_runs_its_own_alongside_with_its_own_receipts(
    ledger: Ledger, make_record: Record
) -> None:
    # A batch written by one thread serves many callers: each alongside must get the
    # receipts its caller is given, whichever thread ran it.
    given: dict[int, list[int]] = {}
    returned: dict[int, list[int]] = {}
    lock = threading.Lock()

    def worker(caller: int) -> None:
        def alongside(conn: sa.Connection, receipts: Sequence[AppendReceipt]) -> None:
            with lock:
                given[caller] = [r.index for r in receipts]

        records = [make_record(caller * 10 + i) for i in range(2)]
        indices = [r.index for r in ledger.append_chain(records, alongside=alongside)]
        with lock:
            returned[caller] = indices

    threads = [threading.Thread(target=worker, args=(caller,)) for caller in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert given == returned
    assert sorted(i for indices in returned.values() for i in indices) == list(range(16))


def _leaf_hash_at(index: int) -> sa.Select[tuple[str]]:
    return sa.select(LEAVES.c.leaf_hash).where(LEAVES.c.leaf_index == index)


def test_a_generation_gets_one_stamp_leaf_at_most(ledger: Ledger, make_record: Record) -> None:
    ledger.append(make_record(0, generation="gen_once"))
    with pytest.raises(DuplicateEventError) as refused:
        ledger.append(make_record(1, generation="gen_once"))
    assert refused.value.http_status == 409
    assert refused.value.details == {"generation_id": "gen_once", "event": "stamp"}
    assert ledger.size() == 1
    # Events that may repeat (review decisions) are not limited.
    review = EventType.REVIEW_DECISION
    ledger.append(make_record(2, generation="gen_once", type=review))
    ledger.append(make_record(3, generation="gen_once", type=review))
    assert ledger.size() == 3


def test_a_repeated_event_is_refused_without_failing_its_batch(
    engine: Engine, signer: NoteSigner, make_record: Record
) -> None:
    # The leader lingers so that all three callers share one batch.
    ledger = Ledger(engine, signer, LedgerSettings(batch_wait_ms=200))
    outcomes: dict[str, object] = {}

    def append(name: str, record: EventRecord) -> None:
        try:
            outcomes[name] = ledger.append(record)
        except DuplicateEventError as exc:
            outcomes[name] = exc

    callers = [
        threading.Thread(target=append, args=(name, make_record(n, generation=generation)))
        for name, n, generation in (("a", 0, "gen_a"), ("b", 1, "gen_a"), ("c", 2, "gen_c"))
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    refused = [name for name, outcome in outcomes.items() if isinstance(outcome, Exception)]
    assert len(refused) == 1
    assert refused[0] in ("a", "b")
    assert isinstance(outcomes["c"], AppendReceipt)
    assert ledger.size() == 2


def test_a_chain_repeating_its_own_event_is_refused_whole(
    ledger: Ledger, make_record: Record
) -> None:
    generation = make_record(0, generation="gen_x", type=EventType.GENERATION)
    with pytest.raises(DuplicateEventError):
        ledger.append_chain([generation, make_record(1, generation="gen_x", type="generation")])
    assert ledger.size() == 0
