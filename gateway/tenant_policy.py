"""The moderation policy each tenant runs under: read, set by its admin, chosen per request.

A tenant's admin picks a policy (shipped, the operator's, or an uploaded YAML) and the
short list of others a request may name; a caller never weakens its own tenant's policy::

    policies = TenantPolicies(engine, moderation, invalidations, ledger, "cn-marketing")
    policies.for_request(principal, requested=None)      # the tenant's policy name
    policies.for_request(principal, requested="eu-general")  # 403 unless allowed
    policies.update(principal, PolicyChange(policy="cn-strict", allowed_policies=()))

Every change bumps the tenant's policy version, is ledgered as an admin action (hashes and
names only) and is published on the invalidation bus: every process sharing it forgets the
keys it cached with the old policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256

import yaml
from sqlalchemy.engine import Engine

from common.errors import NotFoundError, PermissionDeniedError
from common.types import utc_timestamp
from gateway.adapters.moderation import (
    EngineModeration,
    InvalidPolicyError,
    UnknownPolicyError,
    is_custom_policy_of,
)
from gateway.auth import Principal, ensure_tenant
from gateway.db import session_scope
from gateway.invalidation import Invalidations, Topic
from gateway.models import Tenant
from gateway.ports import LedgerEvent, LedgerPort

__all__ = [
    "PolicyChange",
    "PolicyNotAllowedError",
    "TenantPolicies",
    "TenantPolicyState",
    "tenant_policy",
]

MAX_POLICY_YAML_DEPTH = 16  # the shipped policies nest 5 levels


class PolicyNotAllowedError(PermissionDeniedError):
    code = "policy_not_allowed"


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """What an admin sets: a policy by name or as YAML (one of the two), and the others a
    request may name."""

    policy: str | None
    yaml: str | None
    allowed_policies: Sequence[str]


@dataclass(frozen=True, slots=True)
class TenantPolicyState:
    tenant_id: str
    policy: str
    policy_hash: str  # the loaded policy's content version (sha256)
    allowed_policies: list[str]
    version: int  # bumped by every change
    known_policies: list[str]


def tenant_policy(engine: Engine, tenant_id: str, default: str) -> str:
    """The tenant's policy name as stored (``default`` for a tenant not created yet)."""
    with session_scope(engine) as session:
        tenant = session.get(Tenant, tenant_id)
    return tenant.policy if tenant else default


class TenantPolicies:
    def __init__(
        self,
        engine: Engine,
        moderation: EngineModeration,
        invalidations: Invalidations,
        ledger: LedgerPort,
        default_policy: str,
    ) -> None:
        self._engine = engine
        self._moderation = moderation
        self._invalidations = invalidations
        self._ledger = ledger
        self._default_policy = default_policy

    def of(self, principal: Principal) -> str:
        """The caller's tenant policy: read with the key when it was authenticated."""
        return principal.policy or tenant_policy(
            self._engine, principal.tenant_id, self._default_policy
        )

    def for_request(self, principal: Principal, requested: str | None) -> str:
        """The policy one request runs under: the tenant's, or one its admin allowed."""
        current = self.of(principal)
        if requested is None or requested == current:
            return current
        with session_scope(self._engine) as session:
            tenant = session.get(Tenant, principal.tenant_id)
        allowed = list(tenant.allowed_policies) if tenant else []
        if requested not in allowed:
            raise PolicyNotAllowedError(
                f"policy {requested!r} is not allowed for this tenant",
                details={"tenant_policy": current, "allowed": allowed},
            )
        return requested

    def current(self, tenant_id: str) -> TenantPolicyState:
        with session_scope(self._engine) as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFoundError(f"no tenant {tenant_id}")
            return self._state(tenant)

    def update(self, principal: Principal, change: PolicyChange) -> TenantPolicyState:
        """Validate and apply ``change``; 422 for an unknown or malformed policy."""
        for name in change.allowed_policies:
            self._check_usable(name, principal.tenant_id)
        with session_scope(self._engine) as session:
            tenant = ensure_tenant(session, principal.tenant_id, self._default_policy)
            version = tenant.policy_version + 1
            chosen = self._chosen_policy(change, principal.tenant_id, version)
            tenant.policy = chosen
            tenant.allowed_policies = sorted(set(change.allowed_policies) - {chosen})
            tenant.policy_version = version
            session.add(tenant)
            session.commit()
            session.refresh(tenant)
            state = self._state(tenant)
        # Cached principals carry the policy they were authenticated with (every process).
        self._invalidations.publish(Topic.TENANT_POLICY, principal.tenant_id)
        self._ledger.append(_admin_action_record(principal, state))
        return state

    def _state(self, tenant: Tenant) -> TenantPolicyState:
        return TenantPolicyState(
            tenant_id=tenant.id,
            policy=tenant.policy,
            policy_hash=self._moderation.policy(tenant.policy).version,
            allowed_policies=list(tenant.allowed_policies),
            version=tenant.policy_version,
            known_policies=self._moderation.known_policies(),
        )

    def _check_usable(self, name: str, tenant_id: str) -> None:
        """A known policy, or one of this tenant's own uploads (never another tenant's)."""
        if name.startswith("custom-") and not is_custom_policy_of(name, tenant_id):
            raise UnknownPolicyError(f"unknown policy {name!r}")
        self._moderation.policy(name)  # unknown or malformed: 422 naming the known ones

    def _chosen_policy(self, change: PolicyChange, tenant_id: str, version: int) -> str:
        if change.policy is not None:
            self._check_usable(change.policy, tenant_id)
            return change.policy
        if change.yaml is None:
            raise InvalidPolicyError("give either policy (a name) or yaml (a custom policy)")
        _check_plain_yaml(change.yaml)
        return self._moderation.save_custom_policy(tenant_id, version, change.yaml)


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
                if depth > MAX_POLICY_YAML_DEPTH:
                    raise InvalidPolicyError(
                        f"the policy YAML nests deeper than {MAX_POLICY_YAML_DEPTH} levels"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise InvalidPolicyError(f"the policy is not valid YAML: {exc}") from exc


def _admin_action_record(principal: Principal, state: TenantPolicyState) -> LedgerEvent:
    setting = f"{state.policy}|{','.join(state.allowed_policies)}".encode()
    return LedgerEvent(
        type="admin_action",
        generation_id=f"tenant_policy_v{state.version}",
        tenant_id=principal.tenant_id,
        actor=f"key:{principal.key_id}",
        time=utc_timestamp(datetime.now(UTC).replace(microsecond=0)),
        policy_version=state.policy_hash,
        attrs={"action": "policy.set", "setting_sha256": sha256(setting).hexdigest()},
    )
