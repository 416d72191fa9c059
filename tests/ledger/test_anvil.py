"""The persistent local chain: anvil as a child process, its state under the data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from common.types import ContentKind, TenantId
from gateway.app import create_app
from gateway.auth import ensure_tenant
from gateway.db import session_scope
from gateway.models import Role
from gateway.pipeline import GenerationOrder
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from ledger.anchor import AnvilAnchor, open_anchor
from ledger.anchor.anchorer import AnchorConfirmation
from ledger.anchor.anvil import ChainFiles, locate_anvil, start_anvil_anchor
from ledger.interface import LedgerConfigurationError
from ledger.settings import AnchorSettings, LedgerSettings
from tests.support.gateway import bearer, fake_catalog, issue_key

ANVIL = locate_anvil()
needs_anvil = pytest.mark.skipif(
    ANVIL is None,
    reason="anvil is not installed (node_modules/.bin/anvil: `make install` runs `npm ci`)",
)

# Anchors only when a test asks (anchor_now): the background loop never races it.
QUIET = AnchorSettings(node="anvil", every_entries=10**9, every_s=3600)


def gateway_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir, database_url=database_url, ledger=LedgerSettings(anchor=QUIET)
    )


def released_text(runtime: Runtime) -> str:
    with session_scope(runtime.engine) as session:
        ensure_tenant(session, "acme", "cn-marketing")
    order = GenerationOrder(
        tenant_id=TenantId("acme"),
        kind=ContentKind.TEXT,
        prompt="春季新品",
        policy="cn-marketing",
        actor="t",
    )
    generation = runtime.pipeline.generate(order)
    assert generation.status == "released"
    return runtime.store.read(generation.artifact_path or "").decode()


def anvil_of(runtime: Runtime) -> AnvilAnchor:
    assert runtime.anchorer is not None
    assert runtime.anchorer.chain is not None
    anchor = runtime.anchorer.chain.anchor
    assert isinstance(anchor, AnvilAnchor)
    return anchor


def pid_of(anchor: AnvilAnchor) -> int:
    assert anchor.node.process is not None, "this process runs that anvil"
    return anchor.node.process.pid


def processes_using(state: Path) -> list[int]:
    """Every live process whose command line names this chain's state file."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(state) in (entry / "cmdline").read_text():
                pids.append(int(entry.name))
        except OSError:
            continue  # it ended while we looked
    return pids


def gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie still answers kill(0): it is gone once its /proc status says so.
        status = Path(f"/proc/{pid}/status")
        if status.exists() and "\nState:\tZ" in status.read_text():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def anvil_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for pid in processes_using(ChainFiles.under(tmp_path).state):  # never leave one behind
        os.kill(pid, signal.SIGKILL)


@needs_anvil
@pytest.mark.db
def test_anchors_are_confirmed_after_a_gateway_restart(database_url: str, anvil_dir: Path) -> None:
    settings = gateway_settings(database_url, anvil_dir)
    first = build_runtime(settings, catalog=fake_catalog())
    first.start()
    try:
        text = released_text(first)
        assert first.anchorer is not None
        receipt = first.anchorer.anchor_now()
        assert receipt is not None
        anvil = anvil_of(first)
        address, pid = anvil.contract_address, pid_of(anvil)
    finally:
        first.close()
    assert gone(pid), "close() left anvil running"
    assert processes_using(ChainFiles.under(anvil_dir).state) == []

    second = build_runtime(settings, catalog=fake_catalog())
    with TestClient(create_app(runtime=second)) as client:  # the lifespan starts it
        assert anvil_of(second).contract_address == address  # the same contract, not a new one
        auditor = bearer(issue_key(second, "acme", Role.AUDIT))
        listed = client.get("/v1/ledger/anchors", headers=auditor).json()["items"]
        assert [item["tx_hash"] for item in listed] == [receipt.tx_hash]
        assert second.anchorer is not None
        assert second.anchorer.confirm(receipt) is AnchorConfirmation.CONFIRMED
        report = client.post("/v1/verify", json={"text": text}).json()
        assert report["ledger"]["anchor"]["tx_hash"] == receipt.tx_hash
        assert report["ledger"]["anchor_status"] == "confirmed"
        assert second.readiness_warnings() == []
        pid = pid_of(anvil_of(second))
    assert gone(pid)


