"""The rules of the review queue as pure functions: open, claim, release, expire, decide.

Each transition takes the task as read, what the caller asks and the time, and returns a
:class:`Change` (the task with its new fields, the vote and the audit events to store,
a task to open, the outcome), or raises the domain error that refuses the request.
Nothing here reads a clock, draws an id or touches a database: the service loads the
task, writes the change with a compare-and-set on ``version`` and emits the events::

    change = claim(task, ClaimRequest("rev_1"), now, settings)
    change.task.claimed_by                  # "rev_1"
    [e.kind for e in change.events]         # [ReviewEventKind.CLAIMED]
    decide(task, DecideRequest("rev_2", ReviewDecision.APPROVE, None, None, "…"), now,
           settings)                        # TaskConflictError: rev_1 holds the claim
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from common.errors import InvalidInputError
from common.types import ContentKind, ReasonCode
from review_ui.interface import (
    DecisionOutcome,
    EditNotAllowedError,
    EnqueueRequest,
    EscalationNotAllowedError,
    FinalOutcome,
    FindingSource,
    ReasonCodeRequiredError,
    ReviewDecision,
    ReviewEventKind,
    ReviewFinding,
    SeniorReviewerRequiredError,
    TaskConflictError,
    TaskId,
    TaskStatus,
    UnknownReasonCodeError,
)
from review_ui.records import EventDraft, TaskRecord, VoteRecord, lease_lapsed
from review_ui.settings import ReviewSettings

__all__ = [
    "MAX_NOTE_CHARS",
    "Change",
    "ClaimRequest",
    "DecideRequest",
    "checked_note",
    "claim",
    "conflict_details",
    "decide",
    "escalate",
    "expire_lease",
    "new_task",
    "parse_decision",
    "priority_from_findings",
    "release",
    "replayed_outcome",
]

MAX_NOTE_CHARS = 4000
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """What one transition does to a task, for the service to store in one transaction.

    ``task`` carries the new fields and the ``version`` as read (the compare-and-set bumps
    it); ``opened`` is a task to insert (escalation's senior task); ``events`` are in the
    order they happened.
    """

    task: TaskRecord
    events: tuple[EventDraft, ...]
    vote: VoteRecord | None = None
    opened: TaskRecord | None = None
    outcome: DecisionOutcome | None = None


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """A reviewer asking for (or renewing) the lease on a task.

    ``earlier_voters`` are everyone who voted on the tasks this one was escalated from
    (the service follows the chain back to the first task); none of them may claim it.
    """

    reviewer: str
    senior: bool = False  # may work the senior queue
    earlier_voters: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class DecideRequest:
    """The claim holder's vote. ``escalation_task_id`` names the senior-queue task that an
    escalation opens (drawn by the service, since a transition draws nothing)."""

    reviewer: str
    vote: ReviewDecision
    reason_code: str | None
    note: str | None
    escalation_task_id: str
    edited_output: str | None = None  # an approval that rewrites the text output


# ---------------------------------------------------------------------- input checks


def parse_decision(decision: ReviewDecision | str) -> ReviewDecision:
    try:
        return ReviewDecision(decision)
    except ValueError as exc:
        raise InvalidInputError(
            f"decision must be one of {', '.join(d.value for d in ReviewDecision)}"
        ) from exc


def checked_note(note: str | None) -> str | None:
    """The note to store: None for a blank one; a note over the limit is refused."""
    if note is None or not note.strip():
        return None
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInputError(f"a note has at most {MAX_NOTE_CHARS} characters")
    return note


# ---------------------------------------------------------------------- enqueue


def priority_from_findings(findings: Sequence[ReviewFinding]) -> int:
    """0-100 from the most severe finding's score: the surest problems are seen first."""
    return round(max((f.score for f in findings), default=0.0) * 100)


def new_task(
    request: EnqueueRequest, task_id: str, now: datetime, settings: ReviewSettings
) -> TaskRecord:
    """The pending task for ``request``, its findings, reason codes and defaults settled."""
    prompt = request.prompt or ""
    findings = _without_bad_spans(
        tuple(ReviewFinding.coerce(f) for f in request.findings), prompt, request.output_text
    )
    codes = _normalize_reason_codes(request.reason_codes) or tuple(
        ReasonCode(code=code) for code in settings.fallback_reason_codes
    )
    double_review = request.double_review
    if double_review is None:
        double_review = _needs_double_review(findings, settings.double_review_categories)
    return TaskRecord(
        id=TaskId(task_id),
        tenant_id=request.tenant_id,
        generation_id=request.generation_id,
        queue=request.queue or settings.default_queue,
        status=TaskStatus.PENDING,
        priority=request.priority
        if request.priority is not None
        else priority_from_findings(findings),
        kind=ContentKind(request.kind),
        prompt=prompt,
        output_text=request.output_text,
        previous_output=request.previous_output,
        image_url=request.image_url,
        findings=findings,
        policy_name=request.policy_name,
        policy_version=request.policy_version,
        reason_codes=codes,
        double_review=double_review,
        created_at=now,
    )


def _normalize_reason_codes(
    codes: Mapping[str, str] | Sequence[str | ReasonCode | Mapping[str, Any] | object],
) -> tuple[ReasonCode, ...]:
    if isinstance(codes, str):
        raise InvalidInputError("reason_codes must be a list or a mapping, not one string")
    if isinstance(codes, Mapping):
        return tuple(
            ReasonCode(code=str(code), description=str(text)) for code, text in codes.items()
        )
    return tuple(ReasonCode.coerce(code) for code in codes)


def _without_bad_spans(
    findings: tuple[ReviewFinding, ...], prompt: str, output: str | None
) -> tuple[ReviewFinding, ...]:
    """Findings whose span lies outside its text lose the span (logged) rather than
    highlight the wrong characters."""
    kept = []
    for finding in findings:
        text = prompt if finding.source is FindingSource.PROMPT else (output or "")
        start, end = finding.span or (0, 1)
        if finding.span is not None and not 0 <= start < end <= len(text):
            _log.warning(
                "finding %s: span %s lies outside its %s text of %d characters; not highlighted",
                finding.category,
                finding.span,
                finding.source,
                len(text),
            )
            finding = replace(finding, span=None)
        kept.append(finding)
    return tuple(kept)


def _needs_double_review(findings: Sequence[ReviewFinding], prefixes: Sequence[str]) -> bool:
    return any(_category_matches(f.category, prefix) for f in findings for prefix in prefixes)


def _category_matches(category: str, wanted: str) -> bool:
    """Exactly, or as a dotted prefix: ``ad_law`` matches ``ad_law.absolute_term``."""
    return category == wanted or category.startswith(wanted.rstrip(".") + ".")


# ---------------------------------------------------------------------- claims


def claim(
    task: TaskRecord, request: ClaimRequest, now: datetime, settings: ReviewSettings
) -> Change:
    """Take (or renew) the lease on ``task`` for ``settings.lease_s`` seconds.

    Refused with :class:`SeniorReviewerRequiredError` for the senior queue without the
    senior capability, and with :class:`TaskConflictError` when someone else holds a
    live lease, the task is decided, or the reviewer already voted on this item.
    """
    if task.queue == settings.senior_queue and not request.senior:
        raise SeniorReviewerRequiredError(
            "the senior queue needs a senior reviewer (role senior or admin)"
        )
    problem = _claim_problem(task, request.reviewer, now) or _earlier_voter_problem(request)
    if problem:
        raise TaskConflictError(problem, details=conflict_details(task, now))
    lease = now + timedelta(seconds=settings.lease_s)
    claimed = replace(
        task, status=TaskStatus.CLAIMED, claimed_by=request.reviewer, lease_expires_at=lease
    )
    taken = EventDraft.about(
        task, _claim_kind(task, now), now, reviewer=request.reviewer, lease_expires_at=lease
    )
    return Change(claimed, (*_lapsed_claim_events(task, now), taken))


def _claim_problem(task: TaskRecord, reviewer: str, now: datetime) -> str | None:
    if not task.status.is_open:
        return f"the task is already {task.status}"
    held_by_other = task.status is TaskStatus.CLAIMED and task.claimed_by != reviewer
    if held_by_other and not lease_lapsed(task, now):
        return f"the task is claimed by {task.claimed_by}"
    if task.double_review and task.first_reviewer == reviewer:
        return "you cast the first vote; a second, different reviewer must decide"
    return None


def _earlier_voter_problem(request: ClaimRequest) -> str | None:
    """Four eyes: whoever decided or escalated the tasks this one came from may not cast
    its next vote."""
    if request.reviewer in request.earlier_voters:
        return "you already voted on this item; another reviewer must decide it"
    return None


def _claim_kind(task: TaskRecord, now: datetime) -> ReviewEventKind:
    """A live claim re-taken (necessarily by its holder) is a renewal."""
    if task.status is TaskStatus.CLAIMED and not lease_lapsed(task, now):
        return ReviewEventKind.CLAIM_RENEWED
    return ReviewEventKind.CLAIMED


def _lapsed_claim_events(task: TaskRecord, now: datetime) -> tuple[EventDraft, ...]:
    """A lapsed claim that nobody swept yet: its expiry goes on record before the new claim."""
    if task.status is TaskStatus.CLAIMED and lease_lapsed(task, now):
        return (
            EventDraft.about(task, ReviewEventKind.LEASE_EXPIRED, now, reviewer=task.claimed_by),
        )
    return ()


def release(task: TaskRecord, reviewer: str, now: datetime) -> Change:
    """Give a claimed task back to the queue; only its holder may."""
    if task.status is not TaskStatus.CLAIMED or task.claimed_by != reviewer:
        raise TaskConflictError(
            "only the reviewer holding the claim can release it",
            details=conflict_details(task, now),
        )
    released = EventDraft.about(task, ReviewEventKind.RELEASED, now, reviewer=reviewer)
    return Change(_back_to_pending(task), (released,))


def expire_lease(task: TaskRecord, now: datetime) -> Change:
    """Put a lapsed claim back to pending with a ``lease_expired`` event (the sweep)."""
    if task.status is not TaskStatus.CLAIMED or not lease_lapsed(task, now):
        raise TaskConflictError("the lease is live again")
    expired = EventDraft.about(task, ReviewEventKind.LEASE_EXPIRED, now, reviewer=task.claimed_by)
    return Change(_back_to_pending(task), (expired,))


def _back_to_pending(task: TaskRecord) -> TaskRecord:
    return replace(task, status=TaskStatus.PENDING, claimed_by=None, lease_expires_at=None)


def conflict_details(task: TaskRecord, now: datetime) -> dict[str, Any]:
    """What a 409 tells the caller about the task: its visible status and live claim."""
    claimed = task.status is TaskStatus.CLAIMED
    live = claimed and not lease_lapsed(task, now)
    lease = task.lease_expires_at
    return {
        "status": TaskStatus.PENDING.value if claimed and not live else task.status.value,
        "claimed_by": task.claimed_by if live else None,
        "lease_expires_at": lease.isoformat() if live and lease is not None else None,
    }


# ---------------------------------------------------------------------- decisions


def decide(
    task: TaskRecord, request: DecideRequest, now: datetime, settings: ReviewSettings
) -> Change:
    """Record the claim holder's vote and what it does to the task.

    Single review: approve/reject settle the task. Double review: the first vote sends
    the task back to pending for a second, distinct reviewer; agreement settles it,
    disagreement escalates it. ``escalate`` always moves the task to the senior queue.
    """
    _check_can_decide(task, request, now, settings)
    if request.vote is ReviewDecision.ESCALATE or _disagrees(task, request.vote):
        return _escalation(task, request, now, settings)
    if task.double_review and not _is_second_vote(task):
        return _first_of_two_votes(task, request, now)
    return _settlement(task, request, now)


def escalate(
    task: TaskRecord, request: DecideRequest, now: datetime, settings: ReviewSettings
) -> Change:
    """The claim holder sends the task up to the senior queue (``decide`` with the vote
    ``escalate``, whatever ``request.vote`` says): this task ends ``escalated`` and a new
    one opens in the senior queue."""
    return decide(task, replace(request, vote=ReviewDecision.ESCALATE), now, settings)


def _check_can_decide(
    task: TaskRecord, request: DecideRequest, now: datetime, settings: ReviewSettings
) -> None:
    if not task.status.is_open:
        raise TaskConflictError(
            f"the task is already {task.status}", details=conflict_details(task, now)
        )
    holds_claim = task.status is TaskStatus.CLAIMED and task.claimed_by == request.reviewer
    if not holds_claim or lease_lapsed(task, now):
        raise TaskConflictError(
            "claim the task before deciding it (or your lease lapsed)",
            details=conflict_details(task, now),
        )
    _check_reason_code(task, request)
    if request.vote is ReviewDecision.ESCALATE and task.queue == settings.senior_queue:
        raise EscalationNotAllowedError("the task is already in the senior queue")
    if request.edited_output is not None:
        _check_edit(task, request)


def _check_edit(task: TaskRecord, request: DecideRequest) -> None:
    """An edit rewrites a single reviewer's approval of text: a double review's second
    reviewer would be approving words the first never saw."""
    if request.vote is not ReviewDecision.APPROVE:
        raise EditNotAllowedError("only an approval carries an edited output")
    if task.kind is not ContentKind.TEXT or task.output_text is None:
        raise EditNotAllowedError("only text output can be edited")
    if task.double_review:
        raise EditNotAllowedError("a double-review task is approved as it stands")
    if not (request.edited_output or "").strip():
        raise EditNotAllowedError("the edited output is empty")


def _check_reason_code(task: TaskRecord, request: DecideRequest) -> None:
    """Reason codes come from the task's policy; reject and escalate must give one."""
    allowed = sorted(task.allowed_reason_codes)
    if request.reason_code is not None and request.reason_code not in allowed:
        raise UnknownReasonCodeError(
            f"unknown reason code {request.reason_code!r}", details={"allowed": allowed}
        )
    if request.vote is not ReviewDecision.APPROVE and request.reason_code is None:
        raise ReasonCodeRequiredError(
            f"{request.vote} needs a reason code", details={"allowed": allowed}
        )


def _is_second_vote(task: TaskRecord) -> bool:
    return bool(task.double_review and task.first_reviewer)


def _disagrees(task: TaskRecord, vote: ReviewDecision) -> bool:
    """A double review's second vote that differs from the first goes to a senior."""
    return _is_second_vote(task) and task.first_decision is not vote


def _reviewers(task: TaskRecord, request: DecideRequest) -> tuple[str, ...]:
    """Everyone whose vote leads to this outcome, in order."""
    if _is_second_vote(task) and task.first_reviewer is not None:
        return (task.first_reviewer, request.reviewer)
    return (request.reviewer,)


def _ballot(
    task: TaskRecord, request: DecideRequest, now: datetime
) -> tuple[VoteRecord, EventDraft]:
    """The stored vote and its ``decided`` event, common to every outcome."""
    vote = VoteRecord(
        task_id=task.id,
        tenant_id=task.tenant_id,
        reviewer=request.reviewer,
        decision=request.vote,
        reason_code=request.reason_code,
        note=request.note,
        round=2 if _is_second_vote(task) else 1,
        double_review=task.double_review,
        created_at=now,
        policy_version=task.policy_version,
        edited_output=request.edited_output,
    )
    voted = EventDraft.about(
        task,
        ReviewEventKind.DECIDED,
        now,
        reviewer=request.reviewer,
        decision=request.vote,
        reason_code=request.reason_code,
        note=request.note,
    )
    return vote, voted


def _first_of_two_votes(task: TaskRecord, request: DecideRequest, now: datetime) -> Change:
    """Double review, first vote: back to pending, awaiting a second, distinct reviewer."""
    vote, voted = _ballot(task, request, now)
    waiting = replace(
        _back_to_pending(task), first_reviewer=request.reviewer, first_decision=request.vote
    )
    outcome = _outcome(
        waiting, FinalOutcome.AWAITING_SECOND_REVIEW, request, _reviewers(task, request), now
    )
    return Change(waiting, (voted,), vote=vote, outcome=outcome)


def _settlement(task: TaskRecord, request: DecideRequest, now: datetime) -> Change:
    """Approved or rejected for good; the claim holder stays on record as ``claimed_by``."""
    vote, voted = _ballot(task, request, now)
    final = (
        FinalOutcome.APPROVED if request.vote is ReviewDecision.APPROVE else FinalOutcome.REJECTED
    )
    settled_task = replace(
        task,
        status=TaskStatus(final.value),
        lease_expires_at=None,
        decided_at=now,
        final_reason_code=request.reason_code,
        final_note=request.note,
    )
    settled = EventDraft.about(
        settled_task,
        ReviewEventKind.FINALIZED,
        now,
        reviewer=request.reviewer,
        decision=request.vote,
        reason_code=request.reason_code,
    )
    outcome = _outcome(settled_task, final, request, _reviewers(task, request), now)
    return Change(settled_task, (voted, settled), vote=vote, outcome=outcome)


def _escalation(
    task: TaskRecord, request: DecideRequest, now: datetime, settings: ReviewSettings
) -> Change:
    """End this task ``escalated`` and open a fresh one in the senior queue."""
    vote, voted = _ballot(task, request, now)
    senior = _senior_copy(task, TaskId(request.escalation_task_id), now, settings)
    escalated = replace(
        task,
        status=TaskStatus.ESCALATED,
        lease_expires_at=None,
        decided_at=now,
        final_reason_code=request.reason_code,
        final_note=request.note,
        escalated_to=senior.id,
    )
    moved = EventDraft.about(
        escalated,
        ReviewEventKind.ESCALATED,
        now,
        reviewer=request.reviewer,
        decision=request.vote,
        reason_code=request.reason_code,
        related_task_id=senior.id,
    )
    opened = EventDraft.about(senior, ReviewEventKind.ENQUEUED, now, related_task_id=task.id)
    outcome = replace(
        _outcome(escalated, FinalOutcome.ESCALATED, request, _reviewers(task, request), now),
        escalated_to=senior.id,
    )
    return Change(escalated, (voted, moved, opened), vote=vote, opened=senior, outcome=outcome)


def _senior_copy(
    task: TaskRecord, senior_id: TaskId, now: datetime, settings: ReviewSettings
) -> TaskRecord:
    """The same content, pending in the senior queue, with no vote yet."""
    return replace(
        task,
        id=senior_id,
        queue=settings.senior_queue,
        status=TaskStatus.PENDING,
        double_review=False,  # a senior decides alone
        claimed_by=None,
        lease_expires_at=None,
        first_reviewer=None,
        first_decision=None,
        decided_at=None,
        final_reason_code=None,
        final_note=None,
        escalated_from=task.id,
        escalated_to=None,
        created_at=now,
        version=0,
    )


def replayed_outcome(task: TaskRecord, votes: Sequence[VoteRecord]) -> DecisionOutcome | None:
    """The outcome of a settled task rebuilt from what was stored, None while undecided.

    For replaying ``on_final_decision`` when it failed after the commit: the decision
    stands, and the gateway can resume the pipeline again.
    """
    if task.status not in (TaskStatus.APPROVED, TaskStatus.REJECTED) or not votes:
        return None
    last = votes[-1]
    return DecisionOutcome(
        task_id=task.id,
        generation_id=task.generation_id,
        tenant_id=task.tenant_id,
        final=FinalOutcome(task.status.value),
        decision=last.decision,
        reason_code=task.final_reason_code,
        note=task.final_note,
        reviewers=tuple(v.reviewer for v in votes),
        policy_name=task.policy_name,
        policy_version=task.policy_version,
        decided_at=task.decided_at or last.created_at,
        edited_output=last.edited_output,
    )


def _outcome(
    task: TaskRecord,
    final: FinalOutcome,
    request: DecideRequest,
    reviewers: tuple[str, ...],
    now: datetime,
) -> DecisionOutcome:
    """What this vote did to ``task``, as ``decide`` answers and ``on_final_decision`` hears."""
    return DecisionOutcome(
        task_id=task.id,
        generation_id=task.generation_id,
        tenant_id=task.tenant_id,
        final=final,
        decision=request.vote,
        reason_code=request.reason_code,
        note=request.note,
        reviewers=reviewers,
        policy_name=task.policy_name,
        policy_version=task.policy_version,
        decided_at=now,
        edited_output=request.edited_output,
    )
