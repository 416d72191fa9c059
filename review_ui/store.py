"""Reading and writing review tasks, votes and events inside the service's transactions.

A change is stored with a compare-and-set on the task's ``version``
(``UPDATE … WHERE id = :id AND version = :seen``, rowcount checked): when a concurrent
writer got there first the row count is 0 and :class:`LostRaceError` tells the service
to roll back, re-read and let the transition decide again::

    with engine.begin() as conn:
        task = load_task(conn, task_id, tenant_id)
        stored = apply_change(conn, task, claim(task, request, now, settings))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa

from review_ui.interface import (
    DecisionOutcome,
    ReviewDecision,
    ReviewEvent,
    ReviewEventKind,
    TaskId,
    TaskNotFoundError,
)
from review_ui.models import CATEGORIES_TABLE, DECISIONS_TABLE, EVENTS_TABLE, TASKS_TABLE
from review_ui.records import (
    EventDraft,
    TaskRecord,
    VoteRecord,
    changed_columns,
    event_from_row,
    to_utc,
)
from review_ui.transitions import Change

__all__ = [
    "LostRaceError",
    "StoredChange",
    "apply_change",
    "chain_voters",
    "events_of",
    "insert_event",
    "insert_task",
    "lineage",
    "load_task",
    "task_votes",
]

_TASKS = TASKS_TABLE
_DECISIONS = DECISIONS_TABLE
_EVENTS = EVENTS_TABLE


class LostRaceError(Exception):
    """A concurrent writer changed the task between our read and our write."""


@dataclass(frozen=True, slots=True)
class StoredChange:
    """A change as committed: the task at its new version, the events with their ids."""

    task: TaskRecord
    events: tuple[ReviewEvent, ...]
    outcome: DecisionOutcome | None


def load_task(conn: sa.Connection, task_id: str, tenant_id: str) -> TaskRecord:
    """The task of this tenant; another tenant's id is :class:`TaskNotFoundError`."""
    row = conn.execute(
        sa.select(_TASKS).where(_TASKS.c.id == task_id, _TASKS.c.tenant == tenant_id)
    ).first()
    if row is None:
        raise TaskNotFoundError(f"no review task {task_id!r}")
    return TaskRecord.from_row(row._mapping)


def apply_change(conn: sa.Connection, before: TaskRecord, change: Change) -> StoredChange:
    """Write ``change`` to the task read as ``before``; :class:`LostRaceError` if another
    writer got there first (nothing else is written then: the caller rolls back)."""
    task = _compare_and_set(conn, before, change.task)
    if change.opened is not None:
        insert_task(conn, change.opened)
    if change.vote is not None:
        _insert_vote(conn, change.vote)
    events = tuple(insert_event(conn, draft) for draft in change.events)
    return StoredChange(task, events, change.outcome)


def _compare_and_set(conn: sa.Connection, before: TaskRecord, after: TaskRecord) -> TaskRecord:
    """Write what changed only if nobody wrote the task since ``before`` was read."""
    stored = replace(after, version=before.version + 1)
    result = conn.execute(
        sa.update(_TASKS)
        .where(_TASKS.c.id == before.id, _TASKS.c.version == before.version)
        .values(**changed_columns(before, stored))
    )
    if result.rowcount != 1:
        raise LostRaceError
    return stored


def insert_task(conn: sa.Connection, task: TaskRecord) -> None:
    """A new task and its categories (the queue filters on those)."""
    conn.execute(sa.insert(_TASKS).values(**task.to_row()))
    if task.categories:
        conn.execute(
            sa.insert(CATEGORIES_TABLE),
            [{"task_id": task.id, "category": c} for c in task.categories],
        )


def _insert_vote(conn: sa.Connection, vote: VoteRecord) -> None:
    conn.execute(sa.insert(_DECISIONS).values(**vote.to_row()))


def insert_event(conn: sa.Connection, draft: EventDraft) -> ReviewEvent:
    """Store one audit event; returns it with the id the database gave it."""
    result = conn.execute(sa.insert(_EVENTS).values(**draft.to_row()))
    primary_key = result.inserted_primary_key
    return draft.stored(int(primary_key[0]) if primary_key else 0)


def events_of(
    conn: sa.Connection,
    task_ids: Sequence[str] | sa.Select[tuple[str]],
    *,
    kind: ReviewEventKind | None = None,
) -> tuple[ReviewEvent, ...]:
    """The events of these tasks (ids, or a query of ids), of one kind if given, oldest
    first."""
    query = sa.select(_EVENTS).where(_EVENTS.c.task_id.in_(task_ids))
    if kind is not None:
        query = query.where(_EVENTS.c.kind == kind.value)
    rows = conn.execute(query.order_by(_EVENTS.c.id))
    return tuple(event_from_row(r._mapping) for r in rows)


def task_votes(conn: sa.Connection, task_id: str) -> tuple[VoteRecord, ...]:
    """Every vote cast on one task, in order."""
    rows = conn.execute(
        sa.select(_DECISIONS).where(_DECISIONS.c.task_id == task_id).order_by(_DECISIONS.c.id)
    )
    return tuple(_vote_from_row(r) for r in rows)


def _vote_from_row(row: sa.Row[tuple[object, ...]]) -> VoteRecord:
    return VoteRecord(
        task_id=TaskId(row.task_id),
        tenant_id=row.tenant,
        reviewer=row.reviewer,
        decision=ReviewDecision(row.decision),
        reason_code=row.reason_code,
        note=row.note,
        round=row.round,
        double_review=bool(row.double_review),
        created_at=to_utc(row.created_at),
        policy_version=row.policy_version,
        edited_output=row.edited_output,
    )


def lineage(conn: sa.Connection, task: TaskRecord) -> list[str]:
    """This task's id, then those of the tasks it was escalated from, newest first."""
    ids: list[str] = [task.id]
    parent: str | None = task.escalated_from
    while parent and parent not in ids:
        ids.append(parent)
        parent = _parent_of(conn, parent)
    return ids


def chain_voters(conn: sa.Connection, task: TaskRecord) -> frozenset[str]:
    """Everyone who voted on the tasks this one was escalated from (four eyes: none of
    them may cast its next vote)."""
    earlier = lineage(conn, task)[1:]
    if not earlier:
        return frozenset()
    voters = conn.execute(
        sa.select(_DECISIONS.c.reviewer).where(_DECISIONS.c.task_id.in_(earlier))
    ).scalars()
    return frozenset(voters)


def _parent_of(conn: sa.Connection, task_id: str) -> str | None:
    parent: str | None = conn.execute(
        sa.select(_TASKS.c.escalated_from).where(_TASKS.c.id == task_id)
    ).scalar_one_or_none()
    return parent
