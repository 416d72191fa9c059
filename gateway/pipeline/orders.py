"""What the pipeline is asked to do: a generation or an upload to stamp, and its hooks."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from common.types import ContentKind, GenerationId, TenantId
from gateway.models import Generation

__all__ = ["GenerationOrder", "PipelineHooks", "StampOrder", "new_generation_id"]


def new_generation_id() -> GenerationId:
    return GenerationId(f"gen_{secrets.token_hex(12)}")


@dataclass(frozen=True, slots=True)
class GenerationOrder:
    tenant_id: TenantId
    kind: ContentKind
    prompt: str
    policy: str
    actor: str
    generator: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    label_language: str = "zh"
    callback_url: str | None = None
    output_format: str | None = None


@dataclass(frozen=True, slots=True)
class StampOrder:
    """Content made elsewhere, to be moderated, reviewed, stamped and ledgered."""

    tenant_id: TenantId
    kind: ContentKind
    data: bytes
    media_type: str
    policy: str
    actor: str
    label_language: str = "zh"
    callback_url: str | None = None
    prompt: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PipelineHooks:
    """Observers: stage timings for metrics; for webhooks, final states and holds for
    review. ``write_final`` writes in the transaction that commits such a state (the
    webhook outbox row: it exists exactly when the outcome does); ``on_final`` hears of
    it after the commit (to deliver at once)."""

    on_stage: Callable[[str, float], None] | None = None
    on_final: Callable[[Generation], None] | None = None
    write_final: Callable[[Connection, Generation], object] | None = None
