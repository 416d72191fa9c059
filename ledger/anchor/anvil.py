"""A local chain that outlives the process: Foundry's ``anvil`` as a child process.

    executable = locate_anvil(settings.anvil_path)     # None → why_anvil_is_missing()
    anchor = start_anvil_anchor(executable, settings, data_dir)
    anchor.submit(root_hash_hex, tree_size)            # returns once anvil saved the block
    anchor.readiness_problem()                         # "…exited with code 1…" or None
    anchor.close()                                     # SIGTERM (anvil dumps), then kill

An anvil of ours that died is started again, on the same state, by the next ``submit``
or ``find``; until then ``readiness_problem`` says so.

Everything lives in ``<data_dir>/chain`` (0700): anvil's state (``--state``, dumped
every second and on exit), the last copy of it this process checked, the anchoring key
and the contract's address (0600), anvil's log, and a lock that keeps a second process
from running a second anvil on the same state file. A second gateway process on the same
data dir (a CLI command beside the server) uses the running anvil instead: its owner
publishes the port in ``anvil.json``, and the guest loses the chain when the owner stops.

anvil rewrites its state file in place (``O_TRUNC``, no rename, no fsync), so a crash in
the middle of a dump leaves it torn. ``submit`` therefore returns only once a dump holds
the anchor's block, and keeps that dump as ``anvil-state.saved.json``: a receipt the
ledger records is always on the chain a restart loads. The contract's deploy is not
waited for (start-up stays fast): lost before the first anchor, it is deployed again.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from common.privatefiles import write_private
from ledger.anchor.chain_files import (
    ChainBusyError,
    ChainFiles,
    lock_chain,
    log_tail,
    mark_anchored,
    published_chain,
    read_contract,
    recover_state,
    saved_block,
)
from ledger.anchor.web3_anchor import Web3Anchor, deploy_registry, load_account
from ledger.interface import AnchorError, AnchorReceipt, LedgerConfigurationError
from ledger.settings import AnchorSettings

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

__all__ = [
    "DEFAULT_CHAIN_ID",
    "AnvilAnchor",
    "AnvilNode",
    "ChainBusyError",
    "ChainFiles",
    "locate_anvil",
    "start_anvil_anchor",
    "why_anvil_is_missing",
]

log = logging.getLogger(__name__)

DEFAULT_CHAIN_ID = 31337  # anvil's own default: a local development chain
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1
_MIN_BALANCE_WEI = 10**20  # 100 ETH of a chain nobody else uses: anchors cost ~1e-4 each
_TOP_UP_WEI = 10**24
_SAVE_TIMEOUT_S = 10.0  # anvil dumps every second; ten missed dumps mean it is stuck
_STOP_TIMEOUT_S = 10.0

# PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process:
# every anvil is forked from this one long-lived thread, which ends only at exit.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="anvil-spawner")


# --------------------------------------------------------------------- the executable


def locate_anvil(explicit: Path | None = None) -> Path | None:
    """The anvil to run: ``explicit``, else the project's (or cwd's) npm install, else PATH.

    The platform binary inside ``@foundry-rs/anvil-<os>-<arch>`` is preferred to the
    ``.bin/anvil`` Node.js wrapper: a wrapper killed hard would orphan the real anvil.
    """
    if explicit is not None:
        if not _is_executable(explicit):
            raise LedgerConfigurationError(f"anchor.anvil_path {explicit} is not an executable")
        return explicit
    for modules in _node_modules_dirs():
        native = modules / "@foundry-rs" / f"anvil-{_npm_platform()}" / "bin" / "anvil"
        if _is_executable(native):
            return native
        wrapper = modules / ".bin" / "anvil"
        if _is_executable(wrapper) and shutil.which("node") is not None:
            return wrapper
    on_path = shutil.which("anvil")
    return Path(on_path) if on_path else None


def why_anvil_is_missing() -> str:
    """Why ``locate_anvil`` found nothing, in the words ``/readyz`` shows."""
    if shutil.which("node") is None and shutil.which("npm") is None:
        return "Node.js not found"
    return "anvil not installed (run `make install`, or `npm ci` in the project)"


def _node_modules_dirs() -> list[Path]:
    dirs = [_PROJECT_ROOT / "node_modules", Path.cwd() / "node_modules"]
    return list(dict.fromkeys(path.resolve() for path in dirs))


def _npm_platform() -> str:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    return f"{sys.platform}-{arch.get(platform.machine().lower(), platform.machine())}"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


# --------------------------------------------------------------------- the process


class AnvilNode:
    """One anvil on a loopback port with its state under ``files``: our child process,
    or (``process`` None) the one another gateway process on this data dir runs."""

    def __init__(
        self,
        process: subprocess.Popen[bytes] | None,
        port: int,
        files: ChainFiles,
        lock_fd: int | None,
    ) -> None:
        self.process = process
        self.port = port
        self.files = files
        self._lock_fd = lock_fd
        self._seen_mtime_ns = 0
        if process is not None:
            atexit.register(self.stop)  # an orderly exit that skipped ``close`` still dumps

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def owned(self) -> bool:
        return self.process is not None

    @classmethod
    def start(
        cls, executable: Path, files: ChainFiles, *, chain_id: int, timeout_s: float
    ) -> AnvilNode:
        """Start anvil and return once it answers JSON-RPC (or raise ``AnchorError``);
        ``ChainBusyError`` if another process runs this chain already."""
        files.create()
        lock_fd = lock_chain(files)
        try:
            recover_state(files)
            for attempt in range(1, 4):
                port = _free_port()
                log.info(
                    "starting local chain (anvil) on 127.0.0.1:%d, state in %s", port, files.state
                )
                process = _spawn(executable, files, port, chain_id, lock_fd)
                if _wait_until_answering(process, f"http://127.0.0.1:{port}", files, timeout_s):
                    return cls(process, port, files, lock_fd)
                if attempt == 3:
                    raise AnchorError(
                        f"anvil exited with code {process.returncode} while starting: "
                        f"{log_tail(files)} (full log: {files.log})"
                    )
                # The free port can be taken before anvil binds it: try another one.
                log.info("anvil exited at once (code %d); retrying", process.returncode)
        except BaseException:
            os.close(lock_fd)
            raise
        raise AssertionError("unreachable: the third failed attempt raises")

    @classmethod
    def attach(cls, files: ChainFiles) -> AnvilNode | None:
        """The anvil another gateway process runs on this data dir (a CLI command beside
        the server, a second API process), if its owner has published it and it answers."""
        published = published_chain(files)
        port = int(published.get("port", 0))
        if not (port and _answers(f"http://127.0.0.1:{port}")):
            return None
        owner = published.get("gateway_pid", "?")
        log.info(
            "using the local chain (anvil) on 127.0.0.1:%d, run by gateway process %s",
            port,
            owner,
        )
        return cls(None, port, files, None)

    def publish(self) -> None:
        """Tell other processes on this data dir where the chain answers (see ``attach``)."""
        if self.process is None:
            return  # not ours to publish
        record = {"port": self.port, "anvil_pid": self.process.pid, "gateway_pid": os.getpid()}
        write_private(self.files.running, json.dumps(record).encode() + b"\n")

    def problem(self) -> str | None:
        if self.process is None:
            if _answers(self.rpc_url):
                return None
            return (
                f"the local chain on 127.0.0.1:{self.port}, run by another gateway process "
                "on this data directory, no longer answers; restart this process"
            )
        code = self.process.poll()
        if code is None:
            return None
        return (
            f"the local chain (anvil) exited with code {code}; it is started again at the "
            f"next anchor or verification (see {self.files.log})"
        )

    def wait_saved(self, block_number: int, timeout_s: float = _SAVE_TIMEOUT_S) -> None:
        """Return once a state dump holds ``block_number``; keep that dump as the copy
        ``recover_state`` falls back to."""
        deadline = time.monotonic() + timeout_s
        while True:
            data = self._new_dump()
            saved = saved_block(data) if data is not None else None
            if data is not None and saved is not None and saved >= block_number:
                write_private(self.files.saved_state, data)
                return
            exited = self.process is not None and self.process.poll() is not None
            if exited or time.monotonic() > deadline:
                raise AnchorError(
                    f"the local chain did not save block {block_number} to {self.files.state}"
                    f" within {timeout_s:g} s (see {self.files.log})"
                )
            time.sleep(0.05)

    def _new_dump(self) -> bytes | None:
        """The state file's bytes if anvil wrote it since the last look, else None (a
        dump anvil is still writing fails to parse, and is read again once it is done)."""
        try:
            mtime_ns = self.files.state.stat().st_mtime_ns
            if mtime_ns == self._seen_mtime_ns:
                return None
            data = self.files.state.read_bytes()
        except OSError:
            return None
        self._seen_mtime_ns = mtime_ns
        return data

    def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """SIGTERM (anvil dumps its state and exits), then SIGKILL if it hangs. An
        attached node is left to its owner."""
        if self.process is None:
            return
        atexit.unregister(self.stop)
        self.files.running.unlink(missing_ok=True)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("anvil did not stop within %g s; killing it", timeout_s)
                self.process.kill()
                self.process.wait()
        if self._lock_fd is not None:  # only now: anvil no longer writes the state
            os.close(self._lock_fd)
            self._lock_fd = None


def _wait_until_answering(
    process: subprocess.Popen[bytes], rpc_url: str, files: ChainFiles, timeout_s: float
) -> bool:
    """True once eth_chainId answers, False if anvil exited; a hang is killed and raised."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _answers(rpc_url):
            return True
        time.sleep(0.02)
    process.kill()
    process.wait()
    raise AnchorError(
        f"anvil did not answer JSON-RPC on {rpc_url} within {timeout_s:g} s "
        f"(anchor.anvil_start_timeout_s): {log_tail(files)} (full log: {files.log})"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(
    executable: Path, files: ChainFiles, port: int, chain_id: int, lock_fd: int
) -> subprocess.Popen[bytes]:
    argv = [
        str(executable),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--state",
        str(files.state),
        "--state-interval",
        "1",
        "--accounts",
        "0",  # no unlocked dev accounts: we sign with our own key
        "--quiet",
    ]
    log_fd = os.open(files.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(log_fd, "ab") as log_file:
        log_file.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} port {port}\n".encode())
        log_file.flush()
        return _SPAWNER.submit(
            subprocess.Popen,
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(lock_fd,),
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, we stop anvil
            umask=0o077,  # its state file: 0600 whatever our umask
            preexec_fn=_die_with_parent(),
        ).result()


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux: the kernel sends anvil SIGTERM (it dumps and exits) when we die."""
    if not sys.platform.startswith("linux"):
        return None  # elsewhere only ``stop`` and the exit hook end it
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child must not import
    parent = os.getpid()

    def set_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # we died before prctl took effect
            os._exit(1)

    return set_death_signal


def _answers(rpc_url: str) -> bool:
    import urllib.error
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(rpc_url, body.encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return "result" in json.loads(response.read())
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------- the anchor


_Restart = Callable[[], tuple["AnvilNode", Web3Anchor]]


class AnvilAnchor:
    """``Anchor`` on a local anvil: a ``Web3Anchor`` whose receipts are on disk. An anvil
    of ours that died is started again (same state, same contract) when next used."""

    name = "anvil"

    def __init__(self, node: AnvilNode, inner: Web3Anchor, restart: _Restart | None = None) -> None:
        self.node = node
        self.inner = inner
        self._restart = restart
        self._lock = threading.Lock()  # the anchorer and verify requests may race here

    @property
    def contract_address(self) -> str:
        return self.inner.contract_address

    def submit(self, root_hash: str, tree_size: int) -> AnchorReceipt:
        node, inner = self._live()
        receipt = inner.submit(root_hash, tree_size)
        # Recorded only once on disk: else a crash could lose a block the ledger cites.
        node.wait_saved(receipt.block_number)
        mark_anchored(node.files)
        return receipt

    def find(
        self, root_hash: str, tree_size: int, *, block_number: int | None = None
    ) -> list[AnchorReceipt]:
        return self._live()[1].find(root_hash, tree_size, block_number=block_number)

    def _live(self) -> tuple[AnvilNode, Web3Anchor]:
        with self._lock:
            process = self.node.process
            if process is not None and process.poll() is not None and self._restart:
                log.warning(
                    "the local chain (anvil) exited with code %d; starting it again (see %s)",
                    process.returncode,
                    self.node.files.log,
                )
                self.node.stop()  # releases the lock for the new one
                self.node, self.inner = self._restart()
            return self.node, self.inner

    def readiness_problem(self) -> str | None:
        return self.node.problem()

    def close(self) -> None:
        with self._lock:
            self._restart = None  # a closed anchor stays closed
            self.node.stop()


def start_anvil_anchor(executable: Path, settings: AnchorSettings, data_dir: Path) -> AnvilAnchor:
    """Start anvil on ``<data_dir>/chain`` (or use the one another process runs there);
    deploy the contract on its first start."""
    started = time.monotonic()
    files = ChainFiles.under(data_dir)
    files.create()
    chain_id = _chain_id(files, settings.chain_id)

    def start() -> tuple[AnvilNode, Web3Anchor]:
        node = AnvilNode.start(
            executable, files, chain_id=chain_id, timeout_s=settings.anvil_start_timeout_s
        )
        return node, _connect(node, settings, chain_id)

    node, inner = _start_or_attach(start, files, settings, chain_id)
    log.info(
        "local chain (anvil) ready in %.2f s: chain %d, contract %s",
        time.monotonic() - started,
        chain_id,
        inner.contract_address,
    )
    return AnvilAnchor(node, inner, restart=start if node.owned else None)


def _start_or_attach(
    start: Callable[[], tuple[AnvilNode, Web3Anchor]],
    files: ChainFiles,
    settings: AnchorSettings,
    chain_id: int,
) -> tuple[AnvilNode, Web3Anchor]:
    """Run the chain, or use the one another process runs. Both are retried until the
    start timeout: the owner may still be starting its anvil (not yet published), or may
    have just died — its anvil, killed with it, lets go of the lock only once all its
    threads have exited, so the lock frees a moment after the owner is gone."""
    deadline = time.monotonic() + settings.anvil_start_timeout_s
    while True:
        try:
            return start()
        except ChainBusyError:
            node = AnvilNode.attach(files)
            if node is not None:
                return node, _connect(node, settings, chain_id)
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


def _connect(node: AnvilNode, settings: AnchorSettings, chain_id: int) -> Web3Anchor:
    """The anchor on a started node: key, funds and contract checked (or made) first."""
    from web3 import HTTPProvider, Web3

    try:
        w3 = Web3(HTTPProvider(node.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s}))
        account = _account(node.files, w3)
        address = _contract(node.files, w3, node, account, chain_id)
        node.publish()
    except BaseException:
        node.stop()
        raise
    return Web3Anchor(
        w3, address, account=account, expected_chain_id=chain_id, name="anvil", timeout_s=30.0
    )


def _chain_id(files: ChainFiles, configured: int | None) -> int:
    """The id this chain was created with; a different configured one is refused."""
    stored = read_contract(files)
    if stored is None:
        return configured or DEFAULT_CHAIN_ID
    chain_id = int(stored["chain_id"])
    if configured is not None and configured != chain_id:
        raise LedgerConfigurationError(
            f"anchor.chain_id is {configured} but the local chain in {files.directory} is "
            f"chain {chain_id}; unset it, or move that directory aside for a new chain"
        )
    return chain_id


def _account(files: ChainFiles, w3: Web3) -> LocalAccount:
    """The anchoring key (created on first start), topped up with the chain's cheat RPC."""
    if not files.key.exists():
        from eth_account import Account

        write_private(files.key, (Account.create().key.hex() + "\n").encode())
    account = load_account(files.key)
    if int(w3.eth.get_balance(account.address)) < _MIN_BALANCE_WEI:
        from web3.types import RPCEndpoint

        top_up = [account.address, hex(_TOP_UP_WEI)]
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), top_up)
    return account


