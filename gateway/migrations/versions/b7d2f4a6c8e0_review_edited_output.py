"""review: an approval may carry the reviewer's edited text (review_decisions.edited_output),
and an edit moderation flagged again is queued with the text it replaced
(review_tasks.previous_output)

Revision ID: b7d2f4a6c8e0
Revises: a3c5e7f9b1d4
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d2f4a6c8e0"
down_revision: str | None = "a3c5e7f9b1d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("review_decisions", sa.Column("edited_output", sa.Text(), nullable=True))
    op.add_column("review_tasks", sa.Column("previous_output", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_tasks") as batch:
        batch.drop_column("previous_output")
    with op.batch_alter_table("review_decisions") as batch:
        batch.drop_column("edited_output")
