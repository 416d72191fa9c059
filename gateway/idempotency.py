"""``Idempotency-Key`` on ``POST /v1/generations`` and ``POST /v1/stamp``.

A client that retries after a timeout or a dropped connection sends the same key: within
24 hours the same key with the same body answers with the generation the first request
made (same id, ``Idempotent-Replayed: true``); the same key with another body is 422
``idempotency_key_reused``; while the first request still runs, 409
``idempotency_key_in_progress``. Keys are per tenant and per route, and shared by every
API process (a row in the database, claimed by its primary key)::

    earlier = keys.claim(tenant_id, "generations", key, body_sha256)
    if earlier is not None: ...            # replay the generation ``earlier``
    try: generation = run(); keys.complete(tenant_id, "generations", key, generation.id)
    except BaseException: keys.abandon(tenant_id, "generations", key); raise
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from common.errors import ConflictError, InvalidInputError
from common.sqltable import table_of
from gateway.models import IdempotencyRecord

__all__ = [
    "IDEMPOTENCY_HEADER",
    "KEY_PATTERN",
    "REPLAYED_HEADER",
    "IdempotencyKeyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyKeys",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII, as the IETF draft's examples (UUIDs, random tokens); stored as given.
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
KEY_TTL_S = 24 * 3600
# A claim still without its generation after this long was left by a process that died
# mid-request (its ``abandon`` never ran): free, or retries would get 409 for 24 h. Longer
# than any request runs (a synchronous image generation included).
IN_PROGRESS_TTL_S = 600

_KEYS = table_of(IdempotencyRecord)


class IdempotencyKeyReusedError(InvalidInputError):
    code = "idempotency_key_reused"


class IdempotencyKeyInProgressError(ConflictError):
    code = "idempotency_key_in_progress"


class IdempotencyKeys:
    def __init__(
        self,
        engine: Engine,
        ttl_s: int = KEY_TTL_S,
        clock: Callable[[], float] = time.time,
        in_progress_ttl_s: int = IN_PROGRESS_TTL_S,
    ) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._in_progress_ttl_s = in_progress_ttl_s
        self._clock = clock

    def claim(self, tenant_id: str, route: str, key: str, body_sha256: str) -> str | None:
        """``None`` when the key is now this request's; else the earlier generation's id.

        Raises 422 for the same key with another body, 409 while the earlier request runs.
        """
        now = int(self._clock())
        where = _row(tenant_id, route, key)
        with self._engine.begin() as connection:
            # An expired key is free again, and so is a claim its process never finished.
            expired = _KEYS.c.created_at < now - self._ttl_s
            orphaned = sa.and_(
                _KEYS.c.generation_id.is_(None),
                _KEYS.c.created_at < now - self._in_progress_ttl_s,
            )
            connection.execute(sa.delete(_KEYS).where(where, sa.or_(expired, orphaned)))
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    sa.insert(_KEYS).values(
                        tenant_id=tenant_id,
                        route=route,
                        key=key,
                        body_sha256=body_sha256,
                        generation_id=None,
                        created_at=now,
                    )
                )
            return None
        except IntegrityError:
            pass  # taken: by an earlier request, or one running now
        with self._engine.connect() as connection:
            earlier = connection.execute(sa.select(_KEYS).where(where)).first()
        if earlier is None:  # freed between our insert and this read: try once more
            return self.claim(tenant_id, route, key, body_sha256)
        if earlier.body_sha256 != body_sha256:
            raise IdempotencyKeyReusedError(
                f"this {IDEMPOTENCY_HEADER} was used with another request body",
                details={"header": IDEMPOTENCY_HEADER},
            )
        if earlier.generation_id is None:
            raise IdempotencyKeyInProgressError(
                f"a request with this {IDEMPOTENCY_HEADER} is still running; retry shortly",
                details={"header": IDEMPOTENCY_HEADER},
            )
        return str(earlier.generation_id)

    def complete(self, tenant_id: str, route: str, key: str, generation_id: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                sa.update(_KEYS)
                .where(_row(tenant_id, route, key))
                .values(generation_id=generation_id)
            )

    def abandon(self, tenant_id: str, route: str, key: str) -> None:
        """The request failed before making a generation: a retry may run it again."""
        with self._engine.begin() as connection:
            connection.execute(
                sa.delete(_KEYS).where(_row(tenant_id, route, key), _KEYS.c.generation_id.is_(None))
            )


def _row(tenant_id: str, route: str, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(_KEYS.c.tenant_id == tenant_id, _KEYS.c.route == route, _KEYS.c.key == key)
