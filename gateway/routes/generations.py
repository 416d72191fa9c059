"""Native generation API: create, read, list, and fetch stamped content."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from common.errors import ConflictError, NotFoundError, PayloadTooLargeError
from common.types import ContentKind
from gateway.auth import Principal
from gateway.deps import (
    ContentReader,
    GenerateKey,
    IdempotencyDep,
    IdempotencyKeyHeader,
    RuntimeDep,
    TenantPoliciesDep,
)
from gateway.idempotency import REPLAYED_HEADER, IdempotencyKeys
from gateway.models import Generation, GenerationStatus
from gateway.pipeline import GenerationOrder
from gateway.queries import get_generation, list_generations, pipeline_events
from gateway.runtime import Runtime
from gateway.schemas import (
    GenerationCreate,
    GenerationPublic,
    ReviewVotePublic,
    generation_public,
)
from gateway.tenant_policy import TenantPolicies

__all__ = ["IdempotentRequest", "generation_response", "public_view", "router", "run_once"]

router = APIRouter(prefix="/v1/generations", tags=["generations"])


def public_view(runtime: Runtime, generation: Generation) -> GenerationPublic:
    text = None
    if generation.kind == ContentKind.TEXT.value and generation.status == "released":
        text = runtime.store.read(generation.artifact_path or "").decode("utf-8")
    return generation_public(generation, runtime.settings.public_base_url, text)


def generation_response(
    runtime: Runtime, generation: Generation, status_code: int = 200
) -> Response:
    """A generation as the JSON of ``GenerationPublic``, already validated by building it.

    Returned as a ``Response`` because for a plain ``def`` endpoint FastAPI re-validates
    a returned model on the thread pool: one more thread hop per request, on the hottest
    routes, for a model that was just constructed. The routes still declare
    ``response_model`` so that the OpenAPI document describes this body.
    """
    body = public_view(runtime, generation).model_dump_json()
    return Response(body, status_code=status_code, media_type="application/json")


def check_prompt_length(runtime: Runtime, prompt: str) -> None:
    limit = runtime.settings.limits.max_prompt_chars
    if len(prompt) > limit:
        raise PayloadTooLargeError(
            f"prompt has {len(prompt)} characters; the limit is {limit}",
            details={"limit_chars": limit},
        )


# In Celery mode the native endpoints answer before the work is done.
ACCEPTED_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": GenerationPublic,
        "description": "Queued for a worker (AIGC_EXECUTION=celery); `Location` is the "
        "generation to poll, whose status moves queued → running → its final state",
    }
}


@router.post("", status_code=201, response_model=GenerationPublic, responses=ACCEPTED_RESPONSES)
def create_generation(
    body: GenerationCreate,
    principal: GenerateKey,
    policies: TenantPoliciesDep,
    keys: IdempotencyDep,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Moderate the prompt, generate, moderate the output, then release, hold or block."""
    body_sha256 = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    return run_once(
        keys,
        IdempotentRequest(principal.tenant_id, "generations", idempotency_key, body_sha256),
        lambda: _generate(body, principal, policies, runtime),
        runtime,
    )


def _generate(
    body: GenerationCreate,
    principal: Principal,
    policies: TenantPolicies,
    runtime: Runtime,
) -> Generation:
    check_prompt_length(runtime, body.prompt)
    runtime.webhooks.check_url(body.callback_url)
    policy = policies.for_request(principal, body.policy)
    order = GenerationOrder(
        tenant_id=principal.tenant_id,
        kind=body.kind,
        prompt=body.prompt,
        policy=policy,
        actor=f"key:{principal.key_id}",
        generator=body.generator,
        params=body.params,
        label_language=body.label_language or "zh",
        callback_url=body.callback_url,
        output_format=body.output_format,
    )
    generation = runtime.execution.submit_generation(order)
    runtime.metrics.generations.labels(generation.kind, generation.status).inc()
    return generation


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    tenant_id: str
    route: str  # "generations" | "stamp"
    key: str | None  # the Idempotency-Key header, if sent
    body_sha256: str


