"""The jobs table's state changes, each one conditional UPDATE so that any number of
API processes, workers and reapers can race on a row and exactly one wins.

    jobs = JobStore(engine)
    claim = jobs.claim(job_id, worker="w1@host", lease_s=30)   # None: taken or done
    jobs.renew(claim, lease_s=30)
    jobs.finish(claim, JobStatus.DONE)
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from common.errors import ConflictError, NotFoundError
from common.sqltable import table_of
from gateway.jobs.models import Job, JobStatus, JobTask
from gateway.models import Generation, GenerationStatus, PipelineEvent

__all__ = ["JobClaim", "JobStore", "JobView", "LapsedJobs", "new_job_id"]

_JOBS = table_of(Job)
_GENERATIONS = table_of(Generation)
_EVENTS = table_of(PipelineEvent)
_OPEN_GENERATION = (GenerationStatus.QUEUED.value, GenerationStatus.RUNNING.value)


def new_job_id() -> str:
    return f"job_{secrets.token_hex(12)}"


@dataclass(frozen=True, slots=True)
class JobClaim:
    """A worker's hold on a job: ``attempt`` fences a worker whose lease lapsed."""

    job_id: str
    generation_id: str
    task: JobTask
    queue: str
    payload: Mapping[str, Any]
    attempt: int
    # The job's first run ever (no retry, lapse or requeue before it): nothing of it can
    # be committed yet, so the pipeline skips reading back custody it cannot have.
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class JobView:
    id: str
    generation_id: str
    tenant_id: str
    task: str
    queue: str
    status: str
    attempts: int
    worker: str | None
    last_error: str | None
    enqueued_at: float
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class LapsedJobs:
    """What one reaper pass did: jobs to send again, and jobs it failed. ``resend`` lost
    their worker (their message is gone); ``stale`` waited long in their queue, and their
    message may have been lost with a restarted broker, or may still be queued."""

    resend: list[tuple[str, str]]  # (job id, queue)
    failed: list[str]
    stale: list[tuple[str, str]] = field(default_factory=list)


