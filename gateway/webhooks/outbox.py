"""The webhook outbox: one row per delivery to make, durable before anything is sent.

A delivery is written when its outcome is known (optionally inside the caller's own
transaction), and any gateway process sharing the database may then deliver it. A
process *claims* a due row with a lease; only the claimer writes the attempt's outcome
(each write is fenced on ``claimed_by``), and a lease whose claimer died lapses, after
which any process takes the row over. So a restart or a crash loses no delivery; a
crash in the middle of an attempt can repeat it (receivers drop duplicates by the
``X-AIGC-Delivery`` id, which is the row id)::

    outbox = WebhookOutbox(engine)
    with engine.begin() as connection:            # the caller's transaction
        delivery_id = outbox.enqueue(connection, NewDelivery(tenant_id, generation_id,
                                     "generation.released", url, body))
    entry = outbox.claim("host:1234:ab12/1", lease_s=60)   # None when nothing is due
    outbox.mark_delivered(entry, status_code=200)

Row states: ``pending`` (due at ``next_attempt_at``) → ``delivering`` (claimed until
``lease_until``) → ``delivered``, back to ``pending`` for a retry, or ``dead`` once the
attempts are spent or the receiver refused it for good.

On PostgreSQL a claim is one ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)``:
concurrent claimers skip each other's rows instead of queueing on them. Elsewhere
(SQLite) it is a conditional ``UPDATE … WHERE id = :id AND <still due>``: the database
serialises writers, and the one that finds the row no longer due changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from common.sqltable import table_of
from gateway.models import utcnow

__all__ = [
    "NewDelivery",
    "OutboxEntry",
    "OutboxStatus",
    "WebhookOutbox",
    "WebhookOutboxRow",
]

_ERROR_CHARS = 200


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD = "dead"  # attempts spent, or refused for good (a 4xx, a private address)


class WebhookOutboxRow(SQLModel, table=True):
    """One webhook delivery to make (or made), with its retry state and its claim."""

    __tablename__ = "webhook_outbox"
    # The due-row query: status IN (pending, delivering) AND next_attempt_at <= now.
    __table_args__ = (sa.Index("ix_webhook_outbox_due", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=32)  # also the X-AIGC-Delivery header
    generation_id: str | None = Field(default=None, index=True, max_length=40)
    tenant_id: str = Field(max_length=64)
    event: str = Field(max_length=64)
    url: str = Field(max_length=2000)
    # The exact body that is signed and sent (compact UTF-8 JSON), fixed when enqueued:
    # text, not a JSON column, so no database re-serialises it between attempts.
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # The checked addresses of the URL's host (its pin); [] until resolved at delivery.
    addresses: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    attempts: int = 0  # attempts finished so far
    next_attempt_at: datetime
    status: str = Field(max_length=16)
    claimed_by: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=_ERROR_CHARS)
    created_at: datetime
    updated_at: datetime


_OUTBOX = table_of(WebhookOutboxRow)
_CLAIMABLE = (OutboxStatus.PENDING.value, OutboxStatus.DELIVERING.value)
_UNFINISHED = _CLAIMABLE
_CANDIDATES = 8  # rows a conditional claim tries before it gives up until the next poll


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to enqueue; ``body`` is the exact bytes to sign and send."""

    tenant_id: str
    generation_id: str | None
    event: str
    url: str
    body: bytes
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A claimed row, as its claimer delivers it."""

    id: str
    tenant_id: str
    generation_id: str | None
    event: str
    url: str
    body: bytes
    addresses: tuple[str, ...]
    attempts: int
    claimed_by: str

    @classmethod
    def of(cls, row: sa.RowMapping) -> OutboxEntry:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            generation_id=row["generation_id"],
            event=row["event"],
            url=row["url"],
            body=str(row["payload"]).encode(),
            addresses=tuple(str(a) for a in row["addresses"] or ()),
            attempts=int(row["attempts"]),
            claimed_by=str(row["claimed_by"]),
        )


class WebhookOutbox:
    """The outbox's reads and writes; ``clock`` is every process's notion of now (UTC)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    # ------------------------------------------------------------------ enqueue

    def enqueue(self, connection: Connection, delivery: NewDelivery) -> str:
        """Write ``delivery`` in the caller's transaction, due now; returns its id.

        Nothing is sent until the transaction commits: a rolled-back outcome sends no
        webhook. The caller nudges a dispatcher after the commit (or the next poll of
        any process finds the row).
        """
        now = self.clock()
        delivery_id = uuid.uuid4().hex
        row = {
            "id": delivery_id,
            "generation_id": delivery.generation_id,
            "tenant_id": delivery.tenant_id,
            "event": delivery.event,
            "url": delivery.url,
            "payload": delivery.body.decode(),
            "addresses": list(delivery.addresses),
            "attempts": 0,
            "next_attempt_at": now,
            "status": OutboxStatus.PENDING.value,
            "created_at": now,
            "updated_at": now,
        }
        connection.execute(sa.insert(_OUTBOX).values(row))
        return delivery_id

    def add(self, delivery: NewDelivery) -> str:
        """:meth:`enqueue` in a transaction of its own, committed on return."""
        with self.engine.begin() as connection:
            return self.enqueue(connection, delivery)

    # ------------------------------------------------------------------ claim

    def claim(
        self, claimer: str, *, lease_s: float, skip_locked: bool | None = None
    ) -> OutboxEntry | None:
        """Take the most overdue claimable row for ``claimer`` (unique per claim) until
        ``lease_s`` from now; None when nothing is due. ``skip_locked`` picks the
        strategy (default: SKIP LOCKED on PostgreSQL, a conditional UPDATE elsewhere)."""
        if skip_locked is None:
            skip_locked = self.engine.dialect.name == "postgresql"
        now = self.clock()
        claimed = {
            "status": OutboxStatus.DELIVERING.value,
            "claimed_by": claimer,
            "lease_until": now + timedelta(seconds=lease_s),
            "updated_at": now,
        }
        if skip_locked:
            return self._claim_skip_locked(now, claimed)
        return self._claim_conditionally(now, claimed)

    def _claim_skip_locked(self, now: datetime, claimed: dict[str, Any]) -> OutboxEntry | None:
        # Rows another transaction is claiming right now are skipped, not waited for.
        oldest_due = (
            sa.select(_OUTBOX.c.id)
            .where(_due(now))
            .order_by(_OUTBOX.c.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        statement = (
            sa.update(_OUTBOX)
            .where(_OUTBOX.c.id == oldest_due)
            .values(claimed)
            .returning(*_OUTBOX.c)
        )
        with self.engine.begin() as connection:
            row = connection.execute(statement).mappings().first()
        return OutboxEntry.of(row) if row is not None else None

    def _claim_conditionally(self, now: datetime, claimed: dict[str, Any]) -> OutboxEntry | None:
        candidates = (
            sa.select(_OUTBOX.c.id)
            .where(_due(now))
            .order_by(_OUTBOX.c.next_attempt_at)
            .limit(_CANDIDATES)
        )
        with self.engine.connect() as connection:
            ids = list(connection.execute(candidates).scalars())
        for delivery_id in ids:
            # Still due is re-checked by the UPDATE itself: of two claimers of one row,
            # the second finds it leased and changes nothing (rowcount 0).
            take = sa.update(_OUTBOX).where(_OUTBOX.c.id == delivery_id, _due(now)).values(claimed)
            with self.engine.begin() as connection:
                if connection.execute(take).rowcount == 1:
                    read = sa.select(_OUTBOX).where(_OUTBOX.c.id == delivery_id)
                    return OutboxEntry.of(connection.execute(read).mappings().one())
        return None

    # ------------------------------------------------------------------ outcomes

    def mark_delivered(self, entry: OutboxEntry, *, status_code: int | None) -> bool:
        return self._finish(
            entry, status=OutboxStatus.DELIVERED, status_code=status_code, error=None
        )

    def reschedule(
        self,
        entry: OutboxEntry,
        *,
        due: datetime,
        status_code: int | None,
        error: str | None,
    ) -> bool:
        """Back to pending until ``due`` (the next attempt after a backoff)."""
        return self._finish(
            entry,
            status=OutboxStatus.PENDING,
            status_code=status_code,
            error=error,
            next_attempt_at=due,
        )

    def mark_dead(self, entry: OutboxEntry, *, status_code: int | None, error: str | None) -> bool:
        return self._finish(entry, status=OutboxStatus.DEAD, status_code=status_code, error=error)

    def save_addresses(self, entry: OutboxEntry, addresses: tuple[str, ...]) -> None:
        """Keep the addresses a row's host resolved to at its first attempt, so later
        attempts (by any process) connect to the same checked addresses."""
        statement = (
            sa.update(_OUTBOX)
            .where(_OUTBOX.c.id == entry.id, _OUTBOX.c.claimed_by == entry.claimed_by)
            .values(addresses=list(addresses), updated_at=self.clock())
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    def _finish(
        self,
        entry: OutboxEntry,
        *,
        status: OutboxStatus,
        status_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Record one finished attempt; False when the claim was lost meanwhile (its
        lease lapsed and another process took the row: that one's outcome counts)."""
        values: dict[str, Any] = {
            "status": status.value,
            "attempts": entry.attempts + 1,
            "claimed_by": None,
            "lease_until": None,
            "last_status_code": status_code,
            "last_error": (error or "")[:_ERROR_CHARS] or None,
            "updated_at": self.clock(),
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        # Fenced on the claim: claimed_by is unique per claim, so a claimer whose lease
        # was taken over cannot overwrite the new claimer's row.
        statement = (
            sa.update(_OUTBOX)
            .where(
                _OUTBOX.c.id == entry.id,
                _OUTBOX.c.status == OutboxStatus.DELIVERING.value,
                _OUTBOX.c.claimed_by == entry.claimed_by,
            )
            .values(values)
        )
        with self.engine.begin() as connection:
            return bool(connection.execute(statement).rowcount == 1)

    def purge_finished(self, older_than: datetime) -> int:
        """Delete delivered and dead rows last written before ``older_than``; how many.
        Rows still to deliver are never touched, whatever their age."""
        statement = sa.delete(_OUTBOX).where(
            _OUTBOX.c.status.in_((OutboxStatus.DELIVERED.value, OutboxStatus.DEAD.value)),
            _OUTBOX.c.updated_at < older_than,
        )
        with self.engine.begin() as connection:
            return int(connection.execute(statement).rowcount)

    # ------------------------------------------------------------------ reads

    def unfinished_count(self) -> int:
        """Rows still to deliver (pending or being delivered), in every process."""
        query = sa.select(sa.func.count()).where(_OUTBOX.c.status.in_(_UNFINISHED))
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def get(self, delivery_id: str) -> WebhookOutboxRow | None:
        query = sa.select(_OUTBOX).where(_OUTBOX.c.id == delivery_id)
        with self.engine.connect() as connection:
            found = connection.execute(query).mappings().first()
        return WebhookOutboxRow(**found) if found is not None else None


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """Claimable now: pending and due, or claimed by someone whose lease has lapsed (a
    claim leaves next_attempt_at in the past, so one condition covers both)."""
    return sa.and_(
        _OUTBOX.c.status.in_(_CLAIMABLE),
        _OUTBOX.c.next_attempt_at <= now,
        sa.or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until < now),
    )
