"""Admin endpoints for the tenant's webhooks: its signing secret and the delivery log.

The secret is shown once — by the first ``GET /v1/webhooks/secret`` after it was created,
or in the answer of ``POST /v1/webhooks/secret/rotate`` — and refused afterwards (409
``webhook_secret_already_shown``): like an API key, it is not kept anywhere a later
reader could fetch it from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.deps import AdminKey, RuntimeDep
from gateway.models import WebhookDelivery
from gateway.webhooks.store import RevealedSecret

__all__ = ["router"]

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookSecretPublic(BaseModel):
    secret: str = Field(description="The signing secret; shown only in this response.")
    created_at: datetime
    previous_valid_until: datetime | None = Field(
        description="Until then deliveries also carry a signature with the previous secret."
    )


class DeliveryPublic(BaseModel):
    delivery_id: str = Field(description="The same on every attempt of one delivery.")
    generation_id: str | None
    event: str
    url: str
    attempt: int
    address: str | None = Field(description="The checked IP address connected to.")
    delivered: bool
    status_code: int | None
    error: str | None
    created_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None


def _secret_public(shown: RevealedSecret) -> WebhookSecretPublic:
    return WebhookSecretPublic(
        secret=shown.secret,
        created_at=shown.created_at,
        previous_valid_until=shown.previous_valid_until,
    )


def _delivery_public(row: WebhookDelivery) -> DeliveryPublic:
    return DeliveryPublic.model_validate(row, from_attributes=True)


_SHOWN_ONCE: dict[int | str, dict[str, Any]] = {
    409: {"description": "Already shown; rotate to get a new one"}
}


@router.get(
    "/secret",
    response_model=WebhookSecretPublic,
    responses=_SHOWN_ONCE,
    summary="The webhook signing secret, once after creation or rotation",
)
def read_secret(principal: AdminKey, runtime: RuntimeDep) -> WebhookSecretPublic:
    return _secret_public(runtime.webhooks.store.reveal(principal.tenant_id))


@router.post(
    "/secret/rotate",
    response_model=WebhookSecretPublic,
    summary="Replace the signing secret; the old one signs too during the grace period",
)
def rotate_secret(principal: AdminKey, runtime: RuntimeDep) -> WebhookSecretPublic:
    return _secret_public(runtime.webhooks.store.rotate(principal.tenant_id))


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    summary="Webhook delivery attempts, newest first",
)
def list_deliveries(
    principal: AdminKey,
    runtime: RuntimeDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    rows, next_cursor = runtime.webhooks.log.list(principal.tenant_id, cursor, limit)
    return DeliveryPage(items=[_delivery_public(r) for r in rows], next_cursor=next_cursor)
