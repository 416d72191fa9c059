"""The tenant's moderation policy, set by its admin: ``GET/PUT /v1/policy``.

The admin picks (or uploads, as YAML) the policy every request of the tenant runs under
and the short list of
other policies a request may name (``policy`` on ``/v1/generations`` or in
``/v1/stamp``'s meta); anything else is 403 ``policy_not_allowed``. Each change bumps
the tenant's policy version and is ledgered as an admin action (hashes and names only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha256
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.errors import ConfigurationError, NotFoundError
from gateway.adapters.moderation import (
    EngineModeration,
    InvalidPolicyError,
    UnknownPolicyError,
    is_custom_policy_of,
)
from gateway.auth import Principal, ensure_tenant
from gateway.db import session_scope
from gateway.deps import RuntimeDep, require
from gateway.models import Role, Tenant
from gateway.runtime import Runtime

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["policy"])

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]

_POLICY_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


_MAX_POLICY_YAML_CHARS = 64_000  # the shipped policies are under 8,000
_MAX_POLICY_YAML_DEPTH = 16  # they nest 5 levels


class TenantPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str | None = Field(
        default=None,
        pattern=_POLICY_NAME,
        description="A known policy (shipped, the operator's, or one of this tenant's "
        "uploads) to use; give either this or yaml.",
    )
    yaml: str | None = Field(
        default=None,
        max_length=_MAX_POLICY_YAML_CHARS,
        description="A custom policy in the shipped policies' YAML format: validated, kept "
        "as a new version, and made the tenant's policy.",
    )
    allowed_policies: list[Annotated[str, Field(pattern=_POLICY_NAME)]] = Field(
        default_factory=list,
        max_length=32,
        description="Other policies a request may name; empty: only the tenant's.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> TenantPolicyUpdate:
        if (self.policy is None) == (self.yaml is None):
            raise ValueError("give either policy (a name) or yaml (a custom policy)")
        return self


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
    for name in body.allowed_policies:
        _check_usable(moderation, name, principal.tenant_id)
    with session_scope(runtime.engine) as session:
        tenant = ensure_tenant(session, principal.tenant_id, runtime.settings.default_policy)
        version = tenant.policy_version + 1
        chosen = _chosen_policy(moderation, body, principal.tenant_id, version)
        tenant.policy = chosen
        tenant.allowed_policies = sorted(set(body.allowed_policies) - {chosen})
        tenant.policy_version = version
        session.add(tenant)
        session.commit()
        session.refresh(tenant)
        public = _public(tenant, moderation)
    runtime.principals.forget_tenant(principal.tenant_id)
    runtime.ledger.append(_admin_action_record(principal, public))
    return public


def _check_usable(moderation: EngineModeration, name: str, tenant_id: str) -> None:
    """A known policy, or one of this tenant's own uploads (never another tenant's)."""
    if name.startswith("custom-") and not is_custom_policy_of(name, tenant_id):
        raise UnknownPolicyError(f"unknown policy {name!r}")
    moderation.policy(name)  # unknown or malformed: 422 naming the known ones


def _chosen_policy(
    moderation: EngineModeration, body: TenantPolicyUpdate, tenant_id: str, version: int
) -> str:
    if body.policy is not None:
        _check_usable(moderation, body.policy, tenant_id)
        return body.policy
    assert body.yaml is not None  # the model validator asks for one of the two
    _check_plain_yaml(body.yaml)
    return moderation.save_custom_policy(tenant_id, version, body.yaml)


def _check_plain_yaml(text: str) -> None:
    """Refuse what a policy never needs and an attacker would use: aliases (the
    "billion laughs" expansion) and deep nesting (recursion in the constructor)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise InvalidPolicyError("the policy YAML may not use anchors or aliases")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > _MAX_POLICY_YAML_DEPTH:
                    raise InvalidPolicyError(
                        f"the policy YAML nests deeper than {_MAX_POLICY_YAML_DEPTH} levels"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise InvalidPolicyError(f"the policy is not valid YAML: {exc}") from exc


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
