"""The review queue service on a real database (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest

from common.errors import InvalidInputError
from common.types import ContentKind
from review_ui.cursor import InvalidCursorError
from review_ui.interface import (
    BulkDecisionRequest,
    DecisionOutcome,
    EscalationNotAllowedError,
    FinalOutcome,
    FindingSource,
    ReasonCodeRequiredError,
    ReviewDecision,
    ReviewEventKind,
    SeniorReviewerRequiredError,
    TaskConflictError,
    TaskNotFoundError,
    TaskStatus,
    UnknownReasonCodeError,
)
from review_ui.report import format_stats
from review_ui.service import ReviewService
from review_ui.testing import in_memory_review_service
from tests.review_ui.conftest import FakeClock, Recorder, enqueue_text

pytestmark = pytest.mark.db


def test_enqueue_stores_findings_and_derives_priority(service: ReviewService) -> None:
    task = enqueue_text(service)

    stored = service.get(task.id, "acme")
    assert stored.status is TaskStatus.PENDING
    assert stored.queue == "default"
    assert stored.priority == 90  # the highest finding score, 0.9, as 0-100
    assert [f.span for f in stored.findings] == [(7, 9), (13, 15)]
    assert stored.findings[0].clause == "广告法 第九条第三项"
    assert stored.policy_version == "3"
    assert stored.double_review is False
    assert {r.code for r in stored.reason_codes} == {"ad_law.absolute_term", "bias.region", "other"}


def test_enqueue_accepts_finding_objects_and_checks_spans(service: ReviewService) -> None:
    @dataclass(frozen=True)
    class ModerationFinding:  # the shape of moderation's Finding, without importing it
        scanner: str
        category: str
        score: float
        span: tuple[int, int] | None
        evidence: str | None

    task = enqueue_text(
        service, findings=[ModerationFinding("pii", "pii.cn_mobile", 0.99, (0, 2), "写一")]
    )
    assert task.findings[0].category == "pii.cn_mobile"
    assert task.double_review is True  # "pii" is a double-review category in the fixture

    # A span outside its text is kept out of the highlighting, not applied to wrong text.
    stray = {"scanner": "x", "category": "x", "score": 1, "span": (5, 500)}
    assert enqueue_text(service, findings=[stray]).findings[0].span is None
    from_prompt = [
        {
            "scanner": "x",
            "category": "bias.region",
            "score": 0.5,
            "span": (0, 2),
            "source": "prompt",
        },
        {
            "scanner": "x",
            "category": "bias.region",
            "score": 0.5,
            "span": (0, 2),
            "direction": "input",
        },
    ]
    sources = [f.source for f in enqueue_text(service, findings=from_prompt).findings]
    assert sources == [FindingSource.PROMPT, FindingSource.PROMPT]


def test_reason_codes_from_policy_objects_and_fallback(service: ReviewService) -> None:
    @dataclass(frozen=True)
    class PolicyReasonCode:  # the shape of moderation's ReasonCode
        code: str
        clause: str
        zh: str
        en: str

    policy_codes = [
        PolicyReasonCode(
            "ad_law_absolute_term", "《广告法》第九条第三项", "绝对化用语", "Absolute claim"
        )
    ]
    task = enqueue_text(service, reason_codes=policy_codes)
    (code,) = task.reason_codes
    assert code.label("zh") == "绝对化用语 (《广告法》第九条第三项)"
    assert code.label("en") == "Absolute claim (《广告法》第九条第三项)"

    bare = enqueue_text(service, reason_codes=())
    assert [r.code for r in bare.reason_codes] == ["other"]
    service.claim(bare.id, reviewer="alice", tenant_id="acme")
    outcome = service.decide(
        bare.id, reviewer="alice", tenant_id="acme", decision="reject", reason_code="other"
    )
    assert outcome.final is FinalOutcome.REJECTED


def test_other_tenant_sees_not_found(service: ReviewService) -> None:
    task = enqueue_text(service)
    with pytest.raises(TaskNotFoundError):
        service.get(task.id, "other")
    with pytest.raises(TaskNotFoundError):
        service.claim(task.id, reviewer="mallory", tenant_id="other")
    with pytest.raises(TaskNotFoundError):
        service.history(task.id, "other")
    assert service.list_tasks("other").items == ()


def test_claim_conflicts_and_own_reclaim_renews(service: ReviewService, clock: FakeClock) -> None:
    task = enqueue_text(service)
    first = service.claim(task.id, reviewer="alice", tenant_id="acme")
    assert first.status is TaskStatus.CLAIMED
    assert first.claimed_by == "alice"

    with pytest.raises(TaskConflictError) as conflict:
        service.claim(task.id, reviewer="bob", tenant_id="acme")
    assert conflict.value.http_status == 409
    assert conflict.value.details["claimed_by"] == "alice"

    clock.advance(600)
    renewed = service.claim(task.id, reviewer="alice", tenant_id="acme")
    assert renewed.lease_expires_at is not None
    assert first.lease_expires_at is not None
    assert (renewed.lease_expires_at - first.lease_expires_at).total_seconds() == 600


def test_lapsed_lease_returns_task_to_pending(
    service: ReviewService, clock: FakeClock, recorder: Recorder
) -> None:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    clock.advance(899)
    assert service.get(task.id, "acme").status is TaskStatus.CLAIMED

    clock.advance(1)  # exactly lease_s = 900 s after the claim
    lapsed = service.get(task.id, "acme")
    assert lapsed.status is TaskStatus.PENDING
    assert lapsed.claimed_by is None
    assert [t.id for t in service.list_tasks("acme", status="pending").items] == [task.id]
    with pytest.raises(TaskConflictError):
        service.decide(task.id, reviewer="alice", tenant_id="acme", decision="approve")

    taken = service.claim(task.id, reviewer="bob", tenant_id="acme")
    assert taken.claimed_by == "bob"
    kinds = [e.kind for e in recorder.events]
    assert kinds[-2:] == [ReviewEventKind.LEASE_EXPIRED, ReviewEventKind.CLAIMED]
    assert recorder.events[-2].reviewer == "alice"


def test_expire_leases_sweep_records_event(service: ReviewService, clock: FakeClock) -> None:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    assert service.expire_leases() == 0
    clock.advance(1000)
    assert service.expire_leases() == 1
    assert service.history(task.id, "acme")[-1].kind is ReviewEventKind.LEASE_EXPIRED


def test_release_by_holder_only(service: ReviewService) -> None:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    with pytest.raises(TaskConflictError):
        service.release(task.id, reviewer="bob", tenant_id="acme")
    released = service.release(task.id, reviewer="alice", tenant_id="acme")
    assert released.status is TaskStatus.PENDING
    assert service.claim(task.id, reviewer="bob", tenant_id="acme").claimed_by == "bob"


def test_approve_settles_and_calls_back_after_commit(
    service: ReviewService, recorder: Recorder
) -> None:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    outcome = service.decide(
        task.id,
        reviewer="alice",
        tenant_id="acme",
        decision="approve",
        note="self-comparison, exempt",
    )

    assert outcome.final is FinalOutcome.APPROVED
    assert outcome.reviewers == ("alice",)
    assert recorder.outcomes == [outcome]
    settled = service.get(task.id, "acme")
    assert settled.status is TaskStatus.APPROVED
    assert settled.decided_at is not None
    assert settled.final_note == "self-comparison, exempt"
    with pytest.raises(TaskConflictError, match="already approved"):
        service.claim(task.id, reviewer="bob", tenant_id="acme")


def test_final_decision_hook_sees_committed_state(
    engine: object, service: ReviewService, clock: FakeClock
) -> None:
    seen: list[TaskStatus] = []
    resumed = ReviewService(
        service._engine,
        service.settings,
        lambda outcome: seen.append(resumed.get(outcome.task_id, outcome.tenant_id).status),
        clock=clock,
    )
    task = enqueue_text(resumed)
    resumed.claim(task.id, reviewer="alice", tenant_id="acme")
    resumed.decide(
        task.id,
        reviewer="alice",
        tenant_id="acme",
        decision="reject",
        reason_code="ad_law.absolute_term",
    )
    assert seen == [TaskStatus.REJECTED]


def test_deciding_without_claim_or_foreign_claim_is_conflict(service: ReviewService) -> None:
    task = enqueue_text(service)
    with pytest.raises(TaskConflictError):
        service.decide(task.id, reviewer="alice", tenant_id="acme", decision="approve")
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    with pytest.raises(TaskConflictError) as conflict:
        service.decide(task.id, reviewer="bob", tenant_id="acme", decision="approve")
    assert conflict.value.http_status == 409


def test_reason_codes_are_checked(service: ReviewService, recorder: Recorder) -> None:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    with pytest.raises(UnknownReasonCodeError) as unknown:
        service.decide(
            task.id, reviewer="alice", tenant_id="acme", decision="reject", reason_code="made_up"
        )
    assert unknown.value.http_status == 422
    with pytest.raises(ReasonCodeRequiredError):
        service.decide(task.id, reviewer="alice", tenant_id="acme", decision="reject")
    with pytest.raises(ReasonCodeRequiredError):
        service.decide(task.id, reviewer="alice", tenant_id="acme", decision="escalate")
    assert service.get(task.id, "acme").status is TaskStatus.CLAIMED  # nothing half-written

    outcome = service.decide(
        task.id,
        reviewer="alice",
        tenant_id="acme",
        decision="reject",
        reason_code="ad_law.absolute_term",
    )
    assert outcome.final is FinalOutcome.REJECTED
    assert outcome.reason_code == "ad_law.absolute_term"
    assert recorder.outcomes[-1].final is FinalOutcome.REJECTED


def test_escalate_moves_to_senior_queue(service: ReviewService, recorder: Recorder) -> None:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    outcome = service.decide(
        task.id,
        reviewer="alice",
        tenant_id="acme",
        decision="escalate",
        reason_code="other",
        note="brand name or claim?",
    )

    assert outcome.final is FinalOutcome.ESCALATED
    assert outcome.escalated_to is not None
    assert recorder.outcomes == []  # the generation is still waiting
    assert service.get(task.id, "acme").status is TaskStatus.ESCALATED
    senior = service.get(outcome.escalated_to, "acme")
    assert (senior.queue, senior.status, senior.escalated_from) == ("senior", "pending", task.id)
    assert [t.id for t in service.list_tasks("acme", queue="senior").items] == [senior.id]

    service.claim(senior.id, reviewer="sam", tenant_id="acme", senior=True)
    with pytest.raises(EscalationNotAllowedError):
        service.decide(
            senior.id, reviewer="sam", tenant_id="acme", decision="escalate", reason_code="other"
        )
    final = service.decide(senior.id, reviewer="sam", tenant_id="acme", decision="approve")
    assert final.final is FinalOutcome.APPROVED
    history = service.history(senior.id, "acme")
    assert [e.kind for e in history] == [
        ReviewEventKind.ENQUEUED,
        ReviewEventKind.CLAIMED,
        ReviewEventKind.DECIDED,
        ReviewEventKind.ESCALATED,
        ReviewEventKind.ENQUEUED,
        ReviewEventKind.CLAIMED,
        ReviewEventKind.DECIDED,
        ReviewEventKind.FINALIZED,
    ]
    assert all(e.policy_version == "3" for e in history)


def test_double_review_agreement_settles(service: ReviewService, recorder: Recorder) -> None:
    task = enqueue_text(service, double_review=True)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    first = service.decide(task.id, reviewer="alice", tenant_id="acme", decision="approve")
    assert first.final is FinalOutcome.AWAITING_SECOND_REVIEW
    assert recorder.outcomes == []
    waiting = service.get(task.id, "acme")
    assert (waiting.status, waiting.first_reviewer) == (TaskStatus.PENDING, "alice")

    with pytest.raises(TaskConflictError, match="second, different reviewer"):
        service.claim(task.id, reviewer="alice", tenant_id="acme")
    service.claim(task.id, reviewer="bob", tenant_id="acme")
    second = service.decide(task.id, reviewer="bob", tenant_id="acme", decision="approve")

    assert second.final is FinalOutcome.APPROVED
    assert second.reviewers == ("alice", "bob")
    assert recorder.outcomes == [second]


def test_double_review_disagreement_escalates(service: ReviewService, recorder: Recorder) -> None:
    task = enqueue_text(service, double_review=True)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    service.decide(task.id, reviewer="alice", tenant_id="acme", decision="approve")
    service.claim(task.id, reviewer="bob", tenant_id="acme")
    outcome = service.decide(
        task.id,
        reviewer="bob",
        tenant_id="acme",
        decision="reject",
        reason_code="ad_law.absolute_term",
    )

    assert outcome.final is FinalOutcome.ESCALATED
    assert outcome.reviewers == ("alice", "bob")
    assert recorder.outcomes == []
    senior = service.get(outcome.escalated_to or "", "acme")
    assert senior.queue == "senior"
    assert senior.double_review is False

    stats = service.stats()
    assert (stats.double_review_pairs, stats.agreements, stats.agreement_rate) == (1, 0, 0.0)


def test_list_filters_and_cursor(service: ReviewService, clock: FakeClock) -> None:
    old = enqueue_text(service, priority=10, generation_id="old")
    clock.advance(3600)
    bias = enqueue_text(
        service,
        priority=50,
        generation_id="bias",
        findings=[{"scanner": "bias", "category": "bias.region", "score": 0.5}],
    )
    image = enqueue_text(
        service,
        kind=ContentKind.IMAGE,
        output_text=None,
        image_url="/v1/generations/img/content",
        findings=[],
        priority=80,
        generation_id="img",
    )

    everything = [t.id for t in service.list_tasks("acme").items]
    assert everything == [image.id, bias.id, old.id]  # priority first
    assert [t.id for t in service.list_tasks("acme", category="bias").items] == [bias.id]
    assert [t.id for t in service.list_tasks("acme", category="ad_law").items] == [old.id]
    assert service.list_tasks("acme", category="ad").items == ()  # prefixes are dotted
    assert [t.id for t in service.list_tasks("acme", older_than_s=1800).items] == [old.id]

    pages, cursor = [], None
    while True:
        page = service.list_tasks("acme", limit=2, cursor=cursor)
        pages.append([t.id for t in page.items])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == [[image.id, bias.id], [old.id]]
    with pytest.raises(InvalidCursorError):
        service.list_tasks("acme", cursor="not-a-cursor")
    assert service.neighbours(bias.id, "acme") == (image.id, old.id)


def test_queue_metrics_and_stats(service: ReviewService, clock: FakeClock) -> None:
    first = enqueue_text(service)
    clock.advance(120)
    second = enqueue_text(service)
    service.claim(second.id, reviewer="bob", tenant_id="acme")

    metrics = {m.queue: m for m in service.queue_metrics()}
    assert (metrics["default"].pending, metrics["default"].claimed) == (1, 1)
    assert metrics["default"].oldest_age_s == 120
    assert metrics["senior"].depth == 0

    service.claim(first.id, reviewer="alice", tenant_id="acme")
    service.decide(first.id, reviewer="alice", tenant_id="acme", decision="approve")
    service.decide(
        second.id, reviewer="bob", tenant_id="acme", decision="reject", reason_code="other"
    )
    stats = service.stats(since=clock.now - timedelta(hours=2))
    assert (stats.votes, stats.settled, stats.approved, stats.rejected) == (2, 2, 1, 1)
    assert stats.throughput_per_hour == 1.0
    assert stats.agreement_rate is None
    assert {r.reviewer: r.total for r in stats.per_reviewer} == {"alice": 1, "bob": 1}


def test_ledger_form_of_event_hides_note(service: ReviewService, recorder: Recorder) -> None:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    service.decide(
        task.id,
        reviewer="alice",
        tenant_id="acme",
        decision=ReviewDecision.REJECT,
        reason_code="other",
        note="customer 张三 13800138000",
    )
    decided = next(e for e in recorder.events if e.kind is ReviewEventKind.DECIDED)
    leaf = decided.to_ledger_dict()
    assert "张三" not in str(leaf)
    assert leaf["note_sha256"] is not None
    assert leaf["reason_code"] == "other"
    assert leaf["type"] == "review.decided"


def test_stats_table_for_the_cli(service: ReviewService) -> None:
    task = enqueue_text(service, double_review=True)
    for reviewer in ("alice", "bob"):
        service.claim(task.id, reviewer=reviewer, tenant_id="acme")
        service.decide(task.id, reviewer=reviewer, tenant_id="acme", decision="approve")

    table = format_stats(service.stats())
    assert "double reviews   1, agreement 100.0%" in table
    assert re.search(r"alice\s+1\s+0\s+0\s+1", table)
    assert re.search(r"bob\s+1\s+0\s+0\s+1", table)


def test_final_outcome_can_be_replayed(service: ReviewService, recorder: Recorder) -> None:
    task = enqueue_text(service, double_review=True)
    assert service.final_outcome(task.id, "acme") is None
    for reviewer in ("alice", "bob"):
        service.claim(task.id, reviewer=reviewer, tenant_id="acme")
        service.decide(
            task.id,
            reviewer=reviewer,
            tenant_id="acme",
            decision="reject",
            reason_code="other",
            note="n",
        )

    replayed = service.final_outcome(task.id, "acme")
    assert replayed == recorder.outcomes[-1]
    assert replayed is not None
    assert replayed.to_dict()["reviewers"] == ["alice", "bob"]


def test_in_memory_service_for_other_packages() -> None:
    outcomes: list[DecisionOutcome] = []
    memory = in_memory_review_service(on_final_decision=outcomes.append)
    task = enqueue_text(memory)
    memory.claim(task.id, reviewer="alice", tenant_id="acme")
    memory.decide(task.id, reviewer="alice", tenant_id="acme", decision="approve")
    assert [o.final for o in outcomes] == [FinalOutcome.APPROVED]
    assert memory.get(task.id, "acme").to_dict()["status"] == "approved"


def _escalated_by_alice(service: ReviewService) -> str:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    outcome = service.decide(
        task.id, reviewer="alice", tenant_id="acme", decision="escalate", reason_code="other"
    )
    assert outcome.escalated_to is not None
    return outcome.escalated_to


def test_the_senior_queue_needs_the_senior_capability(service: ReviewService) -> None:
    senior_task = _escalated_by_alice(service)
    with pytest.raises(SeniorReviewerRequiredError):
        service.claim(senior_task, reviewer="bob", tenant_id="acme")
    assert service.next_claimable("acme", "bob") is None  # nothing a plain reviewer may take
    assert service.claim(senior_task, reviewer="sam", tenant_id="acme", senior=True).claimed_by == (
        "sam"
    )


def test_whoever_escalated_cannot_cast_the_next_vote(service: ReviewService) -> None:
    senior_task = _escalated_by_alice(service)
    with pytest.raises(TaskConflictError, match="already voted"):
        service.claim(senior_task, reviewer="alice", tenant_id="acme", senior=True)
    assert service.next_claimable("acme", "alice", senior=True) is None


def test_both_double_reviewers_are_kept_off_the_senior_vote(service: ReviewService) -> None:
    task = enqueue_text(service, double_review=True)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    service.decide(task.id, reviewer="alice", tenant_id="acme", decision="approve")
    service.claim(task.id, reviewer="bob", tenant_id="acme")
    outcome = service.decide(
        task.id, reviewer="bob", tenant_id="acme", decision="reject", reason_code="other"
    )
    for voter in ("alice", "bob"):
        with pytest.raises(TaskConflictError):
            service.claim(outcome.escalated_to or "", reviewer=voter, tenant_id="acme", senior=True)
    service.claim(outcome.escalated_to or "", reviewer="sam", tenant_id="acme", senior=True)


def test_a_bulk_decision_leaves_double_review_and_senior_tasks_alone(
    service: ReviewService, recorder: Recorder
) -> None:
    single = enqueue_text(service)
    double = enqueue_text(service, double_review=True)
    senior = _escalated_by_alice(service)
    results = service.decide_many(
        BulkDecisionRequest(
            task_ids=(single.id, double.id, senior),
            reviewer="sam",
            tenant_id="acme",
            decision=ReviewDecision.APPROVE,
            senior=True,  # even a senior reviewer settles the senior queue one by one
        )
    )
    assert [r.http_status for r in results] == [200, 409, 409]
    assert [r.error.code for r in results[1:] if r.error] == ["bulk_decision_not_allowed"] * 2
    assert [outcome.task_id for outcome in recorder.outcomes] == [single.id]
    for task_id in (double.id, senior):
        view = service.get(task_id, "acme")
        assert (view.status, view.claimed_by) == (TaskStatus.PENDING, None)
    too_many = tuple(f"task-{n}" for n in range(101))
    with pytest.raises(InvalidInputError):
        service.decide_many(BulkDecisionRequest(too_many, "sam", "acme", ReviewDecision.APPROVE))


def test_the_queue_is_searched_by_id_text_and_category(service: ReviewService) -> None:
    ad = enqueue_text(service, generation_id="gen_ad")
    bias = enqueue_text(
        service,
        generation_id="gen_bias",
        output_text="面向东北人的50%折扣_限时",
        findings=[{"scanner": "bias", "category": "bias.region", "score": 0.4}],
    )
    image = enqueue_text(service, generation_id="gen_img", kind=ContentKind.IMAGE, output_text=None)

    def found(**wanted: str) -> list[str]:
        return [t.id for t in service.list_tasks("acme", **wanted).items]

    assert found(search="gen_bias") == [bias.id]
    assert found(search=ad.id) == [ad.id]
    assert found(search="东北人") == [bias.id]
    assert found(search="50%折扣_") == [bias.id]  # LIKE wildcards are literal
    assert found(search="%") == [bias.id]
    assert found(search="bias") == [bias.id]  # a category prefix
    assert set(found(kind="image")) == {image.id}
    assert found(search="no such words") == []
    assert set(found(policy=ad.policy_name)) == {ad.id, bias.id, image.id}
    with pytest.raises(InvalidInputError):
        service.list_tasks("acme", kind="hologram")
