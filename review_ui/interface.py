"""What the review queue promises: states, decisions, results and errors.

The gateway's pipeline enqueues what moderation marked ``review``; people claim a task,
decide it, and the gateway learns the outcome through callbacks it registers with
:class:`review_ui.service.ReviewService`. Nothing here imports another domain::

    view = service.enqueue(EnqueueRequest(
        generation_id="gen_1", tenant_id="acme", kind=ContentKind.TEXT,
        prompt="写一段文案", output_text="全网最佳的面霜",
        findings=[{"scanner": "ad_law", "category": "ad_law.absolute_term",
                   "score": 0.9, "span": (2, 4), "clause": "广告法 第九条"}],
        policy_name="cn-marketing", policy_version="1",
        reason_codes={"ad_law.absolute_term": "广告法第九条第三项"}))
    service.claim(view.id, reviewer="rev_1", tenant_id="acme")
    outcome = service.decide(view.id, reviewer="rev_1", tenant_id="acme",
                             decision=ReviewDecision.APPROVE)
    outcome.final  # FinalOutcome.APPROVED

Error tree (all subclass :mod:`common.errors`)::

    TaskNotFoundError            404  no such task for this tenant
    TaskConflictError            409  claimed by someone else, already decided, lease lost
    UnknownReasonCodeError       422  reason code not in the policy's list
    ReasonCodeRequiredError      422  reject and escalate need a reason code
    EscalationNotAllowedError    422  a task already in the senior queue cannot escalate
    SeniorReviewerRequiredError  403  the senior queue needs the senior capability
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from common.errors import (
    ConflictError,
    GatewayError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from common.types import ContentKind, ReasonCode

__all__ = [
    "MAX_BULK_TASKS",
    "BulkDecisionNotAllowedError",
    "BulkDecisionRequest",
    "BulkItemResult",
    "DecisionOutcome",
    "EditNotAllowedError",
    "EnqueueRequest",
    "EscalationNotAllowedError",
    "FinalOutcome",
    "FindingSource",
    "QueueMetric",
    "ReasonCodeRequiredError",
    "ReviewDecision",
    "ReviewEvent",
    "ReviewEventKind",
    "ReviewFinding",
    "ReviewStats",
    "ReviewTaskView",
    "Reviewer",
    "ReviewerStats",
    "SeniorReviewerRequiredError",
    "TaskConflictError",
    "TaskId",
    "TaskNotFoundError",
    "TaskPage",
    "TaskStatus",
    "UnknownReasonCodeError",
]

TaskId = NewType("TaskId", str)


class TaskNotFoundError(NotFoundError):
    """No task with this id for this tenant (another tenant's id answers the same, 404)."""

    code = "review_task_not_found"


class TaskConflictError(ConflictError):
    """The task is claimed by someone else, already decided, or the caller's lease lapsed."""

    code = "review_conflict"


class BulkDecisionNotAllowedError(ConflictError):
    """Double-review and senior-queue items need a decision of their own, not a bulk one."""

    code = "bulk_decision_not_allowed"


class EditNotAllowedError(InvalidInputError):
    """An edited output goes only with a single reviewer's approval of text (422)."""

    code = "edit_not_allowed"


class UnknownReasonCodeError(InvalidInputError):
    """The reason code is not one of the policy's codes for this task (422)."""

    code = "unknown_reason_code"


class ReasonCodeRequiredError(InvalidInputError):
    """Reject and escalate must say why, with one of the policy's reason codes (422)."""

    code = "reason_code_required"


class SeniorReviewerRequiredError(PermissionDeniedError):
    """The senior queue is worked only by reviewers with the senior capability (403)."""

    code = "senior_reviewer_required"


class EscalationNotAllowedError(InvalidInputError):
    """A task already in the senior queue has nowhere higher to go (422)."""

    code = "escalation_not_allowed"


class TaskStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"

    @property
    def is_open(self) -> bool:
        return self in (TaskStatus.PENDING, TaskStatus.CLAIMED)


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"


class FinalOutcome(StrEnum):
    """What one decision did to the task."""

    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"  # moved to the senior queue as a new task
    AWAITING_SECOND_REVIEW = "awaiting_second_review"  # double review: one vote so far

    @property
    def settles_generation(self) -> bool:
        """True when the generation's fate is known (the pipeline resumes or blocks)."""
        return self in (FinalOutcome.APPROVED, FinalOutcome.REJECTED)


class ReviewEventKind(StrEnum):
    ENQUEUED = "enqueued"
    CLAIMED = "claimed"
    CLAIM_RENEWED = "claim_renewed"
    RELEASED = "released"
    LEASE_EXPIRED = "lease_expired"
    DECIDED = "decided"  # one reviewer's vote (detail: decision, reason_code)
    ESCALATED = "escalated"  # the task moved to the senior queue
    FINALIZED = "finalized"  # approved or rejected for good


@dataclass(frozen=True, slots=True)
class Reviewer:
    """Who is signed in to the reviewer UI; returned by the gateway's key check."""

    id: str
    tenant_id: str
    display_name: str = ""
    senior: bool = False  # may work the senior queue
    key_id: str = ""  # the key signed in with (a person may hold several)

    @property
    def label(self) -> str:
        return self.display_name or self.id


class FindingSource(StrEnum):
    """Which text a finding's span points into."""

    PROMPT = "prompt"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class ReviewFinding:
    """A moderation finding as the reviewer sees it.

    ``span`` is a pair of character offsets (end exclusive, Python ``str`` indexing)
    into the prompt or the output text, as ``source`` says.
    """

    scanner: str
    category: str
    score: float
    span: tuple[int, int] | None = None
    evidence: str | None = None
    clause: str | None = None
    source: FindingSource = FindingSource.OUTPUT

    @classmethod
    def coerce(cls, raw: ReviewFinding | Mapping[str, Any] | object) -> ReviewFinding:
        """Accept a mapping or any object with these attributes (moderation's ``Finding``)."""
        if isinstance(raw, ReviewFinding):
            return raw
        get = raw.get if isinstance(raw, Mapping) else lambda k: getattr(raw, k, None)
        span = get("span")
        return cls(
            scanner=str(get("scanner") or ""),
            category=str(get("category") or ""),
            score=float(get("score") or 0.0),
            span=(int(span[0]), int(span[1])) if span is not None else None,
            evidence=None if get("evidence") is None else str(get("evidence")),
            clause=None if get("clause") is None else str(get("clause")),
            source=_finding_source(get("source"), get("direction")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scanner": self.scanner,
            "category": self.category,
            "score": self.score,
            "span": list(self.span) if self.span is not None else None,
            "evidence": self.evidence,
            "clause": self.clause,
            "source": self.source.value,
        }


def _finding_source(source: object, direction: object) -> FindingSource:
    """``source`` (prompt|output) or moderation's ``direction`` (input|output)."""
    if source:
        return FindingSource(str(source))
    return FindingSource.PROMPT if str(direction) == "input" else FindingSource.OUTPUT


@dataclass(frozen=True, slots=True)
class EnqueueRequest:
    """One generation to put in front of reviewers: the argument of ``ReviewService.enqueue``.

    ``double_review=None`` lets ``settings.double_review_categories`` decide;
    ``priority=None`` derives 0-100 from the highest finding score; ``queue=None`` is
    ``settings.default_queue``. ``reason_codes`` are the policy's (strings, code →
    description, or objects/mappings with code, clause, zh, en); an empty list falls back
    to ``settings.fallback_reason_codes``. Findings (mappings or objects such as
    moderation's ``Finding``) say which text their span points into with ``source``
    (prompt|output) or moderation's ``direction`` (input|output); a span outside its text
    is dropped (logged) rather than highlighting the wrong characters.
    """

    generation_id: str
    tenant_id: str
    kind: ContentKind | str
    prompt: str | None
    findings: Sequence[ReviewFinding | Mapping[str, Any] | object]
    policy_name: str
    policy_version: str
    reason_codes: Mapping[str, str] | Sequence[str | ReasonCode | Mapping[str, Any] | object]
    output_text: str | None = None
    image_url: str | None = None
    double_review: bool | None = None
    priority: int | None = None
    queue: str | None = None
    previous_output: str | None = None  # a re-queued edit: the text it replaced


@dataclass(frozen=True, slots=True)
class ReviewTaskView:
    """One review task as callers see it; ``status`` already accounts for lapsed leases."""

    id: TaskId
    generation_id: str
    tenant_id: str
    queue: str
    status: TaskStatus
    priority: int
    findings: tuple[ReviewFinding, ...]
    policy_name: str
    policy_version: str
    reason_codes: tuple[ReasonCode, ...]
    double_review: bool
    claimed_by: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    decided_at: datetime | None
    kind: ContentKind
    prompt: str
    output_text: str | None
    image_url: str | None
    first_reviewer: str | None = None  # double review: who voted first
    final_reason_code: str | None = None
    final_note: str | None = None
    escalated_from: TaskId | None = None
    escalated_to: TaskId | None = None
    previous_output: str | None = None  # a re-queued edit: the text it replaced

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({f.category for f in self.findings}))

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.created_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``GET /v1/reviews`` (ISO 8601 times, findings as dicts)."""
        return {
            "id": self.id,
            "generation_id": self.generation_id,
            "tenant": self.tenant_id,
            "queue": self.queue,
            "status": self.status.value,
            "priority": self.priority,
            "findings": [f.to_dict() for f in self.findings],
            "policy_name": self.policy_name,
            "policy_version": self.policy_version,
            "reason_codes": [r.to_dict() for r in self.reason_codes],
            "double_review": self.double_review,
            "claimed_by": self.claimed_by,
            "lease_expires_at": _iso(self.lease_expires_at),
            "created_at": _iso(self.created_at),
            "decided_at": _iso(self.decided_at),
            "kind": self.kind.value,
            "prompt": self.prompt,
            "output_text": self.output_text,
            "image_url": self.image_url,
            "first_reviewer": self.first_reviewer,
            "reason_code": self.final_reason_code,
            "note": self.final_note,
            "escalated_from": self.escalated_from,
            "escalated_to": self.escalated_to,
            "previous_output": self.previous_output,
        }


MAX_BULK_TASKS = 100  # tasks one bulk decision may name


@dataclass(frozen=True, slots=True)
class BulkDecisionRequest:
    """One approve or reject, with one reason, for several tasks (``decide_many``)."""

    task_ids: tuple[str, ...]
    reviewer: str
    tenant_id: str
    decision: ReviewDecision  # approve or reject; an escalation is decided one by one
    reason_code: str | None = None
    note: str | None = None
    senior: bool = False


@dataclass(frozen=True, slots=True)
class BulkItemResult:
    """What one task of a bulk decision came to: its outcome, or the error that stopped it."""

    task_id: str
    outcome: DecisionOutcome | None = None
    error: GatewayError | None = None

    @property
    def http_status(self) -> int:
        return self.error.http_status if self.error is not None else 200

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.task_id, "status": self.http_status}
        if self.outcome is not None:
            result["outcome"] = self.outcome.to_dict()
        if self.error is not None:
            result["error"] = self.error.public_detail()
        return result


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of ``list_tasks``; pass ``next_cursor`` back for the next (None: last)."""

    items: tuple[ReviewTaskView, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """What ``decide`` did; handed to ``on_final_decision`` when it settles the generation."""

    task_id: TaskId
    generation_id: str
    tenant_id: str
    final: FinalOutcome
    decision: ReviewDecision  # this reviewer's vote
    reason_code: str | None
    note: str | None
    reviewers: tuple[str, ...]  # everyone whose vote led here, in order
    policy_name: str
    policy_version: str
    decided_at: datetime
    escalated_to: TaskId | None = None  # the new senior-queue task, when escalated
    edited_output: str | None = None  # approved with this text instead of the output

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the ``POST /v1/reviews/{id}/decision`` response."""
        return {
            "task_id": self.task_id,
            "generation_id": self.generation_id,
            "final": self.final.value,
            "decision": self.decision.value,
            "reason_code": self.reason_code,
            "note": self.note,
            "reviewers": list(self.reviewers),
            "policy_name": self.policy_name,
            "policy_version": self.policy_version,
            "decided_at": _iso(self.decided_at),
            "escalated_to": self.escalated_to,
            "edited": self.edited_output is not None,
        }


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """One audit event: enqueue, claim, release, lease expiry, vote, escalation, final."""

    id: int
    task_id: TaskId
    generation_id: str
    tenant_id: str
    kind: ReviewEventKind
    reviewer: str | None
    at: datetime
    queue: str
    policy_name: str
    policy_version: str
    decision: ReviewDecision | None = None
    reason_code: str | None = None
    note: str | None = None
    lease_expires_at: datetime | None = None
    related_task_id: TaskId | None = None  # escalation: the other task of the pair

    def to_ledger_dict(self) -> dict[str, Any]:
        """Fields fit for a ledger leaf: ids, decisions, times — the free-text note only
        as a hash, since it may carry personal data (PIPL; ledger leaves never hold it)."""
        return {
            "type": f"review.{self.kind.value}",
            "task_id": self.task_id,
            "generation_id": self.generation_id,
            "tenant": self.tenant_id,
            "reviewer": self.reviewer,
            "at": _iso(self.at),
            "queue": self.queue,
            "policy_name": self.policy_name,
            "policy_version": self.policy_version,
            "decision": self.decision.value if self.decision else None,
            "reason_code": self.reason_code,
            "note_sha256": hashlib.sha256(self.note.encode()).hexdigest() if self.note else None,
            "related_task_id": self.related_task_id,
        }


@dataclass(frozen=True, slots=True)
class QueueMetric:
    """Depth and age of one queue's open tasks (all tenants), for Prometheus."""

    queue: str
    pending: int
    claimed: int
    oldest_age_s: float  # 0.0 when the queue is empty

    @property
    def depth(self) -> int:
        return self.pending + self.claimed


@dataclass(frozen=True, slots=True)
class ReviewerStats:
    reviewer: str
    approve: int = 0
    reject: int = 0
    escalate: int = 0

    @property
    def total(self) -> int:
        return self.approve + self.reject + self.escalate


@dataclass(frozen=True, slots=True)
class ReviewStats:
    """Throughput, double-review agreement and per-reviewer counts over a window."""

    since: datetime | None
    until: datetime
    votes: int  # every reviewer decision, including first votes of double reviews
    settled: int  # tasks approved or rejected for good
    approved: int
    rejected: int
    escalated: int
    throughput_per_hour: float | None  # settled / window hours; None without a window
    double_review_pairs: int
    agreements: int
    per_reviewer: tuple[ReviewerStats, ...] = field(default_factory=tuple)

    @property
    def agreement_rate(self) -> float | None:
        """Share of double reviews where the second reviewer agreed; None if none yet."""
        if self.double_review_pairs == 0:
            return None
        return self.agreements / self.double_review_pairs


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
