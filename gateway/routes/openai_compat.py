"""OpenAI-compatible endpoints, so an unchanged OpenAI SDK can call the gateway.

``base_url`` → ``http://host:port/v1``. Every response carries an extra top-level field
``aigc`` with the generation id, status and provenance. Output held for review answers
``content: ""`` with ``finish_reason: "content_filter"``; a blocked request answers 400
with ``code: "content_policy_violation"``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from common.errors import InvalidInputError
from common.types import ContentKind, Language
from gateway.deps import GenerateKey, RuntimeDep, TenantPolicy
from gateway.models import Generation
from gateway.pipeline import GenerationOrder
from gateway.routes.generations import check_prompt_length, public_view
from gateway.runtime import Runtime
from gateway.schemas import GenerationPublic

__all__ = ["ContentPolicyViolationError", "router"]

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


class ContentPolicyViolationError(InvalidInputError):
    http_status = 400
    code = "content_policy_violation"


def _encodable(value: str | None) -> str | None:
    """Text that UTF-8 can carry: a lone surrogate (JSON's "\\ud800") cannot be stored,
    moderated or generated from, so it is refused here rather than failing a stage."""
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("the text holds a lone surrogate, which is not Unicode text") from exc
    return value


EncodableText = Annotated[str, AfterValidator(_encodable)]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: EncodableText | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: EncodableText | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # OpenAI's SDK sends fields we do not use (user, metadata …): ignore, don't refuse.
    model_config = ConfigDict(extra="ignore")

    model: str = "default"
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    # Our extra body field (the SDK's ``extra_body``): English copy gets an English label.
    label_language: Language = Language.ZH


def _prompt_of(messages: list[ChatMessage]) -> str:
    # The tiny default LM continues text: the conversation becomes one prompt, the
    # newest user turn last, so that is what it continues.
    parts = [m.text() for m in messages if m.role in ("system", "developer", "user")]
    prompt = "\n".join(p for p in parts if p.strip())
    if not prompt.strip():
        raise InvalidInputError("the messages hold no text to respond to")
    return prompt


def _params_of(body: ChatCompletionRequest) -> dict[str, Any]:
    params: dict[str, Any] = {}
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None:
        params["max_new_tokens"] = max_tokens
    for name in ("temperature", "top_p", "seed"):
        value = getattr(body, name)
        if value is not None:
            params[name] = value
    return params


def _generator_name(runtime: Runtime, model: str) -> str | None:
    # "default" or any name we do not know selects the tenant's default text generator.
    return model if runtime.catalog.kind_of(model) is ContentKind.TEXT else None


def _aigc_field(generation: Generation, view: GenerationPublic) -> dict[str, Any]:
    return {
        "generation_id": generation.id,
        "status": generation.status,
        "moderation": view.moderation.model_dump(mode="json"),
        "provenance": view.provenance.model_dump(mode="json") if view.provenance else None,
        "artifact": view.artifact.model_dump(mode="json") if view.artifact else None,
    }


def _raise_if_blocked(generation: Generation) -> None:
    if generation.status == "blocked":
        raise ContentPolicyViolationError(
            "the request was blocked by the content policy",
            details={"generation_id": generation.id, "reasons": generation.meta.get("reasons", [])},
        )


# One server-sent event (data: a chat.completion.chunk JSON, or [DONE]).
_SSE_EVENT = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
}


@router.post(
    "/chat/completions",
    summary="Chat completion (OpenAI-compatible)",
    responses={
        200: {
            "description": "A completion, or with stream: true server-sent events",
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        }
    },
)
def chat_completions(
    body: ChatCompletionRequest,
    principal: GenerateKey,
    policy: TenantPolicy,
    runtime: RuntimeDep,
) -> Any:
    prompt = _prompt_of(body.messages)
    check_prompt_length(runtime, prompt)
    order = GenerationOrder(
        tenant_id=principal.tenant_id,
        kind=ContentKind.TEXT,
        prompt=prompt,
        policy=policy,
        actor=f"key:{principal.key_id}",
        generator=_generator_name(runtime, body.model),
        params=_params_of(body),
        label_language=body.label_language,
    )
    generation = runtime.execution.generate_now(order)
    runtime.metrics.generations.labels(generation.kind, generation.status).inc()
    _raise_if_blocked(generation)
    released = generation.status == "released"
    view = public_view(runtime, generation)  # reads the released text once
    content = view.output_text if released else ""
    finish_reason = (
        str(generation.meta.get("finish_reason", "stop")) if released else ("content_filter")
    )
    completion = {
        "id": f"chatcmpl-{generation.id}",
        "created": int(generation.created_at.timestamp()),
        "model": generation.generator or body.model,
        "system_fingerprint": generation.model_revision,
        "aigc": _aigc_field(generation, view),
    }
    usage = {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
    }
    if body.stream:
        return StreamingResponse(
            _stream_chunks(completion, content or "", finish_reason, usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return {
        **completion,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


def _split_for_stream(text: str, pieces: int = 8) -> list[str]:
    """At least two chunks (contract), split on characters so UTF-8 stays whole."""
    size = max(1, -(-len(text) // pieces))
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    while len(chunks) < 2:
        chunks.append("")
    return chunks


def _stream_chunks(
    completion: dict[str, Any], content: str, finish_reason: str, usage: dict[str, int]
) -> Iterator[str]:
    # The whole output was moderated and stamped before the first byte goes out.
    base = {**completion, "object": "chat.completion.chunk"}

    def event(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return f"data: {json.dumps({**base, 'choices': [choice], **extra})}\n\n"

    yield event({"role": "assistant", "content": ""}, None)
    for piece in _split_for_stream(content):
        yield event({"content": piece}, None)
    yield event({}, finish_reason, usage=usage)
    yield "data: [DONE]\n\n"


class ImageGenerationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: EncodableText = Field(min_length=1)
    model: str = "default"
    n: int = Field(default=1, ge=1, le=4)
    size: str = Field(default="512x512", pattern=r"^\d{2,5}x\d{2,5}$")
    response_format: Literal["b64_json"] = "b64_json"
    output_format: Literal["png", "jpeg", "webp"] | None = None
    seed: int | None = None
    label_language: Language = Language.ZH  # extra body field, as on chat completions


def _image_params(body: ImageGenerationRequest, index: int) -> dict[str, Any]:
    width, height = (int(v) for v in body.size.split("x"))
    params: dict[str, Any] = {"width": width, "height": height}
    if body.seed is not None:
        params["seed"] = body.seed + index  # n images from one seed: n different images
    return params


@router.post("/images/generations", summary="Image generation (OpenAI-compatible)")
def image_generations(
    body: ImageGenerationRequest,
    principal: GenerateKey,
    policy: TenantPolicy,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """Each image is its own generation: moderated, stamped (label, watermark, C2PA) and
    ledgered; ``data[i].b64_json`` is the stamped file, null while held for review."""
    check_prompt_length(runtime, body.prompt)
    generator = body.model if runtime.catalog.kind_of(body.model) is ContentKind.IMAGE else None
    orders = [
        GenerationOrder(
            tenant_id=principal.tenant_id,
            kind=ContentKind.IMAGE,
            prompt=body.prompt,
            policy=policy,
            actor=f"key:{principal.key_id}",
            generator=generator,
            params=_image_params(body, index),
            output_format=body.output_format,
            label_language=body.label_language,
        )
        for index in range(body.n)
    ]
    generations = runtime.execution.generate_all_now(orders)
    for generation in generations:
        runtime.metrics.generations.labels(generation.kind, generation.status).inc()
        _raise_if_blocked(generation)
    data = []
    for generation in generations:
        released = generation.status == "released" and generation.artifact_path
        stamped = runtime.store.read(generation.artifact_path or "") if released else None
        data.append({"b64_json": base64.b64encode(stamped).decode() if stamped else None})
    return {
        "created": int(time.time()),
        "data": data,
        "aigc": [_aigc_field(g, public_view(runtime, g)) for g in generations],
    }


@router.get("/models", summary="Configured generators (OpenAI-compatible)")
def list_models(principal: GenerateKey, runtime: RuntimeDep) -> dict[str, Any]:
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "aigc-gateway",
                "kind": str(runtime.catalog.kind_of(name)),
            }
            for name in runtime.catalog.names()
        ],
    }
