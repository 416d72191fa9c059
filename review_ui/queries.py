"""Read-only SQL of the review queue: the listing's filters and keyset, and the stats.

Conditions are SQLAlchemy expressions over ``review_tasks`` for the service to combine;
the stats read votes and outcomes over a time window::

    query = sa.select(TASKS_TABLE).where(*task_filters(TaskFilter(queue="senior"), now))
    stats = window_stats(conn, tenant_id="acme", start=None, end=now)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from common.errors import InvalidInputError
from common.types import ContentKind
from review_ui.cursor import QueuePosition
from review_ui.interface import ReviewDecision, ReviewerStats, ReviewStats, TaskStatus
from review_ui.models import CATEGORIES_TABLE, DECISIONS_TABLE, TASKS_TABLE
from review_ui.records import to_utc

__all__ = [
    "QUEUE_ORDER",
    "REVERSE_QUEUE_ORDER",
    "TaskFilter",
    "after",
    "before",
    "task_filters",
    "window_stats",
]

_TASKS = TASKS_TABLE
_CATEGORIES = CATEGORIES_TABLE
_DECISIONS = DECISIONS_TABLE

# Most urgent first: highest priority, then oldest; the id breaks ties for the keyset.
QUEUE_ORDER = (_TASKS.c.priority.desc(), _TASKS.c.created_at.asc(), _TASKS.c.id.asc())
REVERSE_QUEUE_ORDER = (_TASKS.c.priority.asc(), _TASKS.c.created_at.desc(), _TASKS.c.id.desc())


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What ``list_tasks`` narrows by; None (or empty) leaves that out."""

    status: TaskStatus | str | Collection[TaskStatus | str] | None = None
    queue: str | None = None
    category: str | None = None
    older_than_s: float | None = None
    kind: str | None = None
    policy: str | None = None
    # Free text: a task or generation id, words of the prompt or the output, or a
    # finding category (exactly or as a dotted prefix).
    search: str | None = None


