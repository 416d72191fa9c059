"""The tenant's moderation policy, set by its admin: ``GET/PUT /v1/policy``.

The admin picks the policy every request of the tenant runs under and the short list of
other policies a request may name (``policy`` on ``/v1/generations`` or in
``/v1/stamp``'s meta); anything else is 403 ``policy_not_allowed``. Each change bumps
the tenant's policy version and is ledgered as an admin action (hashes and names only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha256
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from common.errors import ConfigurationError, NotFoundError
from gateway.adapters.moderation import EngineModeration
from gateway.auth import Principal, ensure_tenant
from gateway.db import session_scope
from gateway.deps import RuntimeDep, require
from gateway.models import Role, Tenant
from gateway.runtime import Runtime

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["policy"])

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]

_POLICY_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class TenantPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(pattern=_POLICY_NAME, description="The tenant's policy.")
    allowed_policies: list[Annotated[str, Field(pattern=_POLICY_NAME)]] = Field(
        default_factory=list,
        max_length=32,
        description="Other policies a request may name; empty: only the tenant's.",
    )


class TenantPolicyPublic(BaseModel):
    tenant_id: str
    policy: str
    policy_hash: str = Field(description="The loaded policy's content version (sha256).")
    allowed_policies: list[str]
    version: int = Field(description="Bumped by every change of this setting.")
    known_policies: list[str]


def _moderation(runtime: Runtime) -> EngineModeration:
    moderation = runtime.moderation
    if not isinstance(moderation, EngineModeration):
        raise ConfigurationError("this deployment runs without the moderation engine")
    return moderation


def _public(tenant: Tenant, moderation: EngineModeration) -> TenantPolicyPublic:
    return TenantPolicyPublic(
        tenant_id=tenant.id,
        policy=tenant.policy,
        policy_hash=moderation.policy(tenant.policy).version,
        allowed_policies=list(tenant.allowed_policies),
        version=tenant.policy_version,
        known_policies=moderation.known_policies(),
    )


@router.get("/policy", response_model=TenantPolicyPublic, summary="The tenant's policy")
def get_policy(principal: Admin, runtime: RuntimeDep) -> TenantPolicyPublic:
    with session_scope(runtime.engine) as session:
        tenant = session.get(Tenant, principal.tenant_id)
        if tenant is None:
            raise NotFoundError(f"no tenant {principal.tenant_id}")
        return _public(tenant, _moderation(runtime))


@router.put(
    "/policy",
    response_model=TenantPolicyPublic,
    summary="Set the tenant's policy and the policies a request may name",
)
def put_policy(
    body: TenantPolicyUpdate, principal: Admin, runtime: RuntimeDep
) -> TenantPolicyPublic:
    moderation = _moderation(runtime)
    for name in (body.policy, *body.allowed_policies):
        moderation.policy(name)  # unknown or malformed: 422 naming the known ones
    allowed = sorted(set(body.allowed_policies) - {body.policy})
    with session_scope(runtime.engine) as session:
        tenant = ensure_tenant(session, principal.tenant_id, runtime.settings.default_policy)
        tenant.policy, tenant.allowed_policies = body.policy, allowed
        tenant.policy_version += 1
        session.add(tenant)
        session.commit()
        session.refresh(tenant)
        public = _public(tenant, moderation)
    runtime.principals.forget_tenant(principal.tenant_id)
    runtime.ledger.append(_admin_action_record(principal, public))
    return public


def _admin_action_record(principal: Principal, public: TenantPolicyPublic) -> dict[str, Any]:
    setting = f"{public.policy}|{','.join(public.allowed_policies)}".encode()
    return {
        "type": "admin_action",
        "generation_id": f"tenant_policy_v{public.version}",
        "tenant": principal.tenant_id,
        "actor": f"key:{principal.key_id}",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "policy_version": public.policy_hash,
        "attrs": {"action": "policy.set", "setting_sha256": sha256(setting).hexdigest()},
    }
