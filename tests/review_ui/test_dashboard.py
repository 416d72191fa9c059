"""The lead's dashboard against a history whose every figure is known."""

from __future__ import annotations

from datetime import timedelta

from review_ui.service import ReviewService
from tests.review_ui.conftest import FakeClock, enqueue_text


def _decide(service: ReviewService, task_id: str, reviewer: str, decision: str) -> None:
    service.claim(task_id, reviewer=reviewer, tenant_id="acme")
    reason = None if decision == "approve" else "other"
    service.decide(
        task_id, reviewer=reviewer, tenant_id="acme", decision=decision, reason_code=reason
    )


def test_the_dashboard_counts_a_known_history(service: ReviewService, clock: FakeClock) -> None:
    start = clock.now
    quick = enqueue_text(service, generation_id="g1")
    slow = enqueue_text(service, generation_id="g2")
    double = enqueue_text(service, generation_id="g3", double_review=True)
    enqueue_text(service, generation_id="g4")  # never decided: open past the SLA
    clock.advance(30)
    _decide(service, quick.id, "alice", "approve")  # 30 s
    clock.advance(3 * 3600)
    _decide(service, slow.id, "bob", "reject")  # 3 h 30 s: past the 2 h SLA
    _decide(service, double.id, "alice", "approve")
    clock.advance(24 * 3600)  # the next day
    _decide(service, double.id, "bob", "approve")  # agrees: settled after 27 h 30 s
    enqueue_text(service, generation_id="g5")  # fresh, inside the SLA

    board = service.dashboard(tenant_id="acme", since=start).to_dict()

    assert (board["votes"], board["settled"], board["approved"], board["rejected"]) == (4, 3, 2, 1)
    assert board["double_review"] == {"pairs": 1, "agreements": 1, "agreement_rate": 1.0}
    per_reviewer = {row["reviewer"]: row["total"] for row in board["per_reviewer"]}
    assert per_reviewer == {"alice": 2, "bob": 2}
    day1, day2 = start.date().isoformat(), (start + timedelta(days=1)).date().isoformat()
    assert board["per_day"] == [
        {"day": day1, "reviewer": "alice", "decisions": 2},
        {"day": day1, "reviewer": "bob", "decisions": 1},
        {"day": day2, "reviewer": "bob", "decisions": 1},
    ]
    buckets = {b["label"]: b["count"] for b in board["time_to_decision"]["buckets"]}
    assert (buckets["< 1 min"], buckets["2–8 h"], buckets["> 8 h"]) == (1, 1, 1)
    assert sum(buckets.values()) == 3
    assert board["time_to_decision"]["median_s"] == 3 * 3600 + 30
    assert board["sla"] == {"breach_after_s": 7200, "ended_late": 2, "open_late": 1}
    depth = board["queue_depth"]
    assert len(depth) == 24
    assert depth[0]["open"] == 4  # all four created at the start, none decided yet
    assert depth[-1]["open"] == 2  # the forgotten one and the fresh one


def test_another_tenant_sees_nothing_of_it(service: ReviewService) -> None:
    enqueue_text(service)
    board = service.dashboard(tenant_id="globex").to_dict()
    assert (board["votes"], board["per_day"], board["sla"]["open_late"]) == (0, [], 0)
