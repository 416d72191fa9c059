"""What the webhooks keep in the database: tenant secrets, the delivery log, and pins.

- :class:`WebhookSecretStore` — each tenant's signing secret, sealed at rest, shown to
  its admin once after creation or rotation; after a rotation the previous secret keeps
  signing for a grace period.
- :class:`DeliveryLog` — one row per delivery attempt, listed newest first.
- :class:`CallbackPins` — the checked addresses of each callback URL, so that delivery
  connects where the check looked and never resolves the name again.

::

    store = WebhookSecretStore(engine, SecretSealer(master_key), initial_secret, grace_s=86400)
    store.signing_secrets("acme")   # ["<current>", "<previous, while in grace>"]
    shown = store.rotate("acme")    # shown.secret: the only time it is shown
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from common.errors import ConfigurationError, ConflictError, InvalidInputError
from common.sqltable import table_of
from gateway.db import INT32_MAX
from gateway.models import CallbackPin, WebhookDelivery, WebhookSecret, utcnow
from gateway.webhooks.attempt import DeliveryAttempt
from gateway.webhooks.targets import CallbackTarget

__all__ = [
    "CallbackPins",
    "DeliveryLog",
    "RevealedSecret",
    "SecretSealer",
    "WebhookSecretAlreadyShownError",
    "WebhookSecretStore",
]

log = logging.getLogger(__name__)

_SECRETS = table_of(WebhookSecret)
_DELIVERIES = table_of(WebhookDelivery)
_PINS = table_of(CallbackPin)
_SEAL_VERSION = "v1."
_NONCE_BYTES = 12  # AES-GCM's standard nonce (NIST SP 800-38D §8.2)


class WebhookSecretAlreadyShownError(ConflictError):
    """The secret was shown once already; only a rotation shows a secret again (409)."""

    code = "webhook_secret_already_shown"


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time this module writes is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------- sealing


class SecretSealer:
    """AES-256-GCM over each secret, the tenant id as associated data (a sealed value
    copied to another tenant's row does not open). The key comes from the webhook
    master key file: back it up with the database."""

    def __init__(self, key_source: Callable[[], bytes]) -> None:
        self._key_source = key_source

    @cached_property
    def _aead(self) -> AESGCM:
        master = self._key_source()
        return AESGCM(hmac.new(master, b"webhook-secret-sealing", hashlib.sha256).digest())

    def seal(self, tenant_id: str, secret: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), tenant_id.encode())
        return _SEAL_VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, tenant_id: str, sealed: str) -> str:
        if not sealed.startswith(_SEAL_VERSION):
            raise ConfigurationError("a stored webhook secret has an unknown format")
        raw = base64.urlsafe_b64decode(sealed.removeprefix(_SEAL_VERSION))
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], tenant_id.encode())
        except InvalidTag as exc:
            raise ConfigurationError(
                "a stored webhook secret does not open with this webhook master key"
            ) from exc
        return plain.decode()


# ---------------------------------------------------------------------- secrets


@dataclass(frozen=True, slots=True)
class RevealedSecret:
    """A secret as its admin sees it, once."""

    secret: str
    created_at: datetime
    previous_valid_until: datetime | None


class WebhookSecretStore:
    """Per-tenant signing secrets. A tenant's first secret is ``initial_secret(tenant)``
    (the one derived before secrets were stored, so deliveries made earlier and
    receivers configured with it keep verifying); its row is written on first use."""

    def __init__(
        self,
        engine: Engine,
        sealer: SecretSealer,
        initial_secret: Callable[[str], str],
        *,
        grace_s: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.sealer = sealer
        self.initial_secret = initial_secret
        self.grace_s = grace_s
        self.clock = clock

    def signing_secrets(self, tenant_id: str) -> list[str]:
        """The secrets a delivery is signed with now: the current one, then the previous
        one while its grace period lasts."""
        row = self._row(tenant_id)
        current = [self.sealer.open(tenant_id, row.secret)]
        until = row.previous_valid_until
        if row.previous_secret and until is not None and _aware(until) > self.clock():
            try:
                current.append(self.sealer.open(tenant_id, row.previous_secret))
            except ConfigurationError:
                # Rotated after the master key was lost: the new secret alone must sign,
                # or every delivery would fail until the grace period ends.
                log.warning("tenant %s: the previous webhook secret does not open", tenant_id)
        return current

    def reveal(self, tenant_id: str) -> RevealedSecret:
        """The current secret, the first time it is asked for; then 409."""
        row = self._row(tenant_id)
        with self.engine.begin() as connection:
            # A conditional UPDATE, so that two concurrent requests cannot both see it.
            claimed = connection.execute(
                sa.update(_SECRETS)
                .where(_SECRETS.c.tenant_id == tenant_id, _SECRETS.c.revealed.is_(False))
                .values(revealed=True)
            )
            if claimed.rowcount != 1:
                raise WebhookSecretAlreadyShownError(
                    "the webhook secret was already shown; rotate it "
                    "(POST /v1/webhooks/secret/rotate) to get a new one"
                )
        return self._revealed(tenant_id, row)

    def rotate(self, tenant_id: str) -> RevealedSecret:
        """A new random secret, shown in this answer only; the replaced one keeps signing
        for the grace period (only one previous secret is kept)."""
        row = self._row(tenant_id)
        now = self.clock()
        grace = timedelta(seconds=self.grace_s)
        rotated = WebhookSecret(
            tenant_id=tenant_id,
            secret=self.sealer.seal(tenant_id, secrets.token_hex(32)),
            created_at=now,
            previous_secret=row.secret if grace else None,
            previous_valid_until=now + grace if grace else None,
            revealed=True,
        )
        with self.engine.begin() as connection:
            # Compare-and-set on the sealed value: of two concurrent rotations one wins,
            # the other is told, instead of silently dropping the winner's secret.
            swapped = connection.execute(
                sa.update(_SECRETS)
                .where(_SECRETS.c.tenant_id == tenant_id, _SECRETS.c.secret == row.secret)
                .values(_values(rotated))
            )
            if swapped.rowcount != 1:
                raise ConflictError("the webhook secret was rotated concurrently; try again")
        return self._revealed(tenant_id, rotated)

    def _revealed(self, tenant_id: str, row: WebhookSecret) -> RevealedSecret:
        until = row.previous_valid_until
        return RevealedSecret(
            secret=self.sealer.open(tenant_id, row.secret),
            created_at=_aware(row.created_at),
            previous_valid_until=_aware(until) if until is not None else None,
        )

    def _row(self, tenant_id: str) -> WebhookSecret:
        """The tenant's row, written with the initial secret on first use."""
        found = self._read(tenant_id)
        if found is not None:
            return found
        initial = WebhookSecret(
            tenant_id=tenant_id,
            secret=self.sealer.seal(tenant_id, self.initial_secret(tenant_id)),
            created_at=self.clock(),
            revealed=False,
        )
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(_SECRETS).values(_values(initial)))
        except IntegrityError:  # a concurrent first use won the insert: read its row
            found = self._read(tenant_id)
            if found is None:
                raise
            return found
        return initial

    def _read(self, tenant_id: str) -> WebhookSecret | None:
        query = sa.select(_SECRETS).where(_SECRETS.c.tenant_id == tenant_id)
        with self.engine.connect() as connection:
            found = connection.execute(query).mappings().first()
        return WebhookSecret(**found) if found is not None else None