def run_once(
    keys: IdempotencyKeys,
    request: IdempotentRequest,
    create: Callable[[], Generation],
    runtime: Runtime,
) -> Response:
    """Create a generation (201; 202 once queued in Celery mode), or — for a key seen
    before — answer with the one its first request made (``Idempotent-Replayed: true``)."""
    if request.key is None:
        return _created(runtime, create())
    earlier = keys.claim(request.tenant_id, request.route, request.key, request.body_sha256)
    if earlier is not None:
        replayed = _created(runtime, get_generation(runtime.engine, request.tenant_id, earlier))
        replayed.headers[REPLAYED_HEADER] = "true"
        return replayed
    try:
        generation = create()
    except BaseException:
        keys.abandon(request.tenant_id, request.route, request.key)
        raise
    keys.complete(request.tenant_id, request.route, request.key, generation.id)
    return _created(runtime, generation)


def _created(runtime: Runtime, generation: Generation) -> Response:
    """201 with the generation, or 202 with where to poll while a worker has it."""
    if generation.status not in (GenerationStatus.QUEUED, GenerationStatus.RUNNING):
        return generation_response(runtime, generation, status_code=201)
    response = generation_response(runtime, generation, status_code=202)
    response.headers["Location"] = (
        f"{runtime.settings.public_base_url}/v1/generations/{generation.id}"
    )
    return response


@router.get("", summary="List generations")
def list_all(
    principal: ContentReader,
    runtime: RuntimeDep,
    status: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    rows, next_cursor = list_generations(runtime.engine, principal.tenant_id, status, cursor, limit)
    items = [generation_public(g, runtime.settings.public_base_url) for g in rows]
    return {"items": [i.model_dump(mode="json") for i in items], "next_cursor": next_cursor}


@router.get("/{generation_id}", response_model=GenerationPublic)
def read_generation(generation_id: str, principal: ContentReader, runtime: RuntimeDep) -> Response:
    generation = get_generation(runtime.engine, principal.tenant_id, generation_id)
    view = public_view(runtime, generation)
    if view.review_task_id is not None:
        view.review_votes = _review_votes(runtime, generation)
    return Response(view.model_dump_json(), media_type="application/json")


def _review_votes(runtime: Runtime, generation: Generation) -> list[ReviewVotePublic]:
    votes = runtime.review_service.votes_for_generation(generation.id, generation.tenant_id)
    return [
        ReviewVotePublic(
            task_id=vote.task_id,
            queue=vote.queue,
            reviewer=vote.reviewer or "",
            decision=vote.decision.value if vote.decision else "",
            reason_code=vote.reason_code,
            at=vote.at,
        )
        for vote in votes
    ]


@router.get("/{generation_id}/events", summary="Pipeline events of one generation")
def read_events(
    generation_id: str, principal: ContentReader, runtime: RuntimeDep
) -> dict[str, Any]:
    get_generation(runtime.engine, principal.tenant_id, generation_id)
    events = pipeline_events(runtime.engine, generation_id)
    return {
        "items": [e.model_dump(mode="json", exclude={"id"}) for e in events],
        "next_cursor": None,
    }


_BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
# What a released artifact can be: the generators' and /v1/stamp's output formats.
_ARTIFACT_MEDIA_TYPES: dict[str, Any] = dict.fromkeys(
    (
        "image/png",
        "image/jpeg",
        "image/webp",
        "text/plain",
        "text/markdown",
        "model/gltf-binary",
        "application/octet-stream",
    ),
    _BINARY,
)


@router.get(
    "/{generation_id}/content",
    response_class=Response,
    responses={200: {"content": _ARTIFACT_MEDIA_TYPES, "description": "The stamped bytes"}},
    summary="The stamped artifact (only once released)",
)
def read_content(generation_id: str, principal: ContentReader, runtime: RuntimeDep) -> Response:
    generation = get_generation(runtime.engine, principal.tenant_id, generation_id)
    if generation.status != "released" or not generation.artifact_path:
        raise ConflictError(
            f"generation {generation_id} is {generation.status}; content is served once released",
            details={"status": generation.status},
        )
    media_type = generation.media_type or "application/octet-stream"
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    return Response(runtime.store.read(generation.artifact_path), media_type=media_type)


@router.get(
    "/{generation_id}/manifest",
    response_class=Response,
    responses={200: {"content": {"application/c2pa": _BINARY}, "description": "JUMBF"}},
    summary="The sidecar C2PA manifest (text and 3D assets)",
)
def read_manifest(generation_id: str, principal: ContentReader, runtime: RuntimeDep) -> Response:
    generation = get_generation(runtime.engine, principal.tenant_id, generation_id)
    if not generation.manifest_path:
        raise NotFoundError(f"generation {generation_id} has no sidecar manifest")
    return Response(runtime.store.read(generation.manifest_path), media_type="application/c2pa")