class JobStore:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    # ---------------------------------------------------------------- admitting

    def admit(
        self,
        connection: Connection,
        *,
        job_id: str,
        generation_id: str,
        tenant_id: str,
        task: JobTask,
        queue: str,
        payload: Mapping[str, Any],
    ) -> None:
        """Insert a queued job in the caller's transaction (with its generation's row)."""
        now = self._clock()
        connection.execute(
            sa.insert(_JOBS),
            {
                "id": job_id,
                "generation_id": generation_id,
                "tenant_id": tenant_id,
                "task": task.value,
                "queue": queue,
                "status": JobStatus.QUEUED.value,
                "attempts": 0,
                "payload": dict(payload),
                "enqueued_at": now,
                "published_at": now,
            },
        )

    def withdraw(self, job_id: str) -> None:
        """Delete a job that was never sent (the broker refused it) and its generation."""
        with self._engine.begin() as connection:
            row = connection.execute(
                sa.select(_JOBS.c.generation_id, _JOBS.c.task).where(_JOBS.c.id == job_id)
            ).first()
            connection.execute(sa.delete(_JOBS).where(_JOBS.c.id == job_id))
            if row is not None and row.task != JobTask.RELEASE.value:
                # The generation was created for this job alone; only its "queued" event
                # cites it yet.
                connection.execute(
                    sa.delete(_EVENTS).where(_EVENTS.c.generation_id == row.generation_id)
                )
                connection.execute(
                    sa.delete(_GENERATIONS).where(_GENERATIONS.c.id == row.generation_id)
                )

    # ---------------------------------------------------------------- running

    def claim(self, job_id: str, *, worker: str, lease_s: float) -> JobClaim | None:
        """Take a queued job, or a running one whose worker stopped renewing its lease."""
        now = self._clock()
        claimable = sa.or_(
            _JOBS.c.status == JobStatus.QUEUED.value,
            sa.and_(_JOBS.c.status == JobStatus.RUNNING.value, _JOBS.c.lease_until < now),
        )
        with self._engine.begin() as connection:
            row = connection.execute(
                sa.update(_JOBS)
                .where(_JOBS.c.id == job_id, claimable)
                .values(
                    status=JobStatus.RUNNING.value,
                    attempts=_JOBS.c.attempts + 1,
                    worker=worker[:200],
                    started_at=now,
                    lease_until=now + lease_s,
                )
                .returning(*_JOBS.c)  # PostgreSQL, and SQLite since 3.35
            ).first()
            if row is None:
                return None
            _move_generation(
                connection,
                row.generation_id,
                GenerationStatus.RUNNING,
                from_statuses=(GenerationStatus.QUEUED.value,),
            )
        return JobClaim(
            job_id=row.id,
            generation_id=row.generation_id,
            task=JobTask(row.task),
            queue=row.queue,
            payload=row.payload,
            attempt=int(row.attempts),
            # A release job starts from the custody its generation already has.
            fresh=int(row.attempts) == 1
            and row.last_error is None
            and row.task != JobTask.RELEASE.value,
        )

    def renew(self, claim: JobClaim, *, lease_s: float) -> bool:
        """Extend the lease; False once another worker has taken the job over."""
        with self._engine.begin() as connection:
            renewed = connection.execute(
                sa.update(_JOBS)
                .where(*self._held(claim))
                .values(lease_until=self._clock() + lease_s)
            )
        return renewed.rowcount == 1

    def finish(self, claim: JobClaim, status: JobStatus, error: str | None = None) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                sa.update(_JOBS)
                .where(*self._held(claim))
                .values(
                    status=status.value,
                    lease_until=None,
                    finished_at=self._clock(),
                    last_error=error[:500] if error else None,
                )
            )

    def requeue(self, claim: JobClaim, error: str) -> None:
        """Back to queued for a retry; its generation shows ``queued`` again meanwhile."""
        with self._engine.begin() as connection:
            connection.execute(
                sa.update(_JOBS)
                .where(*self._held(claim))
                .values(
                    status=JobStatus.QUEUED.value,
                    lease_until=None,
                    published_at=self._clock(),
                    last_error=error[:500],
                )
            )
            _move_generation(connection, claim.generation_id, GenerationStatus.QUEUED)

    @staticmethod
    def _held(claim: JobClaim) -> Sequence[sa.ColumnElement[bool]]:
        return (
            _JOBS.c.id == claim.job_id,
            _JOBS.c.attempts == claim.attempt,
            _JOBS.c.status == JobStatus.RUNNING.value,
        )

    # ---------------------------------------------------------------- the reaper

    def reap(self, *, max_attempts: int, republish_after_s: float) -> LapsedJobs:
        """Lapsed leases back to queued (or failed after ``max_attempts``), and queued
        jobs whose message may be lost marked for sending again."""
        now = self._clock()
        resend: list[tuple[str, str]] = []
        failed: list[str] = []
        stale_jobs: list[tuple[str, str]] = []
        with self._engine.begin() as connection:
            lapsed = connection.execute(
                sa.select(_JOBS.c.id, _JOBS.c.queue, _JOBS.c.attempts, _JOBS.c.generation_id)
                .where(_JOBS.c.status == JobStatus.RUNNING.value, _JOBS.c.lease_until < now)
                .limit(500)
            ).all()
            for row in lapsed:
                if row.attempts >= max_attempts:
                    if self._fail_lapsed(connection, row, now):
                        failed.append(row.id)
                elif self._requeue_lapsed(connection, row, now):
                    resend.append((row.id, row.queue))
            stale = connection.execute(
                sa.select(_JOBS.c.id, _JOBS.c.queue, _JOBS.c.published_at)
                .where(
                    _JOBS.c.status == JobStatus.QUEUED.value,
                    _JOBS.c.published_at < now - republish_after_s,
                )
                .limit(500)
            ).all()
            for stale_row in stale:
                # Only the reaper that moves published_at sends: two reapers never both do.
                moved = connection.execute(
                    sa.update(_JOBS)
                    .where(
                        _JOBS.c.id == stale_row.id,
                        _JOBS.c.published_at == stale_row.published_at,
                    )
                    .values(published_at=now)
                )
                if moved.rowcount == 1:
                    stale_jobs.append((stale_row.id, stale_row.queue))
        return LapsedJobs(resend=resend, failed=failed, stale=stale_jobs)

    def _requeue_lapsed(self, connection: Connection, row: Any, now: float) -> bool:
        moved = connection.execute(
            sa.update(_JOBS)
            .where(
                _JOBS.c.id == row.id,
                _JOBS.c.status == JobStatus.RUNNING.value,
                _JOBS.c.lease_until < now,
            )
            .values(
                status=JobStatus.QUEUED.value,
                lease_until=None,
                published_at=now,
                last_error="worker lost: the lease lapsed",
            )
        )
        if moved.rowcount == 1:
            _move_generation(connection, row.generation_id, GenerationStatus.QUEUED)
        return moved.rowcount == 1

    def _fail_lapsed(self, connection: Connection, row: Any, now: float) -> bool:
        reason = f"worker lost {row.attempts} times; the job was given up"
        moved = connection.execute(
            sa.update(_JOBS)
            .where(_JOBS.c.id == row.id, _JOBS.c.status == JobStatus.RUNNING.value)
            .values(
                status=JobStatus.FAILED.value, lease_until=None, finished_at=now, last_error=reason
            )
        )
        if moved.rowcount == 1:
            _move_generation(
                connection,
                row.generation_id,
                GenerationStatus.FAILED,
                block_reason=f"job_lost: {reason}",
            )
        return moved.rowcount == 1

    # ---------------------------------------------------------------- operators

    def list(self, status: JobStatus | None = None, limit: int = 50) -> list[JobView]:
        query = sa.select(_JOBS).order_by(_JOBS.c.enqueued_at.desc()).limit(limit)
        if status is not None:
            query = query.where(_JOBS.c.status == status.value)
        with self._engine.connect() as connection:
            return [_view(row) for row in connection.execute(query)]

    def get(self, job_id: str) -> JobView:
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(_JOBS).where(_JOBS.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"no job {job_id}")
        return _view(row)

    def requeue_failed(self, job_id: str) -> JobView:
        """An operator's retry of a failed job: attempts start again from zero."""
        now = self._clock()
        with self._engine.begin() as connection:
            moved = connection.execute(
                sa.update(_JOBS)
                .where(_JOBS.c.id == job_id, _JOBS.c.status == JobStatus.FAILED.value)
                .values(
                    status=JobStatus.QUEUED.value,
                    attempts=0,
                    published_at=now,
                    finished_at=None,
                    lease_until=None,
                )
                .returning(_JOBS.c.generation_id)
            ).first()
            if moved is not None:
                _move_generation(
                    connection,
                    moved.generation_id,
                    GenerationStatus.QUEUED,
                    from_statuses=(GenerationStatus.FAILED.value,),
                    block_reason=None,
                )
        view = self.get(job_id)
        if moved is None:
            raise ConflictError(f"job {job_id} is {view.status}; only a failed job is requeued")
        return view

    def depth_by_queue(self) -> dict[tuple[str, str], int]:
        """(queue, status) → jobs, for queued and running jobs (the /metrics gauge)."""
        query = (
            sa.select(_JOBS.c.queue, _JOBS.c.status, sa.func.count())
            .where(_JOBS.c.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))
            .group_by(_JOBS.c.queue, _JOBS.c.status)
        )
        with self._engine.connect() as connection:
            return {(row[0], row[1]): int(row[2]) for row in connection.execute(query)}


