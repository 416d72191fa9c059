"""Signed webhook callbacks: tell a client's ``callback_url`` how its item ended.

Each delivery is a JSON ``POST`` with these headers:

``X-AIGC-Signature: t=<unix seconds>,v1=<hex>``
    ``v1`` is the lowercase hex HMAC-SHA256, keyed with the tenant's webhook secret, of
    the ASCII timestamp, a full stop and the raw request body: ``f"{t}.".encode() + body``.
    A receiver recomputes it over the bytes it received, compares in constant time and
    refuses timestamps more than five minutes away from its clock (replays). Several
    ``v1=`` entries may appear while a secret is being rotated; one match suffices.
``X-AIGC-Event``
    What happened, e.g. ``generation.released`` or ``generation.blocked``.
``X-AIGC-Delivery``
    An id that stays the same across retries, so a receiver can drop duplicates.

Deliveries never block the request that caused them: :class:`WebhookSender` queues them
for background threads that retry with exponential backoff (network errors, 408, 429
and 5xx) up to a bounded number of attempts::

    sender = WebhookSender(secret=b"whsec_...", max_attempts=6)
    sender.send("https://client.example/hooks/aigc", "generation.released",
                {"id": "gen_1", "status": "released"})
    ...
    sender.close()

    # receiver side
    verify_signature(secret, request_body, request.headers["X-AIGC-Signature"])
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import ipaddress
import itertools
import json
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from common.errors import AuthenticationError, InvalidInputError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryResult",
    "InvalidCallbackUrlError",
    "WebhookSender",
    "WebhookSettings",
    "WebhookSignatureError",
    "encode_body",
    "sign_payload",
    "validate_callback_url",
    "verify_signature",
]

SIGNATURE_HEADER = "X-AIGC-Signature"
EVENT_HEADER = "X-AIGC-Event"
DELIVERY_HEADER = "X-AIGC-Delivery"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
USER_AGENT = "aigc-gateway-webhooks/1"

_RETRYABLE_STATUS = frozenset({408, 429})
_log = logging.getLogger(__name__)


class WebhookSignatureError(AuthenticationError):
    """The signature header is missing, malformed, stale or does not match (401)."""

    code = "invalid_webhook_signature"


class InvalidCallbackUrlError(InvalidInputError):
    """A ``callback_url`` the gateway will not call (422)."""

    code = "invalid_callback_url"


class WebhookSettings(BaseModel):
    """The ``webhooks`` section of the gateway's settings; the secret lives elsewhere."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=6, ge=1, le=20)
    initial_backoff_s: float = Field(default=1.0, gt=0)
    max_backoff_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=5.0, gt=0)
    workers: int = Field(default=2, ge=1, le=32)
    # Callbacks to loopback, private and link-local addresses are refused by default
    # (a client could otherwise make the gateway probe its internal network).
    allow_private_networks: bool = False


# ---------------------------------------------------------------------- signatures


