"""FastAPI dependencies: the runtime, the caller by role, and the narrow services routes use.

A route names what it needs — the caller (by role), the tenant's policy, the pipeline,
the review service, moderation's administration — instead of reaching into ``Runtime``::

    @router.post("/v1/moderations")
    def moderations(body: ..., principal: GenerateKey, policy: TenantPolicy, ...) -> ...

Each role alias is defined once here, so FastAPI resolves it once per request even when
several dependencies of one route take it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from starlette.concurrency import run_in_threadpool

from common.errors import AuthenticationError
from gateway.adapters.moderation import EngineModeration
from gateway.auth import Principal, authenticate, require_role
from gateway.db import INT32_MAX, INT64_MAX
from gateway.idempotency import IDEMPOTENCY_HEADER, KEY_PATTERN, IdempotencyKeys
from gateway.models import Role
from gateway.runtime import Runtime
from gateway.tenant_policy import TenantPolicies
from review_ui.service import ReviewService

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "AdminKey",
    "ContentReader",
    "GenerateKey",
    "HistoryReader",
    "IdempotencyDep",
    "IdempotencyKeyHeader",
    "LedgerIndexPath",
    "ModerationAdmin",
    "ReviewKey",
    "ReviewServiceDep",
    "RowIdPath",
    "RuntimeDep",
    "TenantPoliciesDep",
    "TenantPolicy",
    "get_runtime",
    "known_principal",
    "optional_principal",
    "require",
]


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency
# on the thread pool, and each such hop costs more than the work itself.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# A number beyond its column's range cannot name a row, and the database driver raises
# (OverflowError, PostgreSQL's "integer out of range": a 500) instead of answering "no
# such row". Row ids are SQL INTEGER (32-bit on PostgreSQL); ledger indices BIGINT.
RowIdPath = Annotated[int, Path(ge=1, le=INT32_MAX)]
LedgerIndexPath = Annotated[int, Path(ge=0, le=INT64_MAX)]


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <api-key>'")
    return token.strip()


async def optional_principal(request: Request) -> Principal | None:
    """The caller if a key was presented (and valid); ``None`` for anonymous calls.

    A key seen in the last ``auth_cache_s`` seconds is answered from memory, on the event
    loop; otherwise the lookup runs on the thread pool, as all database work does.
    """
    token = _bearer_token(request)
    if token is None:
        return None
    runtime: Runtime = request.app.state.runtime
    principal = runtime.principals.get(token)
    if principal is None:
        principal = await run_in_threadpool(_look_up_key, runtime, token)
        runtime.principals.put(token, principal)
    request.state.principal = principal
    return principal


def _look_up_key(runtime: Runtime, token: str) -> Principal:
    with runtime.engine.connect() as connection:
        return authenticate(connection, token)


def known_principal(principal: Principal | None) -> Principal:
    """The caller, or 401 when no key was presented."""
    if principal is None:
        raise AuthenticationError("an API key is required: send 'Authorization: Bearer <api-key>'")
    return principal


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits keys holding one of ``roles`` (or ``admin``).

    One dependency rather than a chain of them: FastAPI's resolution costs more per
    dependency than the key check itself, on every request.
    """

    async def dependency(request: Request) -> Principal:
        principal = known_principal(await optional_principal(request))
        require_role(principal, *roles)
        return principal

    return dependency


# --- callers by role (admin passes every check) ---------------------------------------

GenerateKey = Annotated[Principal, Depends(require(Role.GENERATE))]
AdminKey = Annotated[Principal, Depends(require(Role.ADMIN))]
ReviewKey = Annotated[Principal, Depends(require(Role.REVIEW))]
# Who may read a generation, its events, content and manifest.
ContentReader = Annotated[Principal, Depends(require(Role.GENERATE, Role.AUDIT, Role.REVIEW))]
# Who may read a review's decision history.
HistoryReader = Annotated[Principal, Depends(require(Role.REVIEW, Role.AUDIT))]


# --- what routes use ---------------------------------------------------------------------


async def _review_service(runtime: RuntimeDep) -> ReviewService:
    return runtime.review_service


async def _moderation_admin(runtime: RuntimeDep) -> EngineModeration:
    """The moderation engine's tenant lists, image registry and policies."""
    return runtime.moderation_admin


async def _idempotency(runtime: RuntimeDep) -> IdempotencyKeys:
    return runtime.idempotency


async def _tenant_policies(runtime: RuntimeDep) -> TenantPolicies:
    return runtime.tenant_policies


async def _tenant_policy(principal: GenerateKey, runtime: RuntimeDep) -> str:
    # The key's principal carries its tenant's policy when it was authenticated: no hop
    # to the thread pool on the hot path; only a principal without one reads the table.
    if principal.policy:
        return principal.policy
    return await run_in_threadpool(runtime.tenant_policies.of, principal)


ReviewServiceDep = Annotated[ReviewService, Depends(_review_service)]
ModerationAdmin = Annotated[EngineModeration, Depends(_moderation_admin)]
# The name of the generating caller's tenant policy (the one its admin set).
TenantPolicy = Annotated[str, Depends(_tenant_policy)]
TenantPoliciesDep = Annotated[TenantPolicies, Depends(_tenant_policies)]
IdempotencyDep = Annotated[IdempotencyKeys, Depends(_idempotency)]
# The optional ``Idempotency-Key`` header of the routes that create a generation.
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=KEY_PATTERN,
        description="Retry-safe creation: the same key and body within 24 h answer with "
        "the first request's generation; another body is 422 idempotency_key_reused.",
    ),
]