def _move_generation(
    connection: Connection,
    generation_id: str,
    status: GenerationStatus,
    *,
    from_statuses: tuple[str, ...] = _OPEN_GENERATION,
    **values: Any,
) -> None:
    """Set a job's generation to ``status`` if it is still in one of ``from_statuses``
    (a finished generation is never moved back by its job's bookkeeping)."""
    connection.execute(
        sa.update(_GENERATIONS)
        .where(_GENERATIONS.c.id == generation_id, _GENERATIONS.c.status.in_(from_statuses))
        .values(status=status.value, **values)
    )


def _view(row: Any) -> JobView:
    return JobView(
        id=row.id,
        generation_id=row.generation_id,
        tenant_id=row.tenant_id,
        task=row.task,
        queue=row.queue,
        status=row.status,
        attempts=int(row.attempts),
        worker=row.worker,
        last_error=row.last_error,
        enqueued_at=float(row.enqueued_at),
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def finished_latencies(engine: Engine, since: float) -> dict[str, list[float]]:
    """Queue → seconds from admission to finish of the jobs finished since ``since``."""
    query = (
        sa.select(_JOBS.c.queue, _JOBS.c.finished_at - _JOBS.c.enqueued_at)
        .where(_JOBS.c.finished_at >= since)
        .limit(10_000)
    )
    latencies: dict[str, list[float]] = {}
    with engine.connect() as connection:
        for queue, seconds in connection.execute(query):
            latencies.setdefault(queue, []).append(float(seconds))
    return latencies
