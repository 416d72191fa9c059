"""API keys: creation, salted hashing, verification, and role checks.

A key reads ``aigc_<key id>_<secret>``. The key id is public and indexes the row; the
secret is 32 random bytes, stored only as SHA-256(salt ‖ secret). A fast hash is right
here (unlike passwords): the secret has 256 bits of entropy, so there is nothing to
brute-force, and every request pays for the check.

    issued = create_api_key(session, tenant_id="acme", role=Role.GENERATE)
    print(issued.plain_key)          # shown once
    principal = authenticate(session, issued.plain_key)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from common.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from common.sqltable import table_of
from common.types import TenantId
from gateway.invalidation import Invalidations, Topic
from gateway.models import ApiKey, Role, Tenant, utcnow

__all__ = [
    "IssuedKey",
    "Principal",
    "PrincipalCache",
    "authenticate",
    "create_api_key",
    "ensure_tenant",
    "list_api_keys",
    "require_role",
    "revoke_api_key",
]

_PREFIX = "aigc"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's tenant and role."""

    key_id: str
    tenant_id: TenantId
    role: Role
    policy: str | None = None  # the tenant's policy, read with the key in one query
    label: str = ""  # the admin's name for the key; for reviewers, the person holding it

    def has_role(self, *roles: Role) -> bool:
        if self.role is Role.SENIOR and Role.REVIEW in roles:
            return True  # a senior reviewer is a reviewer first
        return self.role is Role.ADMIN or self.role in roles

    @property
    def is_senior_reviewer(self) -> bool:
        return self.role in (Role.SENIOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: str
    tenant_id: str
    role: Role
    plain_key: str


def _hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}{secret}".encode()).hexdigest()


def ensure_tenant(session: Session, tenant_id: str, default_policy: str) -> Tenant:
    """Return the tenant, creating it with the default policy if it is new."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        tenant = Tenant(id=tenant_id, policy=default_policy)
        session.add(tenant)
        session.flush()
    return tenant


def create_api_key(session: Session, tenant_id: str, role: Role, label: str = "") -> IssuedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    session.add(
        ApiKey(
            id=key_id,
            tenant_id=tenant_id,
            role=role.value,
            salt=salt,
            secret_hash=_hash_secret(salt, secret),
            label=label,
        )
    )
    session.flush()
    return IssuedKey(key_id, tenant_id, role, f"{_PREFIX}_{key_id}_{secret}")


def _split_key(plain_key: str) -> tuple[str, str] | None:
    parts = plain_key.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def authenticate(db: Session | Connection, plain_key: str) -> Principal:
    """The principal for a presented key; ``AuthenticationError`` for anything else."""
    split = _split_key(plain_key)
    found = None
    if split is not None:
        found = db.execute(_KEY_LOOKUP, {"key_id": split[0]}).first()
    if split is None or found is None or found.revoked_at is not None:
        raise AuthenticationError("invalid or revoked API key")
    if not hmac.compare_digest(found.secret_hash, _hash_secret(found.salt, split[1])):
        raise AuthenticationError("invalid or revoked API key")
    return Principal(
        key_id=split[0],
        tenant_id=found.tenant_id,
        role=Role(found.role),
        policy=found.policy,
        label=found.label,
    )


_KEYS = table_of(ApiKey)
_TENANTS = table_of(Tenant)
# Every authenticated request runs this: one prebuilt Core statement, no ORM objects.
_KEY_LOOKUP = (
    sa.select(
        _KEYS.c.tenant_id,
        _KEYS.c.role,
        _KEYS.c.salt,
        _KEYS.c.secret_hash,
        _KEYS.c.revoked_at,
        _KEYS.c.label,
        _TENANTS.c.policy,
    )
    .join_from(_KEYS, _TENANTS, _TENANTS.c.id == _KEYS.c.tenant_id)
    .where(_KEYS.c.id == sa.bindparam("key_id"))
)


class PrincipalCache:
    """Recently authenticated keys, so that a busy key costs no query per request.

    Entries live ``ttl_s`` seconds. A revoked key (and every key of a tenant whose policy
    changed) is forgotten through the ``Invalidations`` bus (``listen``): at once in the
    process that made the change, and in the others as soon as the message arrives
    when they share ``redis_url``; without it, or for a change the bus never saw,
    within ``ttl_s``. Entries are keyed by a digest of the presented key, never the
    key, and only successful lookups are kept, so wrong keys always reach the database.
    """

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        # Misses still being looked up → the invalidation count when they missed (put).
        self._pending: dict[bytes, int] = {}
        self._invalidations = 0
        self._lock = threading.Lock()

    def listen(self, bus: Invalidations) -> None:
        """Forget revoked keys and the keys of a tenant whose policy changed."""
        bus.register(Topic.API_KEY, self.forget_key, clear=self.clear)
        bus.register(Topic.TENANT_POLICY, self.forget_tenant, clear=self.clear)

    def get(self, plain_key: str) -> Principal | None:
        if self.ttl_s <= 0:
            return None
        digest = _cache_digest(plain_key)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and self._clock() - entry[0] <= self.ttl_s:
                return entry[1]
            self._entries.pop(digest, None)
            self._note_miss(digest)
            return None

    def put(self, plain_key: str, principal: Principal) -> None:
        if self.ttl_s <= 0:
            return
        digest = _cache_digest(plain_key)
        with self._lock:
            missed_at = self._pending.pop(digest, self._invalidations)
            if missed_at != self._invalidations:
                # Something was forgotten while this key was being looked up: the row
                # read may predate a revocation. Not remembered; the next request reads.
                return
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest
            self._entries[digest] = (self._clock(), principal)

    def forget_key(self, key_id: str) -> None:
        self._forget(lambda principal: principal.key_id == key_id)

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop the tenant's keys: their cached principal carries the tenant's policy."""
        self._forget(lambda principal: principal.tenant_id == tenant_id)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._invalidations += 1

    def _forget(self, matches: Callable[[Principal], bool]) -> None:
        with self._lock:
            stale = [d for d, (_, p) in self._entries.items() if matches(p)]
            for digest in stale:
                del self._entries[digest]
            self._invalidations += 1

    def _note_miss(self, digest: bytes) -> None:
        # Bounded like the entries: wrong keys miss and are never put.
        if len(self._pending) >= self.max_entries:
            del self._pending[next(iter(self._pending))]
        self._pending[digest] = self._invalidations


def _cache_digest(plain_key: str) -> bytes:
    return hashlib.sha256(plain_key.encode("utf-8", "surrogatepass")).digest()


def require_role(principal: Principal, *roles: Role) -> None:
    if not principal.has_role(*roles):
        wanted = ", ".join(r.value for r in roles)
        raise PermissionDeniedError(
            f"this key has role '{principal.role.value}'; this operation needs {wanted} or admin"
        )


def list_api_keys(session: Session, tenant_id: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(col(ApiKey.created_at))
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    return list(session.exec(query).all())


def revoke_api_key(session: Session, key_id: str, tenant_id: str | None = None) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFoundError(f"no API key with id {key_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row
