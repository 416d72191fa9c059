"""The ledger port over ``ledger.service.Ledger``: pipeline records become leaves.

The pipeline speaks plain mappings; this adapter builds the ledger's validated
``EventRecord`` (RFC 8785 canonical JSON, hashes and ids only) and returns the receipt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from gateway.ports import LedgerRef, LedgerRider
from ledger.interface import AppendReceipt, AttrValue, EventRecord, EventType
from ledger.service import Alongside, Ledger

__all__ = ["MerkleLedger"]

_FIELDS = (
    "artifact_sha256",
    "manifest_hash",
    "watermark_id",
    "decision",
    "policy_version",
    "previous_leaf_hash",
)


class MerkleLedger:
    name = "merkle-ledger"

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def append(self, record: Mapping[str, Any]) -> LedgerRef | None:
        receipt = self.ledger.append(event_record(record))
        return LedgerRef(receipt.index, receipt.leaf_hash, str(record["type"]))

    def append_chain(
        self, records: Sequence[Mapping[str, Any]], *, rider: LedgerRider | None = None
    ) -> list[LedgerRef | None]:
        events = [event_record(record) for record in records]
        alongside = None if rider is None else _alongside(rider, records)
        receipts = self.ledger.append_chain(events, alongside=alongside)
        return _refs(receipts, records)


def _refs(
    receipts: Sequence[AppendReceipt], records: Sequence[Mapping[str, Any]]
) -> list[LedgerRef | None]:
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
