"""tenant policy: the admin's allowlist of policies a request may name, and a version

Revision ID: b7d2c4e1a9f0
Revises: fa83e3e96234
Create Date: 2026-12-02 21:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d2c4e1a9f0"
down_revision: str | None = "fa83e3e96234"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("allowed_policies", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(
            sa.Column("policy_version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("policy_version")
        batch.drop_column("allowed_policies")
