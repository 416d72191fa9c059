"""The files of one local chain under ``<data_dir>/chain`` (0700) and the lock on them.

anvil's state (``--state``, dumped every second and on exit), the last copy of it this
process checked, the anchoring key and the contract's address (0600), anvil's log, the
record where the running anvil answers, and the lock that keeps a second process from
running a second anvil on the same state file. Split from ``anvil`` (the process and the
anchor): what is on disk, and how a torn dump is put back.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.privatefiles import write_private
from ledger.interface import LedgerConfigurationError

__all__ = [
    "ChainBusyError",
    "ChainFiles",
    "lock_chain",
    "log_tail",
    "mark_anchored",
    "published_chain",
    "read_contract",
    "recover_state",
    "saved_block",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainFiles:
    """Where one local chain keeps its files (all under ``<data_dir>/chain``)."""

    directory: Path

    @classmethod
    def under(cls, data_dir: Path) -> ChainFiles:
        return cls(data_dir / "chain")

    @property
    def state(self) -> Path:
        return self.directory / "anvil-state.json"

    @property
    def saved_state(self) -> Path:
        return self.directory / "anvil-state.saved.json"

    @property
    def log(self) -> Path:
        return self.directory / "anvil.log"

    @property
    def lock(self) -> Path:
        return self.directory / "anvil.lock"

    @property
    def key(self) -> Path:
        return self.directory / "anchor.key"

    @property
    def contract(self) -> Path:
        return self.directory / "contract.json"

    @property
    def running(self) -> Path:
        return self.directory / "anvil.json"  # where the running anvil answers

    def create(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)  # the chain's key lies here


def saved_block(data: bytes) -> int | None:
    """The newest block in an anvil state dump, or None for a torn (partial) one."""
    try:
        state = json.loads(data)
        number = state["best_block_number"]
        return int(number, 16) if isinstance(number, str) else int(number)
    except (ValueError, KeyError, TypeError):
        return None


def recover_state(files: ChainFiles) -> None:
    """Put back the last checked dump when anvil's own file is torn or gone."""
    if files.state.exists() and saved_block(files.state.read_bytes()) is not None:
        return
    if not files.saved_state.exists():
        if not files.state.exists():
            return  # a new chain (or one whose deploy ``_contract`` repeats)
        if (read_contract(files) or {}).get("anchored"):
            raise LedgerConfigurationError(
                f"the local chain's state {files.state} is unreadable and there is no saved "
                f"copy; move {files.directory} aside to start a new chain (earlier anchors "
                "will then read as not_on_chain)"
            )
        log.warning("anvil's state file %s is torn and holds no anchor: a new chain", files.state)
        files.state.replace(files.state.with_name(files.state.name + ".torn"))
        return
    log.warning(
        "anvil's state file %s is %s; restoring %s, the last dump this gateway checked "
        "(it holds every anchor the ledger recorded)",
        files.state,
        "torn" if files.state.exists() else "missing",
        files.saved_state,
    )
    write_private(files.state, files.saved_state.read_bytes())


class ChainBusyError(LedgerConfigurationError):
    """Another process holds this data directory's chain lock."""


def published_chain(files: ChainFiles) -> dict[str, Any]:
    try:
        record = json.loads(files.running.read_text())
    except (OSError, ValueError):
        return {}
    valid = isinstance(record, dict) and isinstance(record.get("port"), int)
    return record if valid else {}


def log_tail(files: ChainFiles, nbytes: int = 600) -> str:
    try:
        with open(files.log, "rb") as handle:
            handle.seek(max(handle.seek(0, os.SEEK_END) - nbytes, 0))
            return handle.read().decode("utf-8", "replace").strip() or "(no output)"
    except OSError:
        return "(no log)"


def lock_chain(files: ChainFiles) -> int:
    """Hold ``anvil.lock`` while this process runs the chain: two anvils on one state
    file would overwrite each other's dumps. anvil inherits the lock, so an anvil that
    outlived a crashed gateway still keeps the next one from starting."""
    import fcntl  # POSIX only: imported here so the module loads anywhere

    fd = os.open(files.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = files.lock.read_text().strip() or "another process"
        os.close(fd)
        raise ChainBusyError(
            f"the local chain in {files.directory} is already running ({holder}) and "
            "does not answer; if that process is gone, an anvil it left behind holds the "
            "lock: stop it (see the anvil.json beside the lock)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"gateway pid {os.getpid()}\n".encode())
    return fd


def mark_anchored(files: ChainFiles) -> None:
    """Note in ``contract.json`` that receipts of this chain exist (once): losing its
    state is then an error, never a quiet redeploy."""
    record = read_contract(files)
    if record is not None and not record.get("anchored"):
        record["anchored"] = True
        write_private(files.contract, json.dumps(record, indent=2).encode() + b"\n")


def read_contract(files: ChainFiles) -> dict[str, Any] | None:
    if not files.contract.exists():
        return None
    try:
        record: dict[str, Any] = json.loads(files.contract.read_text())
        return record
    except (OSError, ValueError) as exc:
        raise LedgerConfigurationError(f"{files.contract} is unreadable: {exc}") from exc
