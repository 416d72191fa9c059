"""Periodic anchoring of signed checkpoints, decoupled from appends.

    anchorer = Anchorer(ledger, anchor, settings.anchor)
    anchorer.start()                 # background thread: every N entries or T seconds
    anchorer.anchor_now()            # or synchronously (tests, CLI)
    anchorer.status().pending_entries
    anchorer.stop()                  # or close(): also stops the chain it was given
    verify_anchor(checkpoint_note, anchor, vkey=published_vkey)

Appends never wait for the chain: the anchorer reads the newest checkpoint from the
database, sends its root, and stores the receipt. A failing endpoint is retried with
exponential backoff (``retry_initial_s`` doubling up to ``retry_max_s``) while entries
simply stay pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from ledger.checkpoint import NoteVerifier, parse_checkpoint_body, split_note
from ledger.interface import (
    Anchor,
    AnchorError,
    AnchorReceipt,
    Checkpoint,
    VerificationError,
)
from ledger.service import Ledger
from ledger.settings import AnchorSettings

if TYPE_CHECKING:
    from ledger.anchor.registry import AnchorChain

__all__ = ["AnchorConfirmation", "AnchorStatus", "Anchorer", "verify_anchor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AnchorStatus:
    """What ``/readyz`` or an operator wants to know about anchoring."""

    anchored_size: int
    pending_entries: int
    last_error: str | None
    consecutive_failures: int
    next_retry_in_s: float
    running: bool


class AnchorConfirmation(StrEnum):
    """What the chain says of a stored receipt, asked now."""

    CONFIRMED = "confirmed"  # the transaction's event with this root and size is on chain
    NOT_ON_CHAIN = "not_on_chain"  # the chain answers, and has no such event
    UNREACHABLE = "unreachable"  # the chain does not answer (an embedded chain that died)


class Anchorer:
    """Sends the newest checkpoint root to an ``Anchor`` when enough is pending."""

    def __init__(
        self,
        ledger: Ledger,
        anchor: Anchor,
        settings: AnchorSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        chain: AnchorChain | None = None,
    ) -> None:
        # The backend ``anchor`` came from, when this anchorer owns it: ``close`` stops
        # it, ``/readyz`` asks it (a local anvil is a child process that can die).
        self.chain = chain
        self._ledger = ledger
        self._anchor = anchor
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()  # one anchoring at a time in this process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_anchor_at = clock()
        self._last_error: str | None = None
        self._failures = 0
        self._next_attempt_at = 0.0

    def anchor_now(self) -> AnchorReceipt | None:
        """Anchor the newest checkpoint if it is not yet anchored; raise ``AnchorError``."""
        with self._lock, self._ledger.anchoring_turn() as ours:
            if not ours:
                return None  # another process is anchoring: its receipt covers this
            # Read under the turn: the process that held it may have just anchored.
            head = self._ledger.head()
            if head.tree_size == 0 or head.tree_size <= self._ledger.last_anchored_size():
                return None
            receipt = self._anchor.submit(head.root_hash, head.tree_size)
            self._ledger.record_anchor(receipt)
            self._last_anchor_at = self._clock()
            return receipt

    def confirm(self, receipt: AnchorReceipt) -> AnchorConfirmation:
        """Ask the chain, now, whether ``receipt`` is there: a stored receipt alone proves
        nothing once its chain is gone (an embedded chain dies with its process)."""
        try:
            found = self._anchor.find(
                receipt.root_hash, receipt.tree_size, block_number=receipt.block_number
            )
        except AnchorError:
            # A chain without that block (a younger one) refuses the narrow search: look
            # through the whole log, which only a chain that does not answer refuses.
            try:
                found = self._anchor.find(receipt.root_hash, receipt.tree_size)
            except AnchorError:
                return AnchorConfirmation.UNREACHABLE
        same = any(
            event.tx_hash == receipt.tx_hash and event.chain_id == receipt.chain_id
            for event in found
        )
        return AnchorConfirmation.CONFIRMED if same else AnchorConfirmation.NOT_ON_CHAIN

    def status(self) -> AnchorStatus:
        anchored = self._ledger.last_anchored_size()
        return AnchorStatus(
            anchored_size=anchored,
            pending_entries=max(self._ledger.size() - anchored, 0),
            last_error=self._last_error,
            consecutive_failures=self._failures,
            next_retry_in_s=max(self._next_attempt_at - self._clock(), 0.0),
            running=self._thread is not None and self._thread.is_alive(),
        )

    # --- background loop -----------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-anchorer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def close(self) -> None:
        """``stop``, then stop the chain this anchorer owns (a local anvil child)."""
        self.stop()
        if self.chain is not None:
            self.chain.close()

    def readiness_warnings(self) -> list[str]:
        return self.chain.readiness_warnings() if self.chain is not None else []

    def readiness_problems(self) -> list[str]:
        return self.chain.readiness_problems() if self.chain is not None else []

    def _poll_interval_s(self) -> float:
        return min(1.0, self._settings.every_s, self._settings.retry_initial_s)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_interval_s()):
            try:
                if self._due():
                    self.attempt()
            except Exception:  # the loop must survive a database hiccup too
                log.exception("ledger anchorer iteration failed")

    def _due(self) -> bool:
        now = self._clock()
        if now < self._next_attempt_at:
            return False
        pending = self._ledger.size() - self._ledger.last_anchored_size()
        if pending <= 0:
            return False
        waited_s = now - self._last_anchor_at
        return pending >= self._settings.every_entries or waited_s >= self._settings.every_s

    def attempt(self) -> None:
        """One anchoring attempt as the loop makes it: a failure is recorded and backed off."""
        try:
            self.anchor_now()
        except AnchorError as exc:
            self._failures += 1
            self._last_error = str(exc)
            self._next_attempt_at = self._clock() + self._backoff_s()
            log.warning("anchoring failed (%d in a row): %s", self._failures, exc)
            return
        self._failures, self._last_error, self._next_attempt_at = 0, None, 0.0

    def _backoff_s(self) -> float:
        initial, ceiling = self._settings.retry_initial_s, self._settings.retry_max_s
        return float(min(initial * 2 ** (self._failures - 1), ceiling))


def verify_anchor(
    target: AnchorReceipt | Checkpoint | str, anchor: Anchor, *, vkey: str | None = None
) -> AnchorReceipt:
    """Check that the chain's event log holds this root and size; return the on-chain event.

    ``target`` is a stored receipt, a parsed checkpoint or a signed-note text. With
    ``vkey`` a note's signature is verified first (always do so for notes from others).
    """
    root_hash, tree_size, receipt = _anchor_target(target, vkey)
    block = receipt.block_number if receipt is not None else None
    found = anchor.find(root_hash, tree_size, block_number=block)
    if receipt is not None:
        found = [event for event in found if event.tx_hash == receipt.tx_hash]
    if not found:
        raise VerificationError(f"no anchor of tree size {tree_size} with this root on chain")
    return found[0]


def _anchor_target(
    target: AnchorReceipt | Checkpoint | str, vkey: str | None
) -> tuple[str, int, AnchorReceipt | None]:
    if isinstance(target, AnchorReceipt):
        return target.root_hash, target.tree_size, target
    if isinstance(target, Checkpoint):
        return target.root_hash, target.tree_size, None
    if vkey is not None:
        checkpoint = NoteVerifier.from_vkey(vkey).verify_checkpoint(target)
        return checkpoint.root_hash, checkpoint.tree_size, None
    _, size, root = parse_checkpoint_body(split_note(target)[0])
    return root.hex(), size, None
