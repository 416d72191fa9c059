"""Moderation over HTTP: OpenAI's ``/v1/moderations`` and the tenant's brand lists and
image registry (banned terms, competitor names, product names; banned or protected images).

Every change of a list is published on the invalidation bus, so the next check in any
process sharing ``redis_url`` reads the new list.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from common.errors import InvalidInputError, UnsupportedMediaTypeError
from common.types import ContentKind, Direction, MediaType
from gateway.deps import (
    AdminKey,
    GenerateKey,
    ModerationAdmin,
    RowIdPath,
    RuntimeDep,
    TenantPolicy,
)
from gateway.invalidation import Topic
from gateway.openai_moderation import to_openai_moderation
from gateway.ports import CheckedContent
from gateway.settings import LimitSettings
from moderation.models import BrandTermKind, ImageEntryKind
from provenance.media import IMAGE_TYPES, open_media

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["moderation"])

_MAX_INPUTS = 32


class ModerationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients may send more

    input: str | list[str] = Field(description="One text or up to 32 texts.")
    model: str = "default"


class TermCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: BrandTermKind
    term: str = Field(min_length=1, max_length=200)


def _inputs(body: ModerationRequest, limits: LimitSettings) -> list[str]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > _MAX_INPUTS:
        raise InvalidInputError(f"input must hold 1 to {_MAX_INPUTS} texts")
    limit = limits.max_prompt_chars * 4
    for text in texts:
        if len(text) > limit:
            raise InvalidInputError(f"an input has {len(text)} characters; the limit is {limit}")
    return texts


@router.post("/moderations", summary="Moderate text (OpenAI-compatible, with our findings)")
def moderations(
    body: ModerationRequest,
    principal: GenerateKey,
    policy_name: TenantPolicy,
    engine: ModerationAdmin,
    runtime: RuntimeDep,
) -> Any:
    """``flagged`` is true when the tenant's policy would send the text to review or block
    it — by the input (prompt) scanners or the output scanners, whatever the category."""
    policy = engine.policy(policy_name)
    results = []
    for text in _inputs(body, runtime.settings.limits):
        content = CheckedContent(kind=ContentKind.TEXT, text=text)
        decided_in = engine.decide(content, Direction.INPUT, policy, principal.tenant_id)
        decided_out = engine.decide(content, Direction.OUTPUT, policy, principal.tenant_id)
        results.append(to_openai_moderation(decided_in, decided_out))
    return {"id": f"modr-{secrets.token_hex(12)}", "model": policy.name, "results": results}


@router.get("/moderation/terms", summary="The tenant's brand lists")
def list_terms(
    principal: AdminKey, engine: ModerationAdmin, kind: BrandTermKind | None = None
) -> dict[str, Any]:
    terms = engine.list_terms(principal.tenant_id, kind)
    return {"items": [jsonable_encoder(asdict(t)) for t in terms], "next_cursor": None}


@router.post(
    "/moderation/terms", status_code=201, summary="Add a banned, competitor or product term"
)
def add_term(
    body: TermCreate, principal: AdminKey, engine: ModerationAdmin, runtime: RuntimeDep
) -> dict[str, Any]:
    term = engine.add_term(principal.tenant_id, body.kind, body.term)
    runtime.invalidations.publish(Topic.BRAND_LIST, principal.tenant_id)
    encoded: dict[str, Any] = jsonable_encoder(asdict(term))
    return encoded


@router.delete("/moderation/terms/{term_id}", status_code=204, summary="Remove a term")
def remove_term(
    term_id: RowIdPath, principal: AdminKey, engine: ModerationAdmin, runtime: RuntimeDep
) -> None:
    engine.remove_term(principal.tenant_id, term_id)
    runtime.invalidations.publish(Topic.BRAND_LIST, principal.tenant_id)


@router.get("/moderation/images", summary="The tenant's registered images (hashes only)")
def list_images(principal: AdminKey, engine: ModerationAdmin) -> dict[str, Any]:
    images = engine.list_images(principal.tenant_id)
    return {"items": [jsonable_encoder(asdict(i)) for i in images], "next_cursor": None}


@router.post("/moderation/images", status_code=201, summary="Register a banned or protected image")
def add_image(
    principal: AdminKey,
    engine: ModerationAdmin,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="PNG, JPEG or WebP.")],
    kind: Annotated[Literal["banned", "protected", "rejected"], Form()] = "banned",
    label: Annotated[str, Form(max_length=200)] = "",
) -> dict[str, Any]:
    data = file.file.read()
    limits = runtime.settings.limits
    opened = open_media(
        data, None, max_bytes=limits.max_upload_bytes, max_image_pixels=limits.max_image_pixels
    )
    if opened.media_type not in IMAGE_TYPES:
        raise UnsupportedMediaTypeError(
            f"only images can be registered, not {MediaType(opened.media_type).value}"
        )
    entry = engine.add_image(principal.tenant_id, data, ImageEntryKind(kind), label)
    runtime.invalidations.publish(Topic.IMAGE_REGISTRY, principal.tenant_id)
    encoded: dict[str, Any] = jsonable_encoder(asdict(entry))
    return encoded


@router.delete("/moderation/images/{image_id}", status_code=204, summary="Unregister an image")
def remove_image(
    image_id: RowIdPath, principal: AdminKey, engine: ModerationAdmin, runtime: RuntimeDep
) -> None:
    engine.remove_image(principal.tenant_id, image_id)
    runtime.invalidations.publish(Topic.IMAGE_REGISTRY, principal.tenant_id)
