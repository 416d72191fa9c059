"""The pure transitions of a review task: each one's allowed and refused cases, no database."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.errors import InvalidInputError
from common.types import ContentKind, ReasonCode
from review_ui.interface import (
    EnqueueRequest,
    EscalationNotAllowedError,
    FinalOutcome,
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
from review_ui.records import EventDraft, TaskRecord, VoteRecord
from review_ui.settings import ReviewSettings
from review_ui.transitions import (
    MAX_NOTE_CHARS,
    ClaimRequest,
    DecideRequest,
    checked_note,
    claim,
    decide,
    escalate,
    expire_lease,
    new_task,
    parse_decision,
    release,
    replayed_outcome,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SETTINGS = ReviewSettings(lease_s=900, double_review_categories=["pii"])
SENIOR_ID = "senior0000000000000000000000000"


def pending(**fields: Any) -> TaskRecord:
    task = TaskRecord(
        id=TaskId("task0000000000000000000000000001"),
        tenant_id="acme",
        generation_id="gen_1",
        queue="default",
        status=TaskStatus.PENDING,
        priority=90,
        kind=ContentKind.TEXT,
        prompt="写一段面霜广告",
        output_text="这款面霜是全网最佳的选择",
        image_url=None,
        findings=(ReviewFinding("ad_law", "ad_law.absolute_term", 0.9, span=(7, 9)),),
        policy_name="cn-marketing",
        policy_version="3",
        reason_codes=(ReasonCode(code="ad_law.absolute_term"), ReasonCode(code="other")),
        double_review=False,
        created_at=NOW - timedelta(hours=1),
        version=3,
    )
    return replace(task, **fields)


def claimed(by: str = "rev_1", lease_left_s: float = 600, **fields: Any) -> TaskRecord:
    lease = NOW + timedelta(seconds=lease_left_s)
    return pending(status=TaskStatus.CLAIMED, claimed_by=by, lease_expires_at=lease, **fields)


def vote(
    decision: ReviewDecision, reason_code: str | None = None, reviewer: str = "rev_1"
) -> DecideRequest:
    return DecideRequest(reviewer, decision, reason_code, "a note", SENIOR_ID)


def kinds(events: tuple[EventDraft, ...]) -> list[ReviewEventKind]:
    return [e.kind for e in events]


# ---------------------------------------------------------------------- claim


def test_claim_takes_a_lease_on_a_pending_task() -> None:
    task = pending()
    change = claim(task, ClaimRequest("rev_1"), NOW, SETTINGS)
    assert change.task.status is TaskStatus.CLAIMED
    assert change.task.claimed_by == "rev_1"
    assert change.task.lease_expires_at == NOW + timedelta(seconds=900)
    assert change.task.version == task.version  # the compare-and-set bumps it, not the rule
    (event,) = change.events
    assert (event.kind, event.reviewer, event.lease_expires_at) == (
        ReviewEventKind.CLAIMED,
        "rev_1",
        NOW + timedelta(seconds=900),
    )
    assert task.status is TaskStatus.PENDING  # the task as read is left alone


def test_the_holder_renews_a_live_claim() -> None:
    change = claim(claimed("rev_1"), ClaimRequest("rev_1"), NOW, SETTINGS)
    assert kinds(change.events) == [ReviewEventKind.CLAIM_RENEWED]
    assert change.task.lease_expires_at == NOW + timedelta(seconds=900)


def test_a_lapsed_claim_is_recorded_as_expired_before_the_new_one() -> None:
    change = claim(claimed("rev_1", lease_left_s=-1), ClaimRequest("rev_2"), NOW, SETTINGS)
    assert kinds(change.events) == [ReviewEventKind.LEASE_EXPIRED, ReviewEventKind.CLAIMED]
    assert [e.reviewer for e in change.events] == ["rev_1", "rev_2"]
    assert change.task.claimed_by == "rev_2"


def test_claim_refused_while_someone_else_holds_a_live_lease() -> None:
    task = claimed("rev_1")
    with pytest.raises(TaskConflictError, match="claimed by rev_1") as refused:
        claim(task, ClaimRequest("rev_2"), NOW, SETTINGS)
    assert refused.value.details == {
        "status": "claimed",
        "claimed_by": "rev_1",
        "lease_expires_at": (NOW + timedelta(seconds=600)).isoformat(),
    }


@pytest.mark.parametrize("status", [TaskStatus.APPROVED, TaskStatus.REJECTED, TaskStatus.ESCALATED])
def test_claim_refused_once_decided(status: TaskStatus) -> None:
    with pytest.raises(TaskConflictError, match=f"already {status.value}"):
        claim(pending(status=status), ClaimRequest("rev_1"), NOW, SETTINGS)


def test_claim_refused_to_the_first_voter_of_a_double_review() -> None:
    task = pending(
        double_review=True, first_reviewer="rev_1", first_decision=ReviewDecision.APPROVE
    )
    with pytest.raises(TaskConflictError, match="you cast the first vote"):
        claim(task, ClaimRequest("rev_1"), NOW, SETTINGS)
    assert claim(task, ClaimRequest("rev_2"), NOW, SETTINGS).task.claimed_by == "rev_2"


def test_claim_refused_to_voters_of_the_escalation_chain() -> None:
    task = pending(queue="senior", escalated_from=TaskId("earlier"))
    request = ClaimRequest("rev_1", senior=True, earlier_voters=frozenset({"rev_1", "rev_2"}))
    with pytest.raises(TaskConflictError, match="already voted on this item"):
        claim(task, request, NOW, SETTINGS)
    allowed = ClaimRequest("rev_3", senior=True, earlier_voters=request.earlier_voters)
    assert claim(task, allowed, NOW, SETTINGS).task.claimed_by == "rev_3"


def test_the_senior_queue_needs_the_senior_capability() -> None:
    task = pending(queue="senior")
    with pytest.raises(SeniorReviewerRequiredError):
        claim(task, ClaimRequest("rev_1"), NOW, SETTINGS)
    assert claim(task, ClaimRequest("rev_1", senior=True), NOW, SETTINGS).task.claimed_by == "rev_1"


# ---------------------------------------------------------------------- release, expiry


def test_release_by_the_holder_returns_the_task_to_pending() -> None:
    change = release(claimed("rev_1"), "rev_1", NOW)
    assert (change.task.status, change.task.claimed_by, change.task.lease_expires_at) == (
        TaskStatus.PENDING,
        None,
        None,
    )
    assert kinds(change.events) == [ReviewEventKind.RELEASED]
    # The holder of a lapsed lease may still give it back.
    assert release(claimed("rev_1", lease_left_s=-5), "rev_1", NOW).task.status is (
        TaskStatus.PENDING
    )


@pytest.mark.parametrize("task", [claimed("rev_1"), pending()], ids=["other holder", "pending"])
def test_release_refused_to_anyone_but_the_holder(task: TaskRecord) -> None:
    with pytest.raises(TaskConflictError, match="only the reviewer holding the claim"):
        release(task, "rev_2", NOW)


def test_expire_lease_puts_a_lapsed_claim_back() -> None:
    change = expire_lease(claimed("rev_1", lease_left_s=0), NOW)
    assert change.task.status is TaskStatus.PENDING
    assert [(e.kind, e.reviewer) for e in change.events] == [
        (ReviewEventKind.LEASE_EXPIRED, "rev_1")
    ]


@pytest.mark.parametrize("task", [claimed("rev_1"), pending()], ids=["live", "pending"])
def test_expire_lease_refused_for_a_live_or_absent_claim(task: TaskRecord) -> None:
    with pytest.raises(TaskConflictError, match="live again"):
        expire_lease(task, NOW)


# ---------------------------------------------------------------------- decide


def test_approve_settles_a_single_review() -> None:
    change = decide(claimed("rev_1"), vote(ReviewDecision.APPROVE), NOW, SETTINGS)
    task = change.task
    assert (task.status, task.decided_at, task.lease_expires_at) == (
        TaskStatus.APPROVED,
        NOW,
        None,
    )
    assert task.claimed_by == "rev_1"  # the decider stays on record
    assert task.final_note == "a note"
    assert kinds(change.events) == [ReviewEventKind.DECIDED, ReviewEventKind.FINALIZED]
    assert change.events[1].note is None  # the note is on the vote, not repeated
    assert change.vote == VoteRecord(
        task_id=task.id,
        tenant_id="acme",
        reviewer="rev_1",
        decision=ReviewDecision.APPROVE,
        reason_code=None,
        note="a note",
        round=1,
        double_review=False,
        created_at=NOW,
        policy_version="3",
    )
    assert change.outcome is not None
    assert (change.outcome.final, change.outcome.reviewers) == (FinalOutcome.APPROVED, ("rev_1",))
    assert change.opened is None


def test_reject_needs_a_reason_code_from_the_policy() -> None:
    task = claimed("rev_1")
    with pytest.raises(ReasonCodeRequiredError) as missing:
        decide(task, vote(ReviewDecision.REJECT), NOW, SETTINGS)
    assert missing.value.details == {"allowed": ["ad_law.absolute_term", "other"]}
    with pytest.raises(UnknownReasonCodeError, match="'made_up'"):
        decide(task, vote(ReviewDecision.REJECT, "made_up"), NOW, SETTINGS)
    with pytest.raises(UnknownReasonCodeError):
        decide(task, vote(ReviewDecision.APPROVE, "made_up"), NOW, SETTINGS)
    rejected = decide(task, vote(ReviewDecision.REJECT, "other"), NOW, SETTINGS)
    assert (rejected.task.status, rejected.task.final_reason_code) == (
        TaskStatus.REJECTED,
        "other",
    )


@pytest.mark.parametrize(
    "task",
    [pending(), claimed("rev_2"), claimed("rev_1", lease_left_s=-1)],
    ids=["unclaimed", "claimed by another", "own lease lapsed"],
)
def test_deciding_needs_a_live_claim_of_ones_own(task: TaskRecord) -> None:
    with pytest.raises(TaskConflictError, match="claim the task before deciding it"):
        decide(task, vote(ReviewDecision.APPROVE), NOW, SETTINGS)


def test_a_decided_task_cannot_be_decided_again() -> None:
    task = replace(claimed("rev_1"), status=TaskStatus.APPROVED)
    with pytest.raises(TaskConflictError, match="already approved"):
        decide(task, vote(ReviewDecision.APPROVE), NOW, SETTINGS)


def test_first_vote_of_a_double_review_awaits_a_second_reviewer() -> None:
    change = decide(
        claimed("rev_1", double_review=True), vote(ReviewDecision.REJECT, "other"), NOW, SETTINGS
    )
    task = change.task
    assert (task.status, task.claimed_by, task.first_reviewer, task.first_decision) == (
        TaskStatus.PENDING,
        None,
        "rev_1",
        ReviewDecision.REJECT,
    )
    assert task.decided_at is None
    assert kinds(change.events) == [ReviewEventKind.DECIDED]
    assert change.vote is not None
    assert change.vote.round == 1
    assert change.outcome is not None
    assert change.outcome.final is FinalOutcome.AWAITING_SECOND_REVIEW


def test_agreeing_second_vote_settles_with_both_reviewers() -> None:
    task = claimed(
        "rev_2", double_review=True, first_reviewer="rev_1", first_decision=ReviewDecision.APPROVE
    )
    change = decide(task, vote(ReviewDecision.APPROVE, reviewer="rev_2"), NOW, SETTINGS)
    assert change.task.status is TaskStatus.APPROVED
    assert change.vote is not None
    assert (change.vote.round, change.vote.double_review) == (2, True)
    assert change.outcome is not None
    assert change.outcome.reviewers == ("rev_1", "rev_2")


def test_disagreeing_second_vote_escalates() -> None:
    task = claimed(
        "rev_2", double_review=True, first_reviewer="rev_1", first_decision=ReviewDecision.APPROVE
    )
    change = decide(task, vote(ReviewDecision.REJECT, "other", reviewer="rev_2"), NOW, SETTINGS)
    assert change.task.status is TaskStatus.ESCALATED
    assert change.opened is not None
    assert change.opened.queue == "senior"
    assert change.outcome is not None
    assert (change.outcome.final, change.outcome.decision, change.outcome.reviewers) == (
        FinalOutcome.ESCALATED,
        ReviewDecision.REJECT,
        ("rev_1", "rev_2"),
    )


# ---------------------------------------------------------------------- escalate


def test_escalation_ends_the_task_and_opens_one_in_the_senior_queue() -> None:
    task = claimed("rev_1", double_review=True)
    change = escalate(task, vote(ReviewDecision.ESCALATE, "other"), NOW, SETTINGS)
    senior = change.opened
    assert senior is not None
    assert (senior.id, senior.queue, senior.status, senior.version) == (
        SENIOR_ID,
        "senior",
        TaskStatus.PENDING,
        0,
    )
    assert (senior.escalated_from, senior.double_review, senior.claimed_by) == (
        task.id,
        False,
        None,
    )
    assert (senior.created_at, senior.findings, senior.prompt) == (NOW, task.findings, task.prompt)
    assert (change.task.status, change.task.escalated_to, change.task.decided_at) == (
        TaskStatus.ESCALATED,
        SENIOR_ID,
        NOW,
    )
    assert [(e.kind, e.task_id, e.related_task_id) for e in change.events] == [
        (ReviewEventKind.DECIDED, task.id, None),
        (ReviewEventKind.ESCALATED, task.id, SENIOR_ID),
        (ReviewEventKind.ENQUEUED, SENIOR_ID, task.id),
    ]
    assert change.events[2].queue == "senior"
    assert change.outcome is not None
    assert change.outcome.escalated_to == SENIOR_ID


def test_escalate_is_a_vote_to_escalate_whatever_the_request_said() -> None:
    change = escalate(claimed("rev_1"), vote(ReviewDecision.APPROVE, "other"), NOW, SETTINGS)
    assert change.outcome is not None
    assert change.outcome.decision is ReviewDecision.ESCALATE


def test_escalation_refused_without_a_reason_or_from_the_senior_queue() -> None:
    with pytest.raises(ReasonCodeRequiredError):
        escalate(claimed("rev_1"), vote(ReviewDecision.ESCALATE), NOW, SETTINGS)
    in_senior = claimed("rev_1", queue="senior")
    with pytest.raises(EscalationNotAllowedError):
        decide(in_senior, vote(ReviewDecision.ESCALATE, "other"), NOW, SETTINGS)
    with pytest.raises(TaskConflictError):
        escalate(pending(), vote(ReviewDecision.ESCALATE, "other"), NOW, SETTINGS)


# ---------------------------------------------------------------------- enqueue, inputs


def request(**fields: Any) -> EnqueueRequest:
    base = EnqueueRequest(
        generation_id="gen_1",
        tenant_id="acme",
        kind="text",
        prompt=None,
        findings=[{"scanner": "pii", "category": "pii.phone", "score": 0.42, "span": (0, 3)}],
        policy_name="cn-marketing",
        policy_version="3",
        reason_codes=[],
        output_text="138 0000 0000",
    )
    return replace(base, **fields)


def test_new_task_settles_the_defaults() -> None:
    task = new_task(request(), "t1", NOW, SETTINGS)
    assert (task.status, task.queue, task.priority, task.prompt, task.version) == (
        TaskStatus.PENDING,
        "default",
        42,
        "",
        0,
    )
    assert task.double_review  # "pii" is one of the double-review categories
    assert task.reason_codes == (ReasonCode(code="other"),)  # the fallback
    assert (task.kind, task.created_at) == (ContentKind.TEXT, NOW)


def test_new_task_keeps_what_the_caller_says() -> None:
    task = new_task(
        request(double_review=False, priority=7, queue="vip", reason_codes={"a": "A"}),
        "t1",
        NOW,
        SETTINGS,
    )
    assert (task.double_review, task.priority, task.queue) == (False, 7, "vip")
    assert task.reason_codes == (ReasonCode(code="a", description="A"),)


def test_new_task_drops_a_span_outside_its_text_and_refuses_one_string_of_codes() -> None:
    stray = {"scanner": "s", "category": "c", "score": 0.1, "span": (5, 99), "source": "prompt"}
    assert new_task(request(findings=[stray]), "t1", NOW, SETTINGS).findings[0].span is None
    with pytest.raises(InvalidInputError, match="not one string"):
        new_task(request(reason_codes="other"), "t1", NOW, SETTINGS)


def test_decision_and_note_inputs() -> None:
    assert parse_decision("reject") is ReviewDecision.REJECT
    with pytest.raises(InvalidInputError, match="approve, reject, escalate"):
        parse_decision("maybe")
    assert checked_note("   ") is None
    assert checked_note("ok") == "ok"
    with pytest.raises(InvalidInputError):
        checked_note("x" * (MAX_NOTE_CHARS + 1))


def test_replayed_outcome_of_settled_tasks_only() -> None:
    settled = decide(claimed("rev_1"), vote(ReviewDecision.REJECT, "other"), NOW, SETTINGS)
    assert settled.vote is not None
    task = replace(settled.task, version=4)
    outcome = replayed_outcome(task, [settled.vote])
    assert outcome == settled.outcome
    assert replayed_outcome(pending(), []) is None


def test_transitions_need_no_database() -> None:
    # The rules import no database or web library: they run (and are tested) without one.
    probe = (
        "import sys, review_ui.transitions; "
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'fastapi') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