@needs_anvil
def test_a_killed_gateway_takes_its_anvil_along(anvil_dir: Path) -> None:
    """PR_SET_PDEATHSIG: SIGKILL of the gateway leaves no anvil behind, and its state
    (anchors included) is there at the next start."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ledger.anchor.anvil import locate_anvil, start_anvil_anchor\n"
        "from ledger.settings import AnchorSettings\n"
        "anchor = start_anvil_anchor(locate_anvil(), AnchorSettings(), Path(sys.argv[1]))\n"
        "receipt = anchor.submit('ab' * 32, 3)\n"
        "print(anchor.node.process.pid, receipt.tx_hash, flush=True)\n"
        "sys.stdin.read()\n"  # wait to be killed
    )
    gateway = subprocess.Popen(
        [sys.executable, "-c", script, str(anvil_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert gateway.stdout is not None
        anvil_pid, tx_hash = gateway.stdout.readline().split()
    finally:
        gateway.kill()
        gateway.wait()
    assert gone(int(anvil_pid)), "anvil outlived the gateway that started it"

    assert ANVIL is not None
    anchor = start_anvil_anchor(ANVIL, AnchorSettings(), anvil_dir)
    try:
        assert [r.tx_hash for r in anchor.find("ab" * 32, 3)] == [tx_hash]
    finally:
        anchor.close()


@needs_anvil
def test_a_torn_state_file_is_restored_from_the_checked_copy(anvil_dir: Path) -> None:
    assert ANVIL is not None
    anchor = start_anvil_anchor(ANVIL, AnchorSettings(), anvil_dir)
    receipt = anchor.submit("cd" * 32, 5)
    anchor.close()
    files = ChainFiles.under(anvil_dir)
    files.state.write_bytes(files.state.read_bytes()[:100])  # as if killed mid-dump
    again = start_anvil_anchor(ANVIL, AnchorSettings(), anvil_dir)
    try:
        assert [r.tx_hash for r in again.find("cd" * 32, 5)] == [receipt.tx_hash]
        for private in (files.key, files.contract, files.state, files.saved_state, files.log):
            assert oct(private.stat().st_mode & 0o777) == "0o600", private
        assert oct(files.directory.stat().st_mode & 0o777) == "0o700"
        assert json.loads(files.contract.read_text())["address"] == again.contract_address
    finally:
        again.close()


@needs_anvil
def test_a_deploy_anvil_never_saved_is_repeated_but_a_lost_chain_with_anchors_is_refused(
    anvil_dir: Path,
) -> None:
    assert ANVIL is not None
    files = ChainFiles.under(anvil_dir)
    start_anvil_anchor(ANVIL, AnchorSettings(), anvil_dir).close()
    files.state.write_bytes(b'{"block":')  # torn, and no anchor recorded yet: start anew
    again = start_anvil_anchor(ANVIL, AnchorSettings(), anvil_dir)
    assert files.state.with_name("anvil-state.json.torn").exists()
    again.submit("12" * 32, 1)  # leaves the checked copy
    again.close()
    files.state.unlink()
    files.saved_state.unlink()  # the chain and its copy are gone, the receipt is not
    with pytest.raises(LedgerConfigurationError, match="no anchor contract"):
        start_anvil_anchor(ANVIL, AnchorSettings(), anvil_dir)


@needs_anvil
def test_an_anvil_that_died_is_started_again_on_the_same_state(anvil_dir: Path) -> None:
    assert ANVIL is not None
    anchor = start_anvil_anchor(ANVIL, AnchorSettings(), anvil_dir)
    try:
        first = anchor.submit("34" * 32, 2)
        address, dead = anchor.contract_address, anchor.node
        assert dead.process is not None
        dead.process.kill()
        dead.process.wait()
        assert (anchor.readiness_problem() or "").startswith("the local chain (anvil) exited")
        second = anchor.submit("56" * 32, 4)  # starts it again first
        assert anchor.node is not dead
        assert anchor.readiness_problem() is None
        assert anchor.contract_address == address
        assert [r.tx_hash for r in anchor.find("34" * 32, 2)] == [first.tx_hash]
        assert second.block_number > first.block_number
    finally:
        anchor.close()


@needs_anvil
def test_a_second_process_uses_the_running_anvil_and_a_dead_one_is_a_problem(
    anvil_dir: Path,
) -> None:
    owner = open_anchor(LedgerSettings(anchor=QUIET), anvil_dir)
    try:
        assert isinstance(owner.anchor, AnvilAnchor)
        # flock conflicts between two open files even in one process: as a CLI would see it
        guest = open_anchor(LedgerSettings(anchor=QUIET), anvil_dir)
        assert isinstance(guest.anchor, AnvilAnchor)
        assert not guest.anchor.node.owned
        assert guest.anchor.contract_address == owner.anchor.contract_address
        receipt = guest.anchor.submit("ef" * 32, 9)
        assert [r.tx_hash for r in owner.anchor.find("ef" * 32, 9)] == [receipt.tx_hash]
        guest.close()  # not its chain: it keeps running
        assert owner.readiness_problems() == []
        owner.anchor.node.stop()
        assert guest.readiness_problems()[0].endswith("no longer answers; restart this process")
        assert owner.readiness_problems()[0].startswith("chain: the local chain (anvil) exited")
    finally:
        owner.close()
    open_anchor(LedgerSettings(anchor=QUIET), anvil_dir).close()  # the lock is free again


def test_without_anvil_auto_falls_back_with_a_warning_and_anvil_refuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("ledger.anchor.registry.locate_anvil", lambda _path: None)
    monkeypatch.setattr("ledger.anchor.registry.why_anvil_is_missing", lambda: "Node.js not found")
    chain = open_anchor(LedgerSettings(), tmp_path)
    assert chain.anchor.name == "embedded"
    assert chain.readiness_warnings() == [
        "chain: Node.js not found; anchoring to an in-process eth-tester chain that does "
        "not survive a restart"
    ]
    with pytest.raises(LedgerConfigurationError, match=r"'anvil' but Node\.js not found"):
        open_anchor(LedgerSettings(anchor=AnchorSettings(node="anvil")), tmp_path)
    assert (
        open_anchor(LedgerSettings(anchor=AnchorSettings(node="eth_tester")), tmp_path).warnings
        == ()
    )


def test_an_explicit_anvil_path_must_exist(tmp_path: Path) -> None:
    settings = AnchorSettings(node="anvil", anvil_path=tmp_path / "no-anvil")
    with pytest.raises(LedgerConfigurationError, match="not an executable"):
        open_anchor(LedgerSettings(anchor=settings), tmp_path)


@pytest.mark.db
def test_runtime_shows_the_fallback_warning(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> None:
    monkeypatch.setattr("ledger.anchor.registry.locate_anvil", lambda _path: None)
    runtime = build_runtime(Settings(data_dir=tmp_path, database_url=database_url))
    assert runtime.readiness_warnings() == []  # nothing built, nothing started to ask
    runtime.start()
    try:
        (warning,) = runtime.readiness_warnings()
        assert "eth-tester chain that does not survive a restart" in warning
    finally:
        runtime.close()
