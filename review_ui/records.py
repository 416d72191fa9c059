"""Typed records of the review tables: a task as stored, a vote and an event to store.

The service reads a ``review_tasks`` row once into a :class:`TaskRecord` and writes rows
from records; everything in between (the transitions, the views, the outcomes) works on
typed fields, so a misspelt column is a type error instead of a ``KeyError`` at run
time. Column names appear only here, where rows become records and back::

    task = TaskRecord.from_row(row._mapping)        # status a TaskStatus, times aware UTC
    claimed = replace(task, status=TaskStatus.CLAIMED, claimed_by="rev_1")
    changed_columns(task, claimed)                  # {"status": "claimed", "claimed_by": …}
    view_of(claimed, now)                           # what callers see (lapsed lease = pending)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from common.types import ContentKind, ReasonCode
from review_ui.interface import (
    ReviewDecision,
    ReviewEvent,
    ReviewEventKind,
    ReviewFinding,
    ReviewTaskView,
    TaskId,
    TaskStatus,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "EventDraft",
    "TaskRecord",
    "VoteRecord",
    "changed_columns",
    "event_from_row",
    "lease_lapsed",
    "to_utc",
    "view_of",
]


def to_utc(moment: datetime) -> datetime:
    """Aware UTC, what SQLModel's ``UTCDateTime`` columns take (naive means UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _optional_utc(moment: datetime | None) -> datetime | None:
    return to_utc(moment) if moment is not None else None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One ``review_tasks`` row with typed fields (see :class:`review_ui.models.ReviewTaskRow`).

    ``status`` is the stored status: a claim whose lease lapsed is still ``CLAIMED`` here,
    and only :func:`view_of` shows it as pending.
    """

    id: TaskId
    tenant_id: str
    generation_id: str
    queue: str
    status: TaskStatus
    priority: int
    kind: ContentKind
    prompt: str
    output_text: str | None
    image_url: str | None
    findings: tuple[ReviewFinding, ...]
    policy_name: str
    policy_version: str
    reason_codes: tuple[ReasonCode, ...]
    double_review: bool
    created_at: datetime
    claimed_by: str | None = None
    lease_expires_at: datetime | None = None
    first_reviewer: str | None = None  # double review: who voted first, and how
    first_decision: ReviewDecision | None = None
    decided_at: datetime | None = None
    final_reason_code: str | None = None
    final_note: str | None = None
    escalated_from: TaskId | None = None
    escalated_to: TaskId | None = None
    version: int = 0  # bumped by every write: the compare-and-set's witness
    previous_output: str | None = None  # a re-queued edit: the text it replaced

    @property
    def categories(self) -> tuple[str, ...]:
        """The distinct non-empty finding categories, for ``review_task_categories``."""
        return tuple(sorted({f.category for f in self.findings if f.category}))

    @property
    def allowed_reason_codes(self) -> frozenset[str]:
        return frozenset(code.code for code in self.reason_codes)

    @classmethod
    def from_row(cls, row: sa.RowMapping) -> TaskRecord:
        """The record of a row read from ``review_tasks``."""
        return cls(
            id=TaskId(row["id"]),
            tenant_id=row["tenant"],
            generation_id=row["generation_id"],
            queue=row["queue"],
            status=TaskStatus(row["status"]),
            priority=row["priority"],
            kind=ContentKind(row["kind"]),
            prompt=row["prompt"],
            output_text=row["output_text"],
            image_url=row["image_url"],
            findings=tuple(ReviewFinding.coerce(f) for f in row["findings"]),
            policy_name=row["policy_name"],
            policy_version=row["policy_version"],
            reason_codes=tuple(ReasonCode.coerce(c) for c in row["reason_codes"]),
            double_review=bool(row["double_review"]),
            created_at=to_utc(row["created_at"]),
            claimed_by=row["claimed_by"],
            lease_expires_at=_optional_utc(row["lease_expires_at"]),
            first_reviewer=row["first_reviewer"],
            first_decision=ReviewDecision(row["first_decision"]) if row["first_decision"] else None,
            decided_at=_optional_utc(row["decided_at"]),
            final_reason_code=row["final_reason_code"],
            final_note=row["final_note"],
            escalated_from=TaskId(row["escalated_from"]) if row["escalated_from"] else None,
            escalated_to=TaskId(row["escalated_to"]) if row["escalated_to"] else None,
            version=row["version"],
            previous_output=row.get("previous_output"),
        )

    def to_row(self) -> dict[str, Any]:
        """Column values for an ``INSERT`` or ``UPDATE`` of ``review_tasks``."""
        return {
            "id": self.id,
            "tenant": self.tenant_id,
            "generation_id": self.generation_id,
            "queue": self.queue,
            "status": self.status.value,
            "priority": self.priority,
            "kind": self.kind.value,
            "prompt": self.prompt,
            "output_text": self.output_text,
            "image_url": self.image_url,
            "findings": [f.to_dict() for f in self.findings],
            "policy_name": self.policy_name,
            "policy_version": self.policy_version,
            "reason_codes": [c.to_dict() for c in self.reason_codes],
            "double_review": self.double_review,
            "claimed_by": self.claimed_by,
            "lease_expires_at": self.lease_expires_at,
            "first_reviewer": self.first_reviewer,
            "first_decision": self.first_decision.value if self.first_decision else None,
            "created_at": self.created_at,
            "decided_at": self.decided_at,
            "final_reason_code": self.final_reason_code,
            "final_note": self.final_note,
            "escalated_from": self.escalated_from,
            "escalated_to": self.escalated_to,
            "previous_output": self.previous_output,
            "version": self.version,
        }


def changed_columns(before: TaskRecord, after: TaskRecord) -> dict[str, Any]:
    """The columns whose values differ: what an ``UPDATE`` from ``before`` must write."""
    old = before.to_row()
    return {name: value for name, value in after.to_row().items() if old[name] != value}


def lease_lapsed(task: TaskRecord, now: datetime) -> bool:
    return task.lease_expires_at is None or task.lease_expires_at <= now


def view_of(task: TaskRecord, now: datetime) -> ReviewTaskView:
    """The task as callers see it at ``now``: a lapsed lease reads as pending even before
    the sweep (``expire_leases``) records it."""
    if task.status is TaskStatus.CLAIMED and lease_lapsed(task, now):
        task = replace(task, status=TaskStatus.PENDING, claimed_by=None, lease_expires_at=None)
    return ReviewTaskView(
        id=task.id,
        generation_id=task.generation_id,
        tenant_id=task.tenant_id,
        queue=task.queue,
        status=task.status,
        priority=task.priority,
        findings=task.findings,
        policy_name=task.policy_name,
        policy_version=task.policy_version,
        reason_codes=task.reason_codes,
        double_review=task.double_review,
        claimed_by=task.claimed_by,
        lease_expires_at=task.lease_expires_at,
        created_at=task.created_at,
        decided_at=task.decided_at,
        kind=task.kind,
        prompt=task.prompt,
        output_text=task.output_text,
        image_url=task.image_url,
        first_reviewer=task.first_reviewer,
        final_reason_code=task.final_reason_code,
        final_note=task.final_note,
        escalated_from=task.escalated_from,
        escalated_to=task.escalated_to,
        previous_output=task.previous_output,
    )


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """One reviewer's vote for ``review_decisions``; ``round`` 2 is a double review's second."""

    task_id: TaskId
    tenant_id: str
    reviewer: str
    decision: ReviewDecision
    reason_code: str | None
    note: str | None
    round: int
    double_review: bool
    created_at: datetime
    policy_version: str
    edited_output: str | None = None

    def to_row(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "tenant": self.tenant_id,
            "reviewer": self.reviewer,
            "decision": self.decision.value,
            "reason_code": self.reason_code,
            "note": self.note,
            "round": self.round,
            "double_review": self.double_review,
            "created_at": self.created_at,
            "policy_version": self.policy_version,
            "edited_output": self.edited_output,
        }


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An audit event before it is stored: a :class:`ReviewEvent` without its id."""

    task_id: TaskId
    generation_id: str
    tenant_id: str
    kind: ReviewEventKind
    at: datetime
    queue: str
    policy_name: str
    policy_version: str
    reviewer: str | None = None
    decision: ReviewDecision | None = None
    reason_code: str | None = None
    note: str | None = None
    lease_expires_at: datetime | None = None
    related_task_id: TaskId | None = None

    @classmethod
    def about(
        cls,
        task: TaskRecord,
        kind: ReviewEventKind,
        at: datetime,
        *,
        reviewer: str | None = None,
        decision: ReviewDecision | None = None,
        reason_code: str | None = None,
        note: str | None = None,
        lease_expires_at: datetime | None = None,
        related_task_id: TaskId | None = None,
    ) -> EventDraft:
        """An event of ``task``, stamped with its queue and policy as they are now."""
        return cls(
            task_id=task.id,
            generation_id=task.generation_id,
            tenant_id=task.tenant_id,
            kind=kind,
            at=at,
            queue=task.queue,
            policy_name=task.policy_name,
            policy_version=task.policy_version,
            reviewer=reviewer,
            decision=decision,
            reason_code=reason_code,
            note=note,
            lease_expires_at=lease_expires_at,
            related_task_id=related_task_id,
        )

    def to_row(self) -> dict[str, Any]:
        """Column values for ``review_events`` (the id is the database's)."""
        return {
            "task_id": self.task_id,
            "tenant": self.tenant_id,
            "generation_id": self.generation_id,
            "kind": self.kind.value,
            "reviewer": self.reviewer,
            "at": self.at,
            "queue": self.queue,
            "policy_name": self.policy_name,
            "policy_version": self.policy_version,
            "decision": self.decision.value if self.decision else None,
            "reason_code": self.reason_code,
            "note": self.note,
            "lease_expires_at": self.lease_expires_at,
            "related_task_id": self.related_task_id,
        }

    def stored(self, event_id: int) -> ReviewEvent:
        """The event as stored under ``event_id``."""
        return ReviewEvent(
            id=event_id,
            task_id=self.task_id,
            generation_id=self.generation_id,
            tenant_id=self.tenant_id,
            kind=self.kind,
            reviewer=self.reviewer,
            at=to_utc(self.at),
            queue=self.queue,
            policy_name=self.policy_name,
            policy_version=self.policy_version,
            decision=self.decision,
            reason_code=self.reason_code,
            note=self.note,
            lease_expires_at=_optional_utc(self.lease_expires_at),
            related_task_id=self.related_task_id,
        )


def event_from_row(row: sa.RowMapping) -> ReviewEvent:
    """The event of a row read from ``review_events``."""
    draft = EventDraft(
        task_id=TaskId(row["task_id"]),
        generation_id=row["generation_id"],
        tenant_id=row["tenant"],
        kind=ReviewEventKind(row["kind"]),
        at=row["at"],
        queue=row["queue"],
        policy_name=row["policy_name"],
        policy_version=row["policy_version"],
        reviewer=row["reviewer"],
        decision=ReviewDecision(row["decision"]) if row["decision"] else None,
        reason_code=row["reason_code"],
        note=row["note"],
        lease_expires_at=row["lease_expires_at"],
        related_task_id=TaskId(row["related_task_id"]) if row["related_task_id"] else None,
    )
    return draft.stored(int(row["id"]))