def _contract(
    files: ChainFiles, w3: Web3, node: AnvilNode, account: LocalAccount, chain_id: int
) -> str:
    """The AnchorRegistry of this chain: the remembered one, or one deployed now."""
    stored = read_contract(files)
    if stored is not None:
        address = str(stored["address"])
        if w3.eth.get_code(w3.to_checksum_address(address)):
            return address
        # A deploy is not waited for (start-up stays fast), so a stop within a second of
        # it can lose the contract: harmless while no anchor was recorded on this chain.
        if stored.get("anchored") or files.saved_state.exists() or not node.owned:
            raise LedgerConfigurationError(
                f"the local chain in {files.directory} has no anchor contract at {address}: "
                "its state was lost or replaced. Move that directory aside to start a new "
                "chain (earlier anchors will then read as not_on_chain)"
            )
        log.warning("the anchor contract at %s was never saved by anvil; deploying again", address)
    if not node.owned:  # its owner publishes the chain only after deploying
        raise LedgerConfigurationError(f"{files.contract} is missing")
    address = deploy_registry(w3, account)
    record = {"address": address, "chain_id": chain_id, "deployer": account.address}
    write_private(files.contract, json.dumps(record, indent=2).encode() + b"\n")
    log.info("first start of the local chain: deployed the anchor contract at %s", address)
    return address
