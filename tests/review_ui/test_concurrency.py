"""Claims are atomic: of many reviewers claiming one task at once, exactly one wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from review_ui.interface import ReviewEventKind, TaskConflictError
from review_ui.service import ReviewService
from tests.review_ui.conftest import enqueue_text

pytestmark = pytest.mark.db

CLAIMANTS = 50


def test_fifty_concurrent_claims_one_winner(service: ReviewService) -> None:
    task = enqueue_text(service)
    start = threading.Barrier(CLAIMANTS)

    def attempt(n: int) -> str:
        start.wait()  # release every thread at once to maximise the overlap
        try:
            service.claim(task.id, reviewer=f"reviewer-{n}", tenant_id="acme")
        except TaskConflictError:
            return "conflict"
        return "won"

    with ThreadPoolExecutor(max_workers=CLAIMANTS) as pool:
        results = list(pool.map(attempt, range(CLAIMANTS)))

    assert results.count("won") == 1
    assert results.count("conflict") == CLAIMANTS - 1
    winner = f"reviewer-{results.index('won')}"
    assert service.get(task.id, "acme").claimed_by == winner
    claims = [e for e in service.history(task.id, "acme") if e.kind is ReviewEventKind.CLAIMED]
    assert [e.reviewer for e in claims] == [winner]


def test_concurrent_decisions_by_holder_settle_once(service: ReviewService) -> None:
    """A double-submitted decision (two tabs, a double click) records one vote."""
    task = enqueue_text(service)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    start = threading.Barrier(8)

    def attempt(_: int) -> str:
        start.wait()
        try:
            service.decide(task.id, reviewer="alice", tenant_id="acme", decision="approve")
        except TaskConflictError:
            return "conflict"
        return "won"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))

    assert results.count("won") == 1
    decided = [e for e in service.history(task.id, "acme") if e.kind is ReviewEventKind.DECIDED]
    assert len(decided) == 1