def _key(secret: bytes | str) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _mac(secret: bytes | str, body: bytes, timestamp: int) -> str:
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_payload(secret: bytes | str, body: bytes, timestamp: int) -> str:
    """The ``X-AIGC-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={_mac(secret, body, timestamp)}"


def verify_signature(
    secret: bytes | str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a received signature; returns its timestamp or raises
    :class:`WebhookSignatureError` saying what is wrong."""
    timestamp, candidates = _parse_signature_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookSignatureError("the signature timestamp is outside the tolerance")
    expected = _mac(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise WebhookSignatureError("the signature does not match the body")
    return timestamp


def _parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SIGNATURE_SCHEME and value:
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is malformed")
    return timestamp, candidates


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed and sent: compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------------- callback URLs


def validate_callback_url(url: str, *, allow_private_networks: bool = False) -> str:
    """Check a client's ``callback_url`` when it is given (syntax and literal addresses);
    returns it unchanged. Host names are resolved and checked again at delivery."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCallbackUrlError("callback_url must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise InvalidCallbackUrlError("callback_url must not carry credentials")
    if not allow_private_networks and _is_private_literal(parts.hostname):
        raise InvalidCallbackUrlError("callback_url points to a private or loopback address")
    return url


def _is_private_literal(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return _is_private_ip(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return False  # a name: checked after resolution


def _is_private_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not address.is_global or address.is_multicast


def _resolves_to_private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # unresolvable: the POST fails and is retried like any network error
    return any(_is_private_ip(ipaddress.ip_address(info[4][0])) for info in infos)


# ---------------------------------------------------------------------- delivery


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one delivery ended, after all its attempts."""

    delivery_id: str
    url: str
    event: str
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None


@dataclass(slots=True)
class _Delivery:
    id: str
    url: str
    event: str
    body: bytes
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class _AttemptResult:
    delivered: bool
    retry: bool
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None


@dataclass(order=True)
class _Scheduled:
    due: float
    seq: int
    delivery: _Delivery = field(compare=False)


class WebhookSender:
    """Posts signed JSON callbacks from background threads, retrying with backoff.

    ``send`` only queues and returns the delivery id. Threads start on the first
    ``send`` (nothing runs at construction). ``on_result`` hears how each delivery
    ended (delivered, or given up after ``max_attempts``).
    """

    def __init__(
        self,
        secret: bytes | str,
        *,
        max_attempts: int = 6,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        timeout_s: float = 5.0,
        workers: int = 2,
        allow_private_networks: bool = False,
        jitter: bool = True,
        on_result: Callable[[DeliveryResult], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_attempts < 1 or workers < 1:
            raise ValueError("max_attempts and workers must be at least 1")
        self._secret = _key(secret)
        self._max_attempts = max_attempts
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._timeout_s = timeout_s
        self._worker_count = workers
        self._allow_private = allow_private_networks
        self._jitter = jitter
        self._on_result = on_result
        self._transport = transport
        self._queue: list[_Scheduled] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        settings: WebhookSettings,
        secret: bytes | str,
        *,
        on_result: Callable[[DeliveryResult], None] | None = None,
    ) -> WebhookSender:
        return cls(
            secret,
            max_attempts=settings.max_attempts,
            initial_backoff_s=settings.initial_backoff_s,
            max_backoff_s=settings.max_backoff_s,
            timeout_s=settings.timeout_s,
            workers=settings.workers,
            allow_private_networks=settings.allow_private_networks,
            on_result=on_result,
        )

    def send(self, url: str, event: str, payload: Mapping[str, Any]) -> str:
        """Queue one callback; returns its delivery id at once."""
        validate_callback_url(url, allow_private_networks=self._allow_private)
        delivery = _Delivery(id=uuid.uuid4().hex, url=url, event=event, body=encode_body(payload))
        with self._cond:
            if self._closed:
                raise RuntimeError("the webhook sender is closed")
            self._start_workers()
            self._schedule(delivery, due=time.monotonic())
        return delivery.id

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until nothing is queued or in flight; False on timeout (for tests, drains)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the threads; deliveries still waiting for a retry are dropped (logged)."""
        with self._cond:
            self._closed = True
            dropped = len(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        if dropped:
            _log.warning("webhook sender closed with %d deliveries pending", dropped)
        for thread in self._threads:
            thread.join(timeout_s)

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals (the lock is held where the name says so)

    def _start_workers(self) -> None:
        if self._threads:
            return
        for n in range(self._worker_count):
            thread = threading.Thread(target=self._work, name=f"webhooks-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _schedule(self, delivery: _Delivery, due: float) -> None:
        heapq.heappush(self._queue, _Scheduled(due, next(self._seq), delivery))
        self._cond.notify_all()  # workers and wait_idle share the condition

    def _work(self) -> None:
        import httpx

        with httpx.Client(
            timeout=self._timeout_s, transport=self._transport, follow_redirects=False
        ) as client:
            while (delivery := self._next_due()) is not None:
                result = self._attempt(client, delivery)
                self._finish_attempt(delivery, result)

    def _next_due(self) -> _Delivery | None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._queue and self._queue[0].due <= now:
                    self._in_flight += 1
                    return heapq.heappop(self._queue).delivery
                wait_s = self._queue[0].due - now if self._queue else None
                self._cond.wait(wait_s)
            return None

    def _attempt(self, client: httpx.Client, delivery: _Delivery) -> _AttemptResult:
        import httpx

        delivery.attempts += 1
        host = urlsplit(delivery.url).hostname or ""
        if not self._allow_private and _resolves_to_private(host):
            return _AttemptResult(False, retry=False, error="resolves to a private address")
        timestamp = int(time.time())  # signed afresh per attempt: receivers reject stale t
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign_payload(self._secret, delivery.body, timestamp),
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.id,
        }
        try:
            response = client.post(delivery.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            return _AttemptResult(False, retry=True, error=type(exc).__name__)
        return _classify(response.status_code, response.headers.get("Retry-After"))

    def _finish_attempt(self, delivery: _Delivery, result: _AttemptResult) -> None:
        delivery.last_status = result.status_code
        delivery.last_error = result.error
        retry = result.retry and delivery.attempts < self._max_attempts
        with self._cond:
            self._in_flight -= 1
            if retry and not self._closed:
                self._schedule(delivery, time.monotonic() + self._backoff_s(delivery, result))
                return
            self._cond.notify_all()
        self._report(delivery, result.delivered)

    def _backoff_s(self, delivery: _Delivery, result: _AttemptResult) -> float:
        exponential: float = self._initial_backoff_s * 2.0 ** (delivery.attempts - 1)
        delay = min(self._max_backoff_s, exponential)
        if self._jitter:
            delay *= random.uniform(0.5, 1.0)  # spread retries of many deliveries apart
        return min(self._max_backoff_s, max(delay, result.retry_after_s or 0.0))

    def _report(self, delivery: _Delivery, delivered: bool) -> None:
        outcome = DeliveryResult(
            delivery_id=delivery.id,
            url=delivery.url,
            event=delivery.event,
            delivered=delivered,
            attempts=delivery.attempts,
            status_code=delivery.last_status,
            error=delivery.last_error,
        )
        if not delivered:
            _log.warning(
                "webhook %s (%s) gave up after %d attempts: status=%s error=%s",
                delivery.id,
                delivery.event,
                delivery.attempts,
                delivery.last_status,
                delivery.last_error,
            )
        if self._on_result is not None:
            try:
                self._on_result(outcome)
            except Exception:  # a broken listener must not kill the delivery thread
                _log.exception("webhook on_result listener failed")


def _classify(status_code: int, retry_after: str | None) -> _AttemptResult:
    if 200 <= status_code < 300:
        return _AttemptResult(True, retry=False, status_code=status_code)
    retryable = status_code >= 500 or status_code in _RETRYABLE_STATUS
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    return _AttemptResult(
        False,
        retry=retryable,
        status_code=status_code,
        error=f"HTTP {status_code}",
        retry_after_s=delay,
    )