def _values(row: WebhookSecret) -> dict[str, object]:
    return {column.name: getattr(row, column.name) for column in _SECRETS.columns}


# ---------------------------------------------------------------------- delivery log


class DeliveryLog:
    """Every delivery attempt, per tenant, newest first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, tenant_id: str, attempt: DeliveryAttempt) -> None:
        row = {
            "tenant_id": tenant_id,
            "delivery_id": attempt.delivery_id,
            "generation_id": attempt.subject,
            "event": attempt.event,
            "url": attempt.url,
            "attempt": attempt.attempt,
            "address": attempt.address,
            "delivered": attempt.delivered,
            "status_code": attempt.status_code,
            "error": (attempt.error or "")[:200] or None,
            "created_at": attempt.attempted_at,
        }
        with self.engine.begin() as connection:
            connection.execute(sa.insert(_DELIVERIES).values(row))

    def list(
        self, tenant_id: str, cursor: str | None, limit: int
    ) -> tuple[list[WebhookDelivery], str | None]:
        """Newest first; the cursor is the row id of the last item returned (ids only
        grow, so they order attempts as they were written)."""
        query = sa.select(_DELIVERIES).where(_DELIVERIES.c.tenant_id == tenant_id)
        if cursor:
            # Row ids are 32-bit INTEGER on PostgreSQL: a larger number names no row.
            if not cursor.isdigit() or int(cursor) > INT32_MAX:
                raise InvalidInputError("malformed cursor")
            query = query.where(_DELIVERIES.c.id < int(cursor))
        query = query.order_by(_DELIVERIES.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as connection:
            rows = [WebhookDelivery(**r) for r in connection.execute(query).mappings()]
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        return rows, str(rows[-1].id)


# ---------------------------------------------------------------------- pins


class CallbackPins:
    """The addresses each callback URL passed the check with, latest check wins.

    Keyed by URL, not by tenant: every pin was checked, so whichever request refreshed it
    last, a delivery goes to an address that was allowed.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, target: CallbackTarget) -> None:
        key = _url_key(target.url)
        values = {"url": target.url, "addresses": list(target.addresses), "checked_at": utcnow()}
        try:
            with self.engine.begin() as connection:
                updated = connection.execute(
                    sa.update(_PINS).where(_PINS.c.url_sha256 == key).values(values)
                )
                if updated.rowcount != 1:
                    connection.execute(sa.insert(_PINS).values(url_sha256=key, **values))
        except IntegrityError:  # pinned concurrently by another check: as good as this one
            return

    def get(self, url: str) -> CallbackTarget | None:
        query = sa.select(_PINS.c.url, _PINS.c.addresses).where(_PINS.c.url_sha256 == _url_key(url))
        with self.engine.connect() as connection:
            found = connection.execute(query).first()
        if found is None or found.url != url or not found.addresses:
            return None
        return CallbackTarget(url, tuple(str(a) for a in found.addresses))


def _url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()
