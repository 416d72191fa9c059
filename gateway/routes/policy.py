"""The tenant's moderation policy, set by its admin: ``GET/PUT /v1/policy``.

The admin picks (or uploads, as YAML) the policy every request of the tenant runs under
and the short list of other policies a request may name (``policy`` on
``/v1/generations`` or in ``/v1/stamp``'s meta); anything else is 403
``policy_not_allowed``. The rules live in ``gateway.tenant_policy``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.deps import AdminKey, TenantPoliciesDep
from gateway.tenant_policy import PolicyChange, TenantPolicyState

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["policy"])

_POLICY_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


_MAX_POLICY_YAML_CHARS = 64_000  # the shipped policies are under 8,000


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


def _public(state: TenantPolicyState) -> TenantPolicyPublic:
    return TenantPolicyPublic(**dataclasses.asdict(state))


@router.get("/policy", response_model=TenantPolicyPublic, summary="The tenant's policy")
def get_policy(principal: AdminKey, policies: TenantPoliciesDep) -> TenantPolicyPublic:
    return _public(policies.current(principal.tenant_id))


@router.put(
    "/policy",
    response_model=TenantPolicyPublic,
    summary="Set the tenant's policy and the policies a request may name",
)
def put_policy(
    body: TenantPolicyUpdate, principal: AdminKey, policies: TenantPoliciesDep
) -> TenantPolicyPublic:
    change = PolicyChange(body.policy, body.yaml, tuple(body.allowed_policies))
    return _public(policies.update(principal, change))
