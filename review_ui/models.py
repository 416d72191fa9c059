"""Database tables of the review queue (SQLModel; SQLite and PostgreSQL).

Times are aware UTC (SQLModel's ``UTCDateTime``: SQLite stores them as UTC text).
``version`` on a task is bumped by every change, so each write is a conditional
``UPDATE … WHERE version = :seen`` — the compare-and-set that makes claims atomic on
both backends without relying on ``SELECT … FOR UPDATE`` (which SQLite lacks)::

    create_review_tables(engine)   # tests; the gateway's Alembic migrations do it in prod
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = [
    "CATEGORIES_TABLE",
    "DECISIONS_TABLE",
    "EVENTS_TABLE",
    "REVIEW_TABLES",
    "SIGNED_OUT_TABLE",
    "TASKS_TABLE",
    "ReviewDecisionRow",
    "ReviewEventRow",
    "ReviewTaskCategoryRow",
    "ReviewTaskRow",
    "SignedOutSessionRow",
    "create_review_tables",
]


class ReviewTaskRow(SQLModel, table=True):
    __tablename__ = "review_tasks"
    __table_args__ = (
        sa.Index("ix_review_tasks_open", "tenant", "status", "queue", "priority", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(index=True, max_length=128)
    generation_id: str = Field(index=True, max_length=128)
    queue: str = Field(max_length=64)
    status: str = Field(max_length=16)
    priority: int = 0
    kind: str = Field(max_length=16)
    prompt: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    output_text: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # A reviewer's edit that moderation flagged again: the text the edit replaced.
    previous_output: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    image_url: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    findings: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    policy_name: str = Field(max_length=128)
    policy_version: str = Field(max_length=64)
    reason_codes: list[dict[str, str]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    double_review: bool = False
    claimed_by: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = None
    first_reviewer: str | None = Field(default=None, max_length=128)
    first_decision: str | None = Field(default=None, max_length=16)
    created_at: datetime
    decided_at: datetime | None = None
    final_reason_code: str | None = Field(default=None, max_length=128)
    final_note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    escalated_from: str | None = Field(default=None, max_length=32)
    escalated_to: str | None = Field(default=None, max_length=32)
    version: int = 0


class ReviewTaskCategoryRow(SQLModel, table=True):
    """One row per finding category of a task, so the queue can filter by category."""

    __tablename__ = "review_task_categories"

    task_id: str = Field(foreign_key="review_tasks.id", primary_key=True, max_length=32)
    category: str = Field(primary_key=True, index=True, max_length=128)


class ReviewDecisionRow(SQLModel, table=True):
    """One reviewer's vote; a double review has two rows per task (``round`` 1 and 2)."""

    __tablename__ = "review_decisions"

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(foreign_key="review_tasks.id", index=True, max_length=32)
    tenant: str = Field(index=True, max_length=128)
    reviewer: str = Field(index=True, max_length=128)
    decision: str = Field(max_length=16)
    reason_code: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    round: int = 1
    double_review: bool = False
    created_at: datetime = Field(index=True)
    policy_version: str = Field(max_length=64)
    # An approval that rewrote the text output: what the reviewer released instead.
    edited_output: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class ReviewEventRow(SQLModel, table=True):
    """The audit trail: every enqueue, claim, release, lease expiry, vote and outcome."""

    __tablename__ = "review_events"

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(foreign_key="review_tasks.id", index=True, max_length=32)
    tenant: str = Field(max_length=128)
    generation_id: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    reviewer: str | None = Field(default=None, max_length=128)
    at: datetime
    queue: str = Field(max_length=64)
    policy_name: str = Field(max_length=128)
    policy_version: str = Field(max_length=64)
    decision: str | None = Field(default=None, max_length=16)
    reason_code: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    lease_expires_at: datetime | None = None
    related_task_id: str | None = Field(default=None, max_length=32)


class SignedOutSessionRow(SQLModel, table=True):
    """A reviewer session ended by logout: its signed cookie is refused until it expires.

    Sessions are stateless signed cookies; without this list a copied cookie would stay
    valid after logout for the rest of its lifetime.
    """

    __tablename__ = "review_signed_out_sessions"

    nonce: str = Field(primary_key=True, max_length=64)
    expires_at: int = Field(index=True, sa_type=sa.BigInteger)  # unix seconds, as in the cookie


TASKS_TABLE: sa.Table = SQLModel.metadata.tables["review_tasks"]
CATEGORIES_TABLE: sa.Table = SQLModel.metadata.tables["review_task_categories"]
DECISIONS_TABLE: sa.Table = SQLModel.metadata.tables["review_decisions"]
EVENTS_TABLE: sa.Table = SQLModel.metadata.tables["review_events"]
SIGNED_OUT_TABLE: sa.Table = SQLModel.metadata.tables["review_signed_out_sessions"]
REVIEW_TABLES: tuple[sa.Table, ...] = (
    TASKS_TABLE,
    CATEGORIES_TABLE,
    DECISIONS_TABLE,
    EVENTS_TABLE,
    SIGNED_OUT_TABLE,
)


def create_review_tables(engine: sa.Engine) -> None:
    """Create the review tables if missing (tests and first start without Alembic)."""
    SQLModel.metadata.create_all(engine, tables=list(REVIEW_TABLES))
