"""The jobs table: one row per unit of work handed to a Celery worker.

The row, not the broker message, is the job: the message carries only the job id, so a
message lost with a restarted broker is re-sent from the row (the reaper), and a message
delivered twice finds its row already claimed or done.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

__all__ = ["Job", "JobStatus", "JobTask"]


class JobTask(StrEnum):
    GENERATE = "generate"  # a GenerationOrder
    STAMP_UPLOAD = "stamp_upload"  # a StampOrder whose bytes are in the content store
    RELEASE = "release"  # stamp and release what a reviewer approved


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        # One job per generation and task: admitting it twice is refused by the database.
        sa.UniqueConstraint("generation_id", "task", name="uq_jobs_generation_task"),
        sa.Index("ix_jobs_status_lease", "status", "lease_until"),
    )

    id: str = Field(primary_key=True, max_length=40)
    generation_id: str = Field(max_length=40, index=True)
    tenant_id: str = Field(max_length=64)
    task: str = Field(max_length=16)
    queue: str = Field(max_length=32)
    status: str = Field(max_length=16)
    attempts: int = 0
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    worker: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, max_length=500)
    # Epoch seconds: compared in SQL the same way on SQLite and PostgreSQL.
    enqueued_at: float = 0.0
    published_at: float = 0.0  # last time its message was sent (the reaper re-sends)
    started_at: float | None = None
    lease_until: float | None = None  # a running job's worker renews this while alive
    finished_at: float | None = None
