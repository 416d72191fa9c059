"""review: sessions ended by logout, refused until they expire

Revision ID: c1e5a7b3d9f2
Revises: b7d2c4e1a9f0
Create Date: 2026-12-02 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c1e5a7b3d9f2"
down_revision: str | None = "b7d2c4e1a9f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_signed_out_sessions",
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("review_signed_out_sessions") as batch:
        batch.create_index(
            batch.f("ix_review_signed_out_sessions_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("review_signed_out_sessions")
