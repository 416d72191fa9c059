"""A job's order as JSON in its row, and back (``GenerationOrder``, ``StampOrder``).

An upload's bytes are not in the row: the API process stores them in the content store
first (content-addressed) and the payload names the stored path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.errors import GatewayError, NotFoundError
from common.types import ContentKind, TenantId
from gateway.content_store import ContentStore
from gateway.jobs.models import JobTask
from gateway.pipeline import GenerationOrder, StampOrder

__all__ = ["JobPayloadLostError", "generation_payload", "order_of", "upload_payload"]


class JobPayloadLostError(GatewayError):
    """A job's order or its stored upload cannot be read back: the job fails, with this
    reason, instead of staying queued or running for ever."""

    http_status = 422
    code = "job_payload_lost"


def generation_payload(order: GenerationOrder) -> dict[str, Any]:
    return {
        "tenant_id": order.tenant_id,
        "kind": order.kind.value,
        "prompt": order.prompt,
        "policy": order.policy,
        "actor": order.actor,
        "generator": order.generator,
        "params": dict(order.params),
        "label_language": order.label_language,
        "callback_url": order.callback_url,
        "output_format": order.output_format,
    }


def upload_payload(order: StampOrder, raw_path: str) -> dict[str, Any]:
    return {
        "tenant_id": order.tenant_id,
        "kind": order.kind.value,
        "raw_path": raw_path,
        "media_type": order.media_type,
        "policy": order.policy,
        "actor": order.actor,
        "label_language": order.label_language,
        "callback_url": order.callback_url,
        "prompt": order.prompt,
        "meta": dict(order.meta),
    }


def order_of(
    task: JobTask, payload: Mapping[str, Any], store: ContentStore
) -> GenerationOrder | StampOrder | None:
    """The order a job runs; ``None`` for a release (its state is the generation's row)."""
    try:
        if task is JobTask.GENERATE:
            return _generation_order(payload)
        if task is JobTask.STAMP_UPLOAD:
            return _stamp_order(payload, store)
        return None
    except (KeyError, TypeError, ValueError) as exc:
        raise JobPayloadLostError(f"the job's order is unreadable: {exc!r}") from exc
    except NotFoundError as exc:
        raise JobPayloadLostError("the job's uploaded content is missing from the store") from exc


def _generation_order(payload: Mapping[str, Any]) -> GenerationOrder:
    return GenerationOrder(
        tenant_id=TenantId(payload["tenant_id"]),
        kind=ContentKind(payload["kind"]),
        prompt=str(payload["prompt"]),
        policy=str(payload["policy"]),
        actor=str(payload["actor"]),
        generator=payload.get("generator"),
        params=dict(payload.get("params") or {}),
        label_language=str(payload.get("label_language") or "zh"),
        callback_url=payload.get("callback_url"),
        output_format=payload.get("output_format"),
    )


def _stamp_order(payload: Mapping[str, Any], store: ContentStore) -> StampOrder:
    return StampOrder(
        tenant_id=TenantId(payload["tenant_id"]),
        kind=ContentKind(payload["kind"]),
        data=store.read(str(payload["raw_path"])),
        media_type=str(payload["media_type"]),
        policy=str(payload["policy"]),
        actor=str(payload["actor"]),
        label_language=str(payload.get("label_language") or "zh"),
        callback_url=payload.get("callback_url"),
        prompt=payload.get("prompt"),
        meta=dict(payload.get("meta") or {}),
    )
