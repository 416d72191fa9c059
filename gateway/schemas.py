"""Request and response bodies of the native v1 API (OpenAI shapes live in ``openai_schemas``).

Requests forbid unknown fields, so a misspelt option is a 422 rather than silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.types import ContentKind, Language
from gateway.models import Generation

__all__ = [
    "ArtifactPublic",
    "GenerationCreate",
    "GenerationPublic",
    "ModerationPublic",
    "ProvenancePublic",
    "generation_public",
]


def _check_callback_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("callback_url must be an http(s) URL")
    return value


class GenerationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ContentKind = Field(description="What to generate: text, image or model3d.")
    prompt: str = Field(min_length=1, description="The prompt; moderated before generation.")
    generator: str | None = Field(
        default=None, description="A configured generator name; the kind's default if omitted."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Generator parameters, e.g. max_new_tokens, temperature, top_p, seed; "
        "width, height, steps, guidance for images.",
    )
    policy: str | None = Field(default=None, description="Policy name; the tenant's by default.")
    label_language: Language | None = Field(
        default=None, description="Language of the visible label (zh or en)."
    )
    callback_url: str | None = Field(
        default=None, max_length=2000, description="Receives a signed POST on the final state."
    )
    output_format: Literal["png", "jpeg", "webp"] | None = Field(
        default=None, description="Image output format; PNG unless asked otherwise."
    )

    @field_validator("prompt")
    @classmethod
    def prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be blank")
        return value

    @field_validator("callback_url")
    @classmethod
    def callback_is_http(cls, value: str | None) -> str | None:
        return _check_callback_url(value)


class ModerationPublic(BaseModel):
    decision: str | None
    findings: list[dict[str, Any]]
    policy: str | None = None
    policy_version: str | None = None
    reasons: list[str] = Field(default_factory=list)


class ArtifactPublic(BaseModel):
    url: str
    sha256: str
    media_type: str


class ProvenancePublic(BaseModel):
    ledger_index: int | None
    leaf_hash: str | None
    watermark_id: str | None
    manifest_label: str | None
    manifest_url: str | None = None
    implicit_label: dict[str, Any] | None = None


class UsagePublic(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ReviewVotePublic(BaseModel):
    task_id: str
    queue: str
    reviewer: str = Field(description="reviewer:<name> (the key's label) or key:<id>.")
    decision: str
    reason_code: str | None
    at: datetime


class GenerationPublic(BaseModel):
    id: str
    status: str
    kind: str
    source: str
    generator: str | None
    model_revision: str | None
    moderation: ModerationPublic
    artifact: ArtifactPublic | None = None
    provenance: ProvenancePublic | None = None
    output_text: str | None = Field(
        default=None, description="The stamped text, for released text generations."
    )
    block_reason: str | None = None
    review_task_id: str | None = None
    review_votes: list[ReviewVotePublic] | None = Field(
        default=None, description="Who decided what (on GET of one reviewed generation)."
    )
    usage: UsagePublic
    created_at: datetime
    updated_at: datetime


def generation_public(
    generation: Generation, base_url: str = "", output_text: str | None = None
) -> GenerationPublic:
    released = generation.status == "released" and generation.artifact_sha256 is not None
    prefix = f"{base_url}/v1/generations/{generation.id}"
    return GenerationPublic(
        id=generation.id,
        status=generation.status,
        kind=generation.kind,
        source=generation.source,
        generator=generation.generator,
        model_revision=generation.model_revision,
        moderation=ModerationPublic(
            decision=generation.decision,
            findings=generation.findings,
            policy=generation.policy_name,
            policy_version=generation.policy_version,
            reasons=list(generation.meta.get("reasons", [])),
        ),
        artifact=ArtifactPublic(
            url=f"{prefix}/content",
            sha256=generation.artifact_sha256 or "",
            media_type=generation.media_type or "application/octet-stream",
        )
        if released
        else None,
        provenance=ProvenancePublic(
            ledger_index=generation.ledger_index,
            leaf_hash=generation.leaf_hash,
            watermark_id=generation.watermark_id,
            manifest_label=generation.manifest_label,
            manifest_url=f"{prefix}/manifest" if generation.manifest_path else None,
            implicit_label=generation.meta.get("implicit_label"),
        )
        if released
        else None,
        output_text=output_text,
        block_reason=generation.block_reason,
        review_task_id=generation.meta.get("review_task_id"),
        usage=UsagePublic(
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            total_tokens=generation.prompt_tokens + generation.completion_tokens,
        ),
        created_at=generation.created_at,
        updated_at=generation.updated_at,
    )
