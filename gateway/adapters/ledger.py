"""The ledger port over ``ledger.service.Ledger``: pipeline records become leaves.

The pipeline speaks plain mappings; this adapter builds the ledger's validated
``EventRecord`` (RFC 8785 canonical JSON, hashes and ids only) and returns the receipt.

Tenant and actor are written as keyed hashes (``LeafIdentities``): the ledger can be
public, and a leaf must not tell a reader which brand or which key made it. The tenant
can still find its own leaves, since the gateway recomputes the same hash.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from sqlalchemy import Connection

from gateway.ports import LedgerRef, LedgerRider
from ledger.interface import AppendReceipt, AttrValue, EventRecord, EventType
from ledger.service import Alongside, Ledger

__all__ = ["LeafIdentities", "MerkleLedger"]

_FIELDS = (
    "artifact_sha256",
    "manifest_hash",
    "watermark_id",
    "decision",
    "policy_version",
    "previous_leaf_hash",
)


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

    def append(self, record: Mapping[str, Any]) -> LedgerRef:
        receipt = self.ledger.append(event_record(self._keyed(record)))
        return LedgerRef(receipt.index, receipt.leaf_hash, str(record["type"]))

    def append_chain(
        self, records: Sequence[Mapping[str, Any]], *, rider: LedgerRider | None = None
    ) -> list[LedgerRef]:
        events = [event_record(self._keyed(record)) for record in records]
        alongside = None if rider is None else _alongside(rider, records)
        receipts = self.ledger.append_chain(events, alongside=alongside)
        return _refs(receipts, records)

    def _keyed(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.identities is None:
            return record
        tenant, actor = str(record["tenant"]), str(record["actor"])
        return {
            **record,
            "tenant": self.identities.tenant(tenant),
            "actor": self.identities.actor(tenant, actor),
        }


def _refs(
    receipts: Sequence[AppendReceipt], records: Sequence[Mapping[str, Any]]
) -> list[LedgerRef]:
    return [
        LedgerRef(receipt.index, receipt.leaf_hash, str(record["type"]))
        for receipt, record in zip(receipts, records, strict=True)
    ]


def _alongside(rider: LedgerRider, records: Sequence[Mapping[str, Any]]) -> Alongside:
    """The rider, run in the ledger's own transaction with the references it will return."""

    def run(connection: Connection, receipts: Sequence[AppendReceipt]) -> None:
        rider(connection, _refs(receipts, records))

    return run


def event_record(record: Mapping[str, Any]) -> EventRecord:
    attrs: dict[str, AttrValue] = {
        str(k): v for k, v in dict(record.get("attrs") or {}).items() if v not in ("", None)
    }
    optional = {name: record.get(name) or None for name in _FIELDS}
    return EventRecord(
        type=EventType(record["type"]),
        generation_id=str(record["generation_id"]),
        tenant=str(record["tenant"]),
        actor=str(record["actor"]),
        time=str(record["time"]),
        attrs=attrs,
        **optional,
    )
