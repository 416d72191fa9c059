"""``POST /v1/stamp``: content made elsewhere goes through the same pipeline.

Multipart: ``file`` (PNG, JPEG, WebP, GLB, UTF-8 text, Markdown) and an optional JSON form
field ``meta`` (``kind``, ``callback_url``, ``label_language``, ``policy``, ``source``,
``prompt``, ``media_type`` — all optional). The type is sniffed from the bytes: a missing
file name extension is fine; a declared type or extension that contradicts them is 415.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import InvalidInputError, UnsupportedMediaTypeError
from common.jsonsafe import check_json_depth, check_storable_text
from common.types import ContentKind, MediaType
from gateway.auth import Principal
from gateway.deps import (
    GenerateKey,
    IdempotencyDep,
    IdempotencyKeyHeader,
    RuntimeDep,
    TenantPoliciesDep,
)
from gateway.models import Generation
from gateway.pipeline import StampOrder
from gateway.routes.generations import ACCEPTED_RESPONSES, IdempotentRequest, run_once
from gateway.runtime import Runtime
from gateway.schemas import GenerationPublic
from gateway.tenant_policy import TenantPolicies
from provenance.media import open_media

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["stamp"])


_KIND_BY_TYPE = {
    MediaType.PNG: ContentKind.IMAGE,
    MediaType.JPEG: ContentKind.IMAGE,
    MediaType.WEBP: ContentKind.IMAGE,
    MediaType.GLB: ContentKind.MODEL3D,
    MediaType.TEXT: ContentKind.TEXT,
    MediaType.MARKDOWN: ContentKind.TEXT,
}
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


class StampMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ContentKind | None = None
    media_type: str | None = None
    callback_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")
    label_language: Literal["zh", "en"] = "zh"
    policy: str | None = None
    source: str | None = Field(default=None, max_length=64)
    prompt: str | None = Field(default=None, max_length=100_000)


def _parse_meta(raw: str) -> StampMeta:
    check_json_depth(raw.encode(), what="the meta form field")
    check_storable_text(raw, what="the meta form field")
    try:
        return StampMeta.model_validate(json.loads(raw or "{}"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError("the meta form field is not valid JSON") from exc
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise InvalidInputError(
            "the meta form field does not match its schema", details=details
        ) from exc


def _declared_type(upload: UploadFile, meta: StampMeta) -> MediaType | None:
    """What the client says the file is: meta first, then the part's Content-Type, then
    the file name's extension. Contradictions between them are the client's error."""
    claims: list[MediaType] = []
    for value in (meta.media_type, (upload.content_type or "").split(";")[0].strip()):
        if value and value not in _GENERIC_TYPES:
            try:
                claims.append(MediaType(value))
            except ValueError as exc:
                raise UnsupportedMediaTypeError(f"unsupported media type {value}") from exc
    by_extension = MediaType.parse(PurePosixPath(upload.filename or "").suffix or None)
    if by_extension is not None:
        claims.append(by_extension)
    text_claims = {c for c in claims if c in (MediaType.TEXT, MediaType.MARKDOWN)}
    # Markdown is text: a .md file sent as text/plain is not a contradiction.
    distinct = set(claims) - ({MediaType.TEXT} if MediaType.MARKDOWN in text_claims else set())
    if len(distinct) > 1:
        raise UnsupportedMediaTypeError(
            "the declared types contradict each other",
            details={"declared": sorted(str(c) for c in distinct)},
        )
    return distinct.pop() if distinct else None


@router.post(
    "/stamp", status_code=201, response_model=GenerationPublic, responses=ACCEPTED_RESPONSES
)
def stamp(
    principal: GenerateKey,
    policies: TenantPoliciesDep,
    keys: IdempotencyDep,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="The content to moderate and stamp.")],
    meta: Annotated[str, Form(description="JSON object of optional settings.")] = "{}",
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Moderate → review → stamp → ledger content made elsewhere; answers like a generation."""
    parsed = _parse_meta(meta)
    data = file.file.read()
    # The same request: the same file, the same meta and the same declared type and name.
    request_digest = hashlib.sha256()
    for part in (parsed.model_dump_json(), file.content_type or "", file.filename or ""):
        request_digest.update(part.encode() + b"\x00")
    request_digest.update(hashlib.sha256(data).digest())
    return run_once(
        keys,
        IdempotentRequest(
            principal.tenant_id, "stamp", idempotency_key, request_digest.hexdigest()
        ),
        lambda: _stamp(principal, policies, runtime, file, parsed, data),
        runtime,
    )


def _stamp(
    principal: Principal,
    policies: TenantPolicies,
    runtime: Runtime,
    file: UploadFile,
    parsed: StampMeta,
    data: bytes,
) -> Generation:
    runtime.webhooks.check_url(parsed.callback_url)
    limits = runtime.settings.limits
    opened = open_media(
        data,
        _declared_type(file, parsed),
        max_bytes=limits.max_upload_bytes,
        max_image_pixels=limits.max_image_pixels,
    )
    kind = _KIND_BY_TYPE[opened.media_type]
    if parsed.kind is not None and parsed.kind is not kind:
        raise InvalidInputError(
            f"meta.kind is {parsed.kind.value} but the file is {opened.media_type.value}"
        )
    order = StampOrder(
        tenant_id=principal.tenant_id,
        kind=kind,
        data=data,
        media_type=opened.media_type.value,
        policy=policies.for_request(principal, parsed.policy),
        actor=f"key:{principal.key_id}",
        label_language=parsed.label_language,
        callback_url=parsed.callback_url,
        prompt=parsed.prompt,
        meta={"source": parsed.source or "external", "filename": file.filename or ""},
    )
    generation = runtime.execution.submit_upload(order)
    runtime.metrics.generations.labels(generation.kind, generation.status).inc()
    return generation
