"""The gateway's own tables: tenants, API keys, generations and pipeline events.

Domain packages own their tables (``ledger.models``, ``review_ui.models`` …); all of
them share ``SQLModel.metadata`` so that one Alembic history migrates the lot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

__all__ = [
    "ApiKey",
    "Generation",
    "GenerationStatus",
    "IdempotencyRecord",
    "PipelineEvent",
    "Role",
    "Tenant",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    GENERATE = "generate"
    REVIEW = "review"
    AUDIT = "audit"
    ADMIN = "admin"
    SENIOR = "senior"  # a reviewer who may also work the senior queue (issue: four eyes)


class GenerationStatus(StrEnum):
    QUEUED = "queued"  # admitted, waiting for a worker (AIGC_EXECUTION=celery)
    RUNNING = "running"
    PENDING_REVIEW = "pending_review"
    RELEASED = "released"
    BLOCKED = "blocked"
    FAILED = "failed"


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    policy: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    # JSON list of the other policies a request may name (set by the tenant's admin):
    # a generate key never picks a policy its admin did not allow.
    allowed_policies: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    policy_version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class ApiKey(SQLModel, table=True):
    """An API key, stored as a salted hash. The plain key is shown once, at creation."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)  # public key id, part of the key
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    role: str = Field(max_length=16)
    salt: str = Field(max_length=64)
    secret_hash: str = Field(max_length=128)
    label: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Generation(SQLModel, table=True):
    __tablename__ = "generations"

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    kind: str = Field(max_length=16)
    status: str = Field(max_length=20, index=True)
    # The prompt is kept for reviewers and can be erased (PIPL); the ledger never holds it.
    prompt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str = Field(default="generated", max_length=16)  # generated | stamped
    generator: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=300)
    model_revision: str | None = Field(default=None, max_length=80)
    policy_name: str | None = Field(default=None, max_length=128)
    policy_version: str | None = Field(default=None, max_length=80)
    decision: str | None = Field(default=None, max_length=16)
    findings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    block_reason: str | None = Field(default=None, max_length=500)
    label_language: str = Field(default="zh", max_length=8)
    callback_url: str | None = Field(default=None, max_length=2000)
    media_type: str | None = Field(default=None, max_length=64)
    raw_path: str | None = Field(default=None, max_length=500)  # unstamped output
    artifact_path: str | None = Field(default=None, max_length=500)  # stamped output
    artifact_sha256: str | None = Field(default=None, max_length=64, index=True)
    watermark_id: str | None = Field(default=None, max_length=32, index=True)
    manifest_label: str | None = Field(default=None, max_length=200)
    manifest_hash: str | None = Field(default=None, max_length=64, index=True)
    manifest_path: str | None = Field(default=None, max_length=500)
    ledger_index: int | None = None
    leaf_hash: str | None = Field(default=None, max_length=64)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def new(cls, **fields: Any) -> Generation:
        """A new generation, its factory defaults filled in here.

        Pydantic inspects a default factory's signature each time it calls one; for this
        model's five that cost ~0.5 ms per construction, more than inserting the row.
        """
        now = utcnow()
        defaults: dict[str, Any] = {
            "params": {},
            "meta": {},
            "findings": [],
            "created_at": now,
            "updated_at": now,
        }
        return cls(**{**defaults, **fields})


class PipelineEvent(SQLModel, table=True):
    """One stage of one generation's pipeline, with its timing and outcome."""

    __tablename__ = "pipeline_events"

    id: int | None = Field(default=None, primary_key=True)
    generation_id: str = Field(foreign_key="generations.id", index=True, max_length=40)
    seq: int  # order within the generation
    stage: str = Field(max_length=40)
    outcome: str = Field(max_length=40)
    implementation: str = Field(max_length=80)  # which plugin ran, or a named pass-through
    duration_ms: float
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ledger_index: int | None = None
    leaf_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class WebhookSecret(SQLModel, table=True):
    """A tenant's webhook signing secret and, during a rotation's grace period, the one
    before it. Both are sealed (AES-GCM, ``gateway.webhook_store.SecretSealer``): signing
    needs the plain secret, so it is kept, but a copy of the database alone does not
    reveal it."""

    __tablename__ = "webhook_secrets"

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.id", max_length=64)
    secret: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    previous_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous_valid_until: datetime | None = None
    # Shown once (GET /v1/webhooks/secret or the rotation's answer), then refused.
    revealed: bool = False


class WebhookDelivery(SQLModel, table=True):
    """One attempt of one webhook delivery (the tenant's delivery log)."""

    __tablename__ = "webhook_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    delivery_id: str = Field(max_length=32, index=True)  # the same on every retry
    generation_id: str | None = Field(default=None, max_length=40)
    event: str = Field(max_length=64)
    url: str = Field(max_length=2000)
    attempt: int
    address: str | None = Field(default=None, max_length=64)  # the checked IP connected to
    delivered: bool
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class CallbackPin(SQLModel, table=True):
    """The addresses a callback URL's host resolved to when a request last gave it and
    they passed the check; deliveries connect to these instead of resolving again."""

    __tablename__ = "webhook_callback_pins"

    url_sha256: str = Field(primary_key=True, max_length=64)
    url: str = Field(max_length=2000)
    addresses: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    checked_at: datetime = Field(default_factory=utcnow)


class IdempotencyRecord(SQLModel, table=True):
    """A client's ``Idempotency-Key``: the request it named (by body hash) and the
    generation that request made (``None`` while it runs)."""

    __tablename__ = "idempotency_keys"

    tenant_id: str = Field(primary_key=True, max_length=128)
    route: str = Field(primary_key=True, max_length=32)  # "generations" | "stamp"
    key: str = Field(primary_key=True, max_length=255)
    body_sha256: str = Field(max_length=64)
    generation_id: str | None = Field(default=None, max_length=64)
    created_at: int = Field(sa_type=sa.BigInteger, index=True)  # unix seconds
