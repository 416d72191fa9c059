"""webhooks: stored (sealed) per-tenant secrets with rotation, the delivery log, and the
checked addresses of callback URLs

Revision ID: d4f8a2c6e1b3
Revises: c1e5a7b3d9f2
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d4f8a2c6e1b3"
down_revision: str | None = "c1e5a7b3d9f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("tenant_id", _String(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_valid_until", sa.DateTime(), nullable=True),
        sa.Column("revealed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", _String(length=64), nullable=False),
        sa.Column("delivery_id", _String(length=32), nullable=False),
        sa.Column("generation_id", _String(length=40), nullable=True),
        sa.Column("event", _String(length=64), nullable=False),
        sa.Column("url", _String(length=2000), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("address", _String(length=64), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", _String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.create_index(batch.f("ix_webhook_deliveries_tenant_id"), ["tenant_id"])
        batch.create_index(batch.f("ix_webhook_deliveries_delivery_id"), ["delivery_id"])
    op.create_table(
        "webhook_callback_pins",
        sa.Column("url_sha256", _String(length=64), nullable=False),
        sa.Column("url", _String(length=2000), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("url_sha256"),
    )


def downgrade() -> None:
    op.drop_table("webhook_callback_pins")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_secrets")
