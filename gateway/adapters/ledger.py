"""The ledger port over ``ledger.service.Ledger``: pipeline records become leaves.

The pipeline speaks ``LedgerEvent``; this adapter builds the ledger's validated
``EventRecord`` (RFC 8785 canonical JSON, hashes and ids only) and returns the receipt.

Tenant and actor are written as keyed hashes (``LeafIdentities``): the ledger can be
public, and a leaf must not tell a reader which brand or which key made it. The tenant
can still find its own leaves, since the gateway recomputes the same hash.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

from sqlalchemy import Connection

from gateway.ports import CustodyRecordedError, LedgerEvent, LedgerRef, LedgerRider
from ledger.interface import (
    AppendReceipt,
    AttrValue,
    DuplicateEventError,
    EventRecord,
    EventType,
)
from ledger.service import Alongside, Ledger

__all__ = ["LeafIdentities", "MerkleLedger"]


@dataclass(frozen=True, slots=True)
class LeafIdentities:
    """Keyed hashes for the tenant and actor of a leaf (HMAC-SHA256, first 128 bits).

    identities.tenant("acme") == "t_3f…"   # the same for every leaf of acme
    """

    key: bytes

    def tenant(self, tenant_id: str) -> str:
        return "t_" + self._mac(b"tenant", tenant_id)

    def actor(self, tenant_id: str, actor: str) -> str:
        return "a_" + self._mac(b"actor", f"{tenant_id}\x00{actor}")

    def _mac(self, purpose: bytes, value: str) -> str:
        message = purpose + b"\x00" + value.encode("utf-8")
        return hmac.new(self.key, message, sha256).hexdigest()[:32]


class MerkleLedger:
    name = "merkle-ledger"

    def __init__(self, ledger: Ledger, identities: LeafIdentities | None = None) -> None:
        self.ledger = ledger
        self.identities = identities

    def append(self, event: LedgerEvent) -> LedgerRef:
        try:
            receipt = self.ledger.append(self._leaf_record(event))
        except DuplicateEventError as exc:
            raise CustodyRecordedError(exc.message, details=exc.details) from exc
        return LedgerRef(receipt.index, receipt.leaf_hash, event.type)

    def append_chain(
        self, events: Sequence[LedgerEvent], *, rider: LedgerRider | None = None
    ) -> list[LedgerRef]:
        records = [self._leaf_record(event) for event in events]
        alongside = None if rider is None else _alongside(rider, events)
        try:
            receipts = self.ledger.append_chain(records, alongside=alongside)
        except DuplicateEventError as exc:
            raise CustodyRecordedError(exc.message, details=exc.details) from exc
        return _refs(receipts, events)

    def _leaf_record(self, event: LedgerEvent) -> EventRecord:
        if self.identities is None:
            return event_record(event, event.tenant_id, event.actor)
        tenant = self.identities.tenant(event.tenant_id)
        return event_record(event, tenant, self.identities.actor(event.tenant_id, event.actor))


def _refs(receipts: Sequence[AppendReceipt], events: Sequence[LedgerEvent]) -> list[LedgerRef]:
    return [
        LedgerRef(receipt.index, receipt.leaf_hash, event.type)
        for receipt, event in zip(receipts, events, strict=True)
    ]


def _alongside(rider: LedgerRider, events: Sequence[LedgerEvent]) -> Alongside:
    """The rider, run in the ledger's own transaction with the references it will return."""

    def run(connection: Connection, receipts: Sequence[AppendReceipt]) -> None:
        rider(connection, _refs(receipts, events))

    return run


def event_record(event: LedgerEvent, tenant: str, actor: str) -> EventRecord:
    """The leaf's record: ``tenant`` and ``actor`` as they are to be written (keyed)."""
    attrs: dict[str, AttrValue] = {k: v for k, v in event.attrs.items() if v != ""}
    return EventRecord(
        type=EventType(event.type),
        generation_id=event.generation_id,
        tenant=tenant,
        actor=actor,
        time=event.time,
        artifact_sha256=event.artifact_sha256 or None,
        manifest_hash=event.manifest_hash or None,
        watermark_id=event.watermark_id or None,
        decision=event.decision or None,
        policy_version=event.policy_version or None,
        previous_leaf_hash=event.previous_leaf_hash or None,
        attrs=attrs,
    )