def task_filters(wanted: TaskFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    """The conditions of ``wanted`` at ``now`` (status as callers see it)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if wanted.status is not None:
        statuses = [wanted.status] if isinstance(wanted.status, str) else list(wanted.status)
        conditions.append(sa.or_(*(_status_is(_parse_status(s), now) for s in statuses)))
    if wanted.queue:
        conditions.append(_TASKS.c.queue == wanted.queue)
    if wanted.category:
        conditions.append(_has_category(wanted.category))
    if wanted.older_than_s is not None:
        conditions.append(_TASKS.c.created_at <= now - timedelta(seconds=wanted.older_than_s))
    if wanted.kind:
        conditions.append(_TASKS.c.kind == _parse_kind(wanted.kind))
    if wanted.policy:
        conditions.append(_TASKS.c.policy_name == wanted.policy)
    if wanted.search and wanted.search.strip():
        conditions.append(_matches(wanted.search.strip()))
    return conditions


def _parse_kind(kind: str) -> str:
    try:
        return ContentKind(kind).value
    except ValueError as exc:
        raise InvalidInputError(
            f"kind must be one of {', '.join(k.value for k in ContentKind)}"
        ) from exc


def _matches(term: str) -> sa.ColumnElement[bool]:
    contains = f"%{_like_escaped(term)}%"
    return sa.or_(
        _TASKS.c.id == term,
        _TASKS.c.generation_id == term,
        _TASKS.c.output_text.like(contains, escape="\\"),
        _TASKS.c.prompt.like(contains, escape="\\"),
        _has_category(term),
    )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _parse_status(status: TaskStatus | str) -> TaskStatus:
    try:
        return TaskStatus(status)
    except ValueError as exc:
        raise InvalidInputError(
            f"status must be one of {', '.join(s.value for s in TaskStatus)}"
        ) from exc


def _has_category(category: str) -> sa.ColumnElement[bool]:
    """Exactly or as a dotted prefix (``ad_law`` matches ``ad_law.absolute_term``)."""
    escaped = _like_escaped(category)
    return sa.exists().where(
        _CATEGORIES.c.task_id == _TASKS.c.id,
        sa.or_(
            _CATEGORIES.c.category == category,
            _CATEGORIES.c.category.like(escaped.rstrip(".") + ".%", escape="\\"),
        ),
    )


def _status_is(status: TaskStatus, now: datetime) -> sa.ColumnElement[bool]:
    """The stored-status condition for the status callers see (lapsed claim = pending)."""
    lapsed = sa.and_(_TASKS.c.status == TaskStatus.CLAIMED, _TASKS.c.lease_expires_at <= now)
    if status is TaskStatus.PENDING:
        return sa.or_(_TASKS.c.status == TaskStatus.PENDING, lapsed)
    if status is TaskStatus.CLAIMED:
        return sa.and_(_TASKS.c.status == TaskStatus.CLAIMED, _TASKS.c.lease_expires_at > now)
    return _TASKS.c.status == status


def after(pos: QueuePosition) -> sa.ColumnElement[bool]:
    """Keyset condition: strictly after ``pos`` in (priority desc, created_at, id) order."""
    t = _TASKS.c
    return sa.or_(
        t.priority < pos.priority,
        sa.and_(t.priority == pos.priority, t.created_at > pos.created_at),
        sa.and_(t.priority == pos.priority, t.created_at == pos.created_at, t.id > pos.task_id),
    )


def before(pos: QueuePosition) -> sa.ColumnElement[bool]:
    """Keyset condition: strictly before ``pos`` in queue order."""
    t = _TASKS.c
    return sa.or_(
        t.priority > pos.priority,
        sa.and_(t.priority == pos.priority, t.created_at < pos.created_at),
        sa.and_(t.priority == pos.priority, t.created_at == pos.created_at, t.id < pos.task_id),
    )


# ---------------------------------------------------------------------- stats


@dataclass(frozen=True, slots=True)
class _CastVote:
    """The columns of a ``review_decisions`` row the stats count."""

    task_id: str
    reviewer: str
    decision: str
    round: int
    created_at: datetime


def window_stats(
    conn: sa.Connection, tenant_id: str | None, start: datetime | None, end: datetime
) -> ReviewStats:
    """Throughput, double-review agreement and per-reviewer counts over [start, end];
    without ``start`` the window opens at the first vote."""
    votes = _window_votes(conn, tenant_id, start, end)
    outcomes = _window_outcomes(conn, tenant_id, start, end)
    pairs = _double_review_pairs(conn, [v for v in votes if v.round == 2])
    window_start = start or min((v.created_at for v in votes), default=None)
    settled = outcomes.get("approved", 0) + outcomes.get("rejected", 0)
    return ReviewStats(
        since=to_utc(window_start) if window_start else None,
        until=to_utc(end),
        votes=len(votes),
        settled=settled,
        approved=outcomes.get("approved", 0),
        rejected=outcomes.get("rejected", 0),
        escalated=outcomes.get("escalated", 0),
        throughput_per_hour=_per_hour(settled, window_start, end),
        double_review_pairs=len(pairs),
        agreements=sum(1 for first, second in pairs if first == second),
        per_reviewer=_per_reviewer(votes),
    )


def _window_votes(
    conn: sa.Connection, tenant_id: str | None, start: datetime | None, end: datetime
) -> list[_CastVote]:
    d = _DECISIONS.c
    query = sa.select(d.task_id, d.reviewer, d.decision, d.round, d.created_at).where(
        d.created_at <= end
    )
    if start is not None:
        query = query.where(d.created_at >= start)
    if tenant_id is not None:
        query = query.where(d.tenant == tenant_id)
    return [_CastVote(*row) for row in conn.execute(query)]


def _window_outcomes(
    conn: sa.Connection, tenant_id: str | None, start: datetime | None, end: datetime
) -> dict[str, int]:
    query = (
        sa.select(_TASKS.c.status, sa.func.count())
        .where(_TASKS.c.decided_at.is_not(None), _TASKS.c.decided_at <= end)
        .group_by(_TASKS.c.status)
    )
    if start is not None:
        query = query.where(_TASKS.c.decided_at >= start)
    if tenant_id is not None:
        query = query.where(_TASKS.c.tenant == tenant_id)
    return {status: int(count) for status, count in conn.execute(query)}


def _double_review_pairs(
    conn: sa.Connection, second_votes: list[_CastVote]
) -> list[tuple[str, str]]:
    """(first decision, second decision) for every double review finished in the window."""
    if not second_votes:
        return []
    query = sa.select(_DECISIONS.c.task_id, _DECISIONS.c.decision).where(
        _DECISIONS.c.round == 1,
        _DECISIONS.c.task_id.in_([v.task_id for v in second_votes]),
    )
    firsts = {row.task_id: row.decision for row in conn.execute(query)}
    return [(firsts[v.task_id], v.decision) for v in second_votes if v.task_id in firsts]


def _per_reviewer(votes: list[_CastVote]) -> tuple[ReviewerStats, ...]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for vote in votes:
        counts[vote.reviewer][vote.decision] += 1
    return tuple(
        ReviewerStats(
            reviewer,
            c[ReviewDecision.APPROVE],
            c[ReviewDecision.REJECT],
            c[ReviewDecision.ESCALATE],
        )
        for reviewer, c in sorted(counts.items())
    )


def _per_hour(count: int, start: datetime | None, end: datetime) -> float | None:
    if start is None:
        return None
    hours = (end - start).total_seconds() / 3600
    # A window shorter than a minute says nothing useful about a rate per hour.
    return count / max(hours, 1 / 60)
