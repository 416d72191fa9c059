"""What a review lead watches: decisions per reviewer and day, time to decision, double-
review agreement, SLA breaches and the queue's depth over a window.

    with engine.connect() as conn:
        dashboard = lead_dashboard(conn, "acme", start, end, now=now, settings=settings)
    dashboard.to_dict()          # GET /v1/reviews/stats
    dashboard.time_to_decision   # the histogram /review/stats draws

Totals and agreement come from ``queries.window_stats`` (what ``aigc-gateway review stats``
prints); this adds what is drawn over time. Time to decision runs from the task's
creation to its end (approved, rejected or escalated); the queue depth at a moment counts
the tasks created by then and not yet ended.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from review_ui.interface import ReviewStats
from review_ui.models import DECISIONS_TABLE, TASKS_TABLE
from review_ui.queries import window_stats
from review_ui.records import to_utc
from review_ui.settings import ReviewSettings

__all__ = ["DURATION_BUCKETS", "LeadDashboard", "lead_dashboard"]

# Upper bounds (seconds) of the time-to-decision histogram; the last bucket is open.
DURATION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 min", 60),
    ("1–5 min", 300),
    ("5–15 min", 900),
    ("15–30 min", 1800),
    ("30–60 min", 3600),
    ("1–2 h", 7200),
    ("2–8 h", 8 * 3600),
    ("> 8 h", float("inf")),
)
_DEPTH_POINTS = 24  # samples of the queue depth across the window


@dataclass(frozen=True, slots=True)
class DayCount:
    day: str  # UTC date, ISO 8601
    reviewer: str
    decisions: int


@dataclass(frozen=True, slots=True)
class DurationBucket:
    label: str
    upper_s: float | None  # None: the open last bucket
    count: int


@dataclass(frozen=True, slots=True)
class DepthPoint:
    at: datetime
    open: int


@dataclass(frozen=True, slots=True)
class LeadDashboard:
    totals: ReviewStats
    per_day: tuple[DayCount, ...]
    time_to_decision: tuple[DurationBucket, ...]
    median_decision_s: float | None
    sla_breach_after_s: int
    ended_late: int  # tasks ended in the window after more than the SLA
    open_late: int  # tasks still open at the window's end, older than the SLA
    queue_depth: tuple[DepthPoint, ...]

    def to_dict(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "since": _iso(totals.since),
            "until": _iso(totals.until),
            "votes": totals.votes,
            "settled": totals.settled,
            "approved": totals.approved,
            "rejected": totals.rejected,
            "escalated": totals.escalated,
            "throughput_per_hour": totals.throughput_per_hour,
            "double_review": {
                "pairs": totals.double_review_pairs,
                "agreements": totals.agreements,
                "agreement_rate": totals.agreement_rate,
            },
            "per_reviewer": [
                {**asdict(reviewer), "total": reviewer.total} for reviewer in totals.per_reviewer
            ],
            "per_day": [asdict(count) for count in self.per_day],
            "time_to_decision": {
                "buckets": [asdict(bucket) for bucket in self.time_to_decision],
                "median_s": self.median_decision_s,
            },
            "sla": {
                "breach_after_s": self.sla_breach_after_s,
                "ended_late": self.ended_late,
                "open_late": self.open_late,
            },
            "queue_depth": [{"at": _iso(p.at), "open": p.open} for p in self.queue_depth],
        }


def lead_dashboard(
    conn: sa.Connection,
    tenant_id: str | None,
    start: datetime | None,
    end: datetime,
    *,
    settings: ReviewSettings,
) -> LeadDashboard:
    """The dashboard over [start, end] (without ``start``, from the first vote)."""
    totals = window_stats(conn, tenant_id, start, end)
    window_start = totals.since or end
    lifetimes = _task_lifetimes(conn, tenant_id, window_start, end)
    ended = [s for t in lifetimes if (s := t.ended_within(window_start, end)) is not None]
    breach = settings.sla_breach_after_s
    return LeadDashboard(
        totals=totals,
        per_day=_per_day(conn, tenant_id, window_start, end),
        time_to_decision=_histogram(ended),
        median_decision_s=statistics.median(ended) if ended else None,
        sla_breach_after_s=breach,
        ended_late=sum(1 for seconds in ended if seconds > breach),
        open_late=sum(
            1 for t in lifetimes if t.open_at(end) and (end - t.created_at).total_seconds() > breach
        ),
        queue_depth=_depth_over(lifetimes, window_start, end),
    )


@dataclass(frozen=True, slots=True)
class _Lifetime:
    created_at: datetime
    ended_at: datetime | None

    def ended_within(self, start: datetime, end: datetime) -> float | None:
        """Seconds from creation to end, for a task that ended in [start, end]."""
        if self.ended_at is None or not start <= self.ended_at <= end:
            return None
        return (self.ended_at - self.created_at).total_seconds()

    def open_at(self, moment: datetime) -> bool:
        return self.created_at <= moment and (self.ended_at is None or self.ended_at > moment)


def _task_lifetimes(
    conn: sa.Connection, tenant_id: str | None, start: datetime, end: datetime
) -> list[_Lifetime]:
    """Every task alive at some moment of the window (created by its end, not ended
    before its start)."""
    tasks = TASKS_TABLE.c
    query = sa.select(tasks.created_at, tasks.decided_at).where(
        tasks.created_at <= end, sa.or_(tasks.decided_at.is_(None), tasks.decided_at >= start)
    )
    if tenant_id is not None:
        query = query.where(tasks.tenant == tenant_id)
    return [
        _Lifetime(to_utc(created), to_utc(decided) if decided else None)
        for created, decided in conn.execute(query)
    ]


def _per_day(
    conn: sa.Connection, tenant_id: str | None, start: datetime, end: datetime
) -> tuple[DayCount, ...]:
    decisions = DECISIONS_TABLE.c
    query = sa.select(decisions.reviewer, decisions.created_at).where(
        decisions.created_at >= start, decisions.created_at <= end
    )
    if tenant_id is not None:
        query = query.where(decisions.tenant == tenant_id)
    counts = Counter(
        (to_utc(created).date().isoformat(), reviewer) for reviewer, created in conn.execute(query)
    )
    return tuple(DayCount(day, reviewer, n) for (day, reviewer), n in sorted(counts.items()))


def _histogram(durations_s: list[float]) -> tuple[DurationBucket, ...]:
    counts = [0] * len(DURATION_BUCKETS)
    for seconds in durations_s:
        index = next(i for i, (_, upper) in enumerate(DURATION_BUCKETS) if seconds < upper)
        counts[index] += 1
    return tuple(
        DurationBucket(label, None if upper == float("inf") else upper, count)
        for (label, upper), count in zip(DURATION_BUCKETS, counts, strict=True)
    )


def _depth_over(
    lifetimes: list[_Lifetime], start: datetime, end: datetime
) -> tuple[DepthPoint, ...]:
    if end <= start:
        return (DepthPoint(end, sum(1 for t in lifetimes if t.open_at(end))),)
    step = (end - start) / (_DEPTH_POINTS - 1)
    moments = [start + step * k for k in range(_DEPTH_POINTS - 1)] + [end]
    return tuple(DepthPoint(m, sum(1 for t in lifetimes if t.open_at(m))) for m in moments)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
