"""EVM anchoring on the in-process eth-tester chain, and an unreachable RPC endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.anchor import (
    Anchorer,
    FakeAnchor,
    Web3Anchor,
    build_anchor,
    embedded_anchor,
    verify_anchor,
)
from ledger.anchor.web3_anchor import registry_artifact
from ledger.checkpoint import NoteSigner
from ledger.interface import AnchorError, EventRecord, LedgerConfigurationError, VerificationError
from ledger.service import Ledger
from ledger.settings import AnchorSettings, LedgerSettings
from ledger.verify import verify_bundle

pytestmark = pytest.mark.db
Record = Callable[..., EventRecord]
# A local port nothing listens on: connections are refused at once.
DEAD_RPC = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def chain() -> Web3Anchor:
    return embedded_anchor()


def test_anchor_then_read_the_event_back(
    ledger: Ledger, signer: NoteSigner, chain: Web3Anchor, make_record: Record
) -> None:
    ledger.append_many([make_record(i) for i in range(12)])
    anchorer = Anchorer(ledger, chain, AnchorSettings())
    receipt = anchorer.anchor_now()
    assert receipt is not None
    head = ledger.head()
    assert (receipt.root_hash, receipt.tree_size) == (head.root_hash, 12)
    assert receipt.contract == chain.contract_address
    assert len(receipt.tx_hash) == 64
    assert ledger.anchors() == [receipt]
    assert anchorer.anchor_now() is None  # nothing new to anchor

    on_chain = chain.find(head.root_hash, 12)
    assert [e.tx_hash for e in on_chain] == [receipt.tx_hash]
    assert verify_anchor(ledger.latest_checkpoint(), chain, vkey=signer.vkey).tx_hash == (
        receipt.tx_hash
    )
    assert verify_anchor(receipt, chain).block_number == receipt.block_number
    assert verify_anchor(head, chain).tree_size == 12


def test_a_root_that_was_never_anchored_fails(
    ledger: Ledger, chain: Web3Anchor, make_record: Record
) -> None:
    ledger.append(make_record(1))
    Anchorer(ledger, chain, AnchorSettings()).anchor_now()
    ledger.append(make_record(2))
    with pytest.raises(VerificationError):
        verify_anchor(ledger.head(), chain)


def test_bundle_carries_the_covering_anchor(
    ledger: Ledger, signer: NoteSigner, chain: Web3Anchor, make_record: Record
) -> None:
    ledger.append_many([make_record(i) for i in range(5)])
    receipt = Anchorer(ledger, chain, AnchorSettings()).anchor_now()
    ledger.append_many([make_record(i) for i in range(5, 9)])
    bundle = ledger.prove(3)
    assert receipt is not None
    assert bundle["anchor"] == receipt.to_dict()
    result = verify_bundle(bundle, trusted_vkey=signer.vkey)
    assert (result.ok, result.anchored, result.tree_size) == (True, True, 5), result.reason
    later = ledger.prove(7)  # not covered by an anchor yet: latest checkpoint, no anchor
    assert later["anchor"] is None
    assert verify_bundle(later, trusted_vkey=signer.vkey).ok
    bundle["anchor"]["tree_size"] = 6
    assert not verify_bundle(bundle, trusted_vkey=signer.vkey).ok


def test_background_anchorer_anchors_every_n_entries(
    ledger: Ledger, chain: Web3Anchor, make_record: Record
) -> None:
    settings = AnchorSettings(every_entries=5, every_s=3600, retry_initial_s=0.05)
    anchorer = Anchorer(ledger, chain, settings)
    anchorer.start()
    try:
        ledger.append_many([make_record(i) for i in range(4)])
        time.sleep(0.3)
        assert ledger.anchors() == []
        ledger.append(make_record(4))
        deadline = time.monotonic() + 10
        while not ledger.anchors() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [a.tree_size for a in ledger.anchors()] == [5]
        assert anchorer.status().running
    finally:
        anchorer.stop()
    assert not anchorer.status().running


def test_background_anchorer_anchors_after_t_seconds(ledger: Ledger, make_record: Record) -> None:
    anchor = FakeAnchor()
    now = [0.0]
    settings = AnchorSettings(every_entries=1000, every_s=60, retry_initial_s=0.02)
    anchorer = Anchorer(ledger, anchor, settings, clock=lambda: now[0])
    anchorer.start()
    try:
        ledger.append(make_record(0))
        time.sleep(0.3)
        assert anchor.events == []
        now[0] = 61.0
        deadline = time.monotonic() + 10
        while not anchor.events and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        anchorer.stop()
    assert [e.tree_size for e in anchor.events] == [1]


def test_unreachable_rpc_leaves_appends_working_and_anchors_pending(
    ledger: Ledger, make_record: Record, tmp_path: Path
) -> None:
    key_file = tmp_path / "anchor.key"
    key_file.write_text("0x" + "11" * 32)
    dead = Web3Anchor.connect(
        DEAD_RPC, key_file=key_file, contract_address="0x" + "22" * 20, timeout_s=1
    )
    settings = AnchorSettings(every_entries=1, retry_initial_s=0.05, retry_max_s=0.2)
    anchorer = Anchorer(ledger, dead, settings)
    anchorer.start()
    try:
        started = time.monotonic()
        receipts = [ledger.append(make_record(i)) for i in range(20)]
        assert time.monotonic() - started < 5
        assert [r.index for r in receipts] == list(range(20))
        deadline = time.monotonic() + 10
        while anchorer.status().consecutive_failures < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        status = anchorer.status()
        assert status.consecutive_failures >= 2
        assert status.pending_entries == 20
        assert status.last_error
    finally:
        anchorer.stop()
    with pytest.raises(AnchorError):
        anchorer.anchor_now()
    assert ledger.anchors() == []
    assert ledger.size() == 20


def test_backoff_doubles_up_to_the_ceiling(ledger: Ledger, make_record: Record) -> None:
    anchor = FakeAnchor()
    anchor.fail_with = "down"
    settings = AnchorSettings(every_entries=1, retry_initial_s=1, retry_max_s=5)
    anchorer = Anchorer(ledger, anchor, settings, clock=lambda: 0.0)
    ledger.append(make_record(0))
    waits = []
    for _ in range(5):
        anchorer.attempt()
        waits.append(anchorer.status().next_retry_in_s)
    assert waits == [1, 2, 4, 5, 5]
    assert anchorer.status().last_error == "down"
    anchor.fail_with = None
    anchorer.attempt()
    assert (anchorer.status().consecutive_failures, anchorer.status().pending_entries) == (0, 0)
    assert [a.tree_size for a in ledger.anchors()] == [1]


def test_registry_builds_embedded_by_default_and_checks_web3_settings(tmp_path: Path) -> None:
    with pytest.raises(LedgerConfigurationError, match="rpc_url"):
        build_anchor(LedgerSettings(anchor=AnchorSettings(rpc_url=DEAD_RPC)), tmp_path)
    with pytest.raises(LedgerConfigurationError, match="known: embedded, web3"):
        build_anchor(LedgerSettings(), tmp_path, name="bitcoin")
    with pytest.raises(LedgerConfigurationError, match="key file"):
        build_anchor(
            LedgerSettings(
                anchor=AnchorSettings(
                    rpc_url=DEAD_RPC, key_file=Path("none.key"), contract_address="0x" + "22" * 20
                )
            ),
            tmp_path,
        )
    assert {item.get("name") for item in registry_artifact()["abi"]} == {"anchor", "Anchored"}


def test_signed_transactions_from_a_key_file_account(tmp_path: Path) -> None:
    """The remote-RPC path (local key, raw signed transactions) against eth-tester."""
    from web3 import EthereumTesterProvider, Web3

    from ledger.anchor import deploy_registry, load_account

    w3 = Web3(EthereumTesterProvider())
    key_file = tmp_path / "anchor.key"
    key_file.write_text("0x" + "42" * 32 + "\n")
    account = load_account(key_file)
    w3.eth.send_transaction(
        {"from": w3.eth.accounts[0], "to": account.address, "value": w3.to_wei(1, "ether")}
    )
    address = deploy_registry(w3, account)
    anchor = Web3Anchor(w3, address, account=account, expected_chain_id=w3.eth.chain_id)
    receipt = anchor.submit("ab" * 32, 7)
    assert [e.tx_hash for e in anchor.find("ab" * 32, 7)] == [receipt.tx_hash]
    assert anchor.find("ab" * 32, 8) == []
    wrong_chain = Web3Anchor(w3, address, account=account, expected_chain_id=1)
    with pytest.raises(AnchorError, match="chain"):
        wrong_chain.submit("ab" * 32, 7)


def test_a_receipt_is_confirmed_only_by_a_chain_that_has_it_now(
    ledger: Ledger, make_record: Record, tmp_path: Path
) -> None:
    from ledger.anchor.anchorer import AnchorConfirmation

    ledger.append_many([make_record(i) for i in range(3)])
    first = Anchorer(ledger, embedded_anchor(), AnchorSettings())
    receipt = first.anchor_now()
    assert receipt is not None
    assert first.confirm(receipt) is AnchorConfirmation.CONFIRMED
    # The embedded chain died with its process; a new one knows nothing of the receipt.
    restarted = Anchorer(ledger, embedded_anchor(), AnchorSettings())
    assert restarted.confirm(receipt) is AnchorConfirmation.NOT_ON_CHAIN
    key_file = tmp_path / "anchor.key"
    key_file.write_text("0x" + "11" * 32)
    dead = Web3Anchor.connect(
        DEAD_RPC, key_file=key_file, contract_address="0x" + "22" * 20, timeout_s=1
    )
    assert Anchorer(ledger, dead, AnchorSettings()).confirm(receipt) is (
        AnchorConfirmation.UNREACHABLE
    )


def test_a_configured_endpoint_is_probed_for_readiness(tmp_path: Path) -> None:
    """Unreachable, the wrong chain, or no contract there: each is a readiness problem."""
    from web3 import EthereumTesterProvider, Web3

    from ledger.anchor import deploy_registry
    from ledger.anchor.registry import AnchorChain

    key_file = tmp_path / "anchor.key"
    key_file.write_text("0x" + "11" * 32)
    dead = Web3Anchor.connect(
        DEAD_RPC, key_file=key_file, contract_address="0x" + "22" * 20, timeout_s=1
    )
    assert AnchorChain(dead).readiness_problems() == [
        "chain: the chain's RPC endpoint does not answer: ConnectionError"
    ]
    w3 = Web3(EthereumTesterProvider())
    address = deploy_registry(w3)
    assert Web3Anchor(w3, address).readiness_problem() is None
    other_chain = Web3Anchor(w3, address, expected_chain_id=1).readiness_problem()
    assert other_chain is not None
    assert "not 1" in other_chain
    empty = Web3Anchor(w3, "0x" + "33" * 20).readiness_problem()
    assert empty is not None
    assert empty.startswith("no contract at")


def test_one_process_at_a_time_anchors_a_shared_ledger(
    ledger: Ledger, make_record: Record, database_url: str, signer: NoteSigner
) -> None:
    """Two API processes on one PostgreSQL ledger: the one holding the turn anchors, the
    other stands aside instead of sending the same checkpoint again."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the cross-process turn is PostgreSQL's advisory lock")
    from gateway.db import create_engine_for

    other_engine = create_engine_for(database_url)
    try:
        other = Ledger(other_engine, signer, LedgerSettings())
        ledger.append_many([make_record(i) for i in range(3)])
        chain = embedded_anchor()
        with ledger.anchoring_turn() as ours:
            assert ours
            assert Anchorer(other, chain, AnchorSettings()).anchor_now() is None
            with other.anchoring_turn() as theirs:
                assert not theirs
        receipt = Anchorer(other, chain, AnchorSettings()).anchor_now()
        assert receipt is not None  # the turn is free again
        assert receipt.tree_size == 3
        assert Anchorer(ledger, chain, AnchorSettings()).anchor_now() is None  # done already
    finally:
        other_engine.dispose()
