"""webhooks: the outbox, one row per delivery to make, claimed with a lease by any process

Revision ID: f7b1c3e5a9d2
Revises: e5a9c3d7f1b2
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "f7b1c3e5a9d2"
down_revision: str | None = "e5a9c3d7f1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_String = sqlmodel.sql.sqltypes.AutoString
_Time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", _String(length=32), nullable=False),
        sa.Column("generation_id", _String(length=40), nullable=True),
        sa.Column("tenant_id", _String(length=64), nullable=False),
        sa.Column("event", _String(length=64), nullable=False),
        sa.Column("url", _String(length=2000), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _Time(), nullable=False),
        sa.Column("status", _String(length=16), nullable=False),
        sa.Column("claimed_by", _String(length=80), nullable=True),
        sa.Column("lease_until", _Time(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", _String(length=200), nullable=True),
        sa.Column("created_at", _Time(), nullable=False),
        sa.Column("updated_at", _Time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_outbox") as batch:
        # The dispatchers' due-row query: status, then the oldest next_attempt_at.
        batch.create_index("ix_webhook_outbox_due", ["status", "next_attempt_at"])
        batch.create_index(batch.f("ix_webhook_outbox_generation_id"), ["generation_id"])


def downgrade() -> None:
    op.drop_table("webhook_outbox")
