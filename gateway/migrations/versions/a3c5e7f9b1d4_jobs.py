"""gateway: the jobs table (AIGC_EXECUTION=celery), and one generation, moderation and
stamp leaf per generation enforced by the database as well as by the sequencer

Revision ID: a3c5e7f9b1d4
Revises: f7b1c3e5a9d2
Create Date: 2026-12-03 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "a3c5e7f9b1d4"
down_revision: str | None = "f7b1c3e5a9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ONCE = "event_type IN ('generation', 'moderation', 'stamp')"


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "jobs",
        sa.Column("id", text(length=40), nullable=False),
        sa.Column("generation_id", text(length=40), nullable=False),
        sa.Column("tenant_id", text(length=64), nullable=False),
        sa.Column("task", text(length=16), nullable=False),
        sa.Column("queue", text(length=32), nullable=False),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("worker", text(length=200), nullable=True),
        sa.Column("last_error", text(length=500), nullable=True),
        sa.Column("enqueued_at", sa.Float(), nullable=False),
        sa.Column("published_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("generation_id", "task", name="uq_jobs_generation_task"),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.create_index("ix_jobs_generation_id", ["generation_id"], unique=False)
        batch.create_index("ix_jobs_status_lease", ["status", "lease_until"], unique=False)
    # A backstop under the sequencer's own check (ledger.service): a partial unique
    # index, which SQLite and PostgreSQL both have.
    op.create_index(
        "uq_ledger_leaves_once_per_generation",
        "ledger_leaves",
        ["generation_id", "event_type"],
        unique=True,
        sqlite_where=sa.text(_ONCE),
        postgresql_where=sa.text(_ONCE),
    )


def downgrade() -> None:
    op.drop_index("uq_ledger_leaves_once_per_generation", table_name="ledger_leaves")
    op.drop_table("jobs")
