"""Admin endpoints for API keys of the caller's tenant (create, list, revoke)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import create_api_key, ensure_tenant, list_api_keys, revoke_api_key
from gateway.db import session_scope
from gateway.deps import AdminKey, RuntimeDep
from gateway.invalidation import Topic
from gateway.models import ApiKey, Role

__all__ = ["router"]

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    label: str = Field(default="", max_length=200)


class KeyPublic(BaseModel):
    id: str
    tenant_id: str
    role: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The API key itself; shown only in this response.")


def _public(row: ApiKey) -> KeyPublic:
    return KeyPublic(
        id=row.id,
        tenant_id=row.tenant_id,
        role=row.role,
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


@router.get("", summary="List the tenant's API keys (never the keys themselves)")
def list_keys(principal: AdminKey, runtime: RuntimeDep) -> dict[str, Any]:
    with session_scope(runtime.engine) as session:
        rows = list_api_keys(session, principal.tenant_id)
    return {"items": [_public(r).model_dump(mode="json") for r in rows], "next_cursor": None}


@router.post("", status_code=201, response_model=KeyCreated, summary="Create an API key")
def create_key(body: KeyCreate, principal: AdminKey, runtime: RuntimeDep) -> KeyCreated:
    with session_scope(runtime.engine) as session:
        ensure_tenant(session, principal.tenant_id, runtime.settings.default_policy)
        issued = create_api_key(session, principal.tenant_id, body.role, body.label)
        row = session.get(ApiKey, issued.key_id)
        assert row is not None
        public = _public(row)
    return KeyCreated(**public.model_dump(), key=issued.plain_key)


@router.delete("/{key_id}", response_model=KeyPublic, summary="Revoke an API key")
def revoke_key(key_id: str, principal: AdminKey, runtime: RuntimeDep) -> KeyPublic:
    with session_scope(runtime.engine) as session:
        row = revoke_api_key(session, key_id, principal.tenant_id)
        public = _public(row)
    # Here at once; other processes when the message arrives (within auth_cache_s
    # without redis_url).
    runtime.invalidations.publish(Topic.API_KEY, key_id)
    return public
