"""Delivery in memory: a queue, background workers, retries with backoff, a report per
attempt. The gateway itself delivers through the outbox (:mod:`.dispatcher`), whose
retries survive a restart; the settings here serve both."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import httpx

from gateway.webhooks.attempt import (
    AttemptResult,
    SignedPost,
    backoff_s,
    post_signed,
    resolve_addresses,
)
from gateway.webhooks.signing import encode_body, secret_key
from gateway.webhooks.targets import CallbackTarget, check_public_addresses, validate_callback_url

__all__ = ["DeliveryAttempt", "DeliveryResult", "SecretSource", "WebhookSender", "WebhookSettings"]

_log = logging.getLogger(__name__)


# The signing secrets, newest first: fixed, or read afresh for each attempt (rotation).
SecretSource = bytes | str | Callable[[], Sequence[bytes | str]]


class WebhookSettings(BaseModel):
    """The ``webhooks`` section of the gateway's settings; the secret lives elsewhere."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=6, ge=1, le=20)
    initial_backoff_s: float = Field(default=1.0, gt=0)
    max_backoff_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=5.0, gt=0)
    workers: int = Field(default=2, ge=1, le=32)
    # Callbacks to loopback, private and link-local addresses are refused by default
    # (a client could otherwise make the gateway probe its internal network). Tests and
    # local development with a receiver on loopback turn this on.
    allow_private_networks: bool = False
    # After a rotation the previous secret still signs deliveries (a second ``v1=``) for
    # this long, so receivers can switch over without dropping webhooks.
    rotation_grace_s: float = Field(default=86_400.0, ge=0)
    # The outbox dispatcher looks for due deliveries this often; a delivery queued by this
    # process, or a retry it scheduled, wakes it at once, so this only bounds how late
    # it notices rows written by other processes.
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    # How long a claimed delivery stays with the process that claimed it; after that any
    # process may take it over (its claimer died). It must outlast one attempt.
    lease_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> WebhookSettings:
        # httpx applies timeout_s to connect, write, read and pool each: an attempt may
        # take four times it, and a lease that lapses mid-attempt lets a second process
        # deliver the same row concurrently.
        if self.lease_s < 4 * self.timeout_s:
            raise ValueError("webhooks.lease_s must be at least 4 × webhooks.timeout_s")
        return self


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


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One attempt of one delivery, as the delivery log records it."""

    delivery_id: str
    url: str
    event: str
    subject: str | None  # what the delivery is about, e.g. a generation id
    attempt: int  # 1 for the first
    address: str | None  # the IP connected to; None when resolution failed
    delivered: bool
    status_code: int | None
    error: str | None
    attempted_at: datetime


@dataclass(slots=True)
class _Delivery:
    id: str
    url: str
    event: str
    body: bytes
    subject: str | None = None
    addresses: tuple[str, ...] = ()  # the checked addresses; resolved at first attempt if ()
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None


@dataclass(order=True)
class _Scheduled:
    due: float
    seq: int
    delivery: _Delivery = field(compare=False)


class WebhookSender:
    """Posts signed JSON callbacks from background threads, retrying with backoff.

    ``send`` only queues and returns the delivery id. Threads start on the first
    ``send`` (nothing runs at construction). ``on_result`` hears how each delivery
    ended (delivered, or given up after ``max_attempts``); ``on_attempt`` hears every
    attempt. ``secret`` is one secret, or a callable giving the current ones (newest
    first), asked again at each attempt so that a rotation applies to retries too.
    """

    def __init__(
        self,
        secret: SecretSource,
        *,
        max_attempts: int = 6,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        timeout_s: float = 5.0,
        workers: int = 2,
        allow_private_networks: bool = False,
        jitter: bool = True,
        on_result: Callable[[DeliveryResult], None] | None = None,
        on_attempt: Callable[[DeliveryAttempt], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_attempts < 1 or workers < 1:
            raise ValueError("max_attempts and workers must be at least 1")
        self._secrets = _secret_source(secret)
        self._max_attempts = max_attempts
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._timeout_s = timeout_s
        self._worker_count = workers
        self._allow_private = allow_private_networks
        self._jitter = jitter
        self._on_result = on_result
        self._on_attempt = on_attempt
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
        secret: SecretSource,
        *,
        on_result: Callable[[DeliveryResult], None] | None = None,
        on_attempt: Callable[[DeliveryAttempt], None] | None = None,
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
            on_attempt=on_attempt,
        )

    def send(
        self,
        url: str,
        event: str,
        payload: Mapping[str, Any],
        *,
        target: CallbackTarget | None = None,
        subject: str | None = None,
    ) -> str:
        """Queue one callback; returns its delivery id at once.

        ``target`` carries the addresses ``url`` resolved to when the client gave it;
        without one, the host is resolved (and checked) once, at the first attempt.
        """
        validate_callback_url(url, allow_private_networks=self._allow_private)
        addresses: tuple[str, ...] = ()
        if target is not None and target.url == url:
            addresses = target.addresses
            if not self._allow_private:
                check_public_addresses(addresses)  # a pin made under other settings
        delivery = _Delivery(
            id=uuid.uuid4().hex,
            url=url,
            event=event,
            body=encode_body(payload),
            subject=subject,
            addresses=addresses,
        )
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
                delivery.attempts += 1
                address, result = self._attempt(client, delivery)
                self._record_attempt(delivery, address, result)
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

    def _attempt(
        self, client: httpx.Client, delivery: _Delivery
    ) -> tuple[str | None, AttemptResult]:
        """One POST to one of the delivery's checked addresses (rotating over retries)."""
        if not delivery.addresses:
            failure = self._resolve_once(delivery)
            if failure is not None:
                return None, failure
        address = delivery.addresses[(delivery.attempts - 1) % len(delivery.addresses)]
        post = SignedPost(delivery.id, delivery.url, delivery.event, delivery.body)
        return address, post_signed(client, post, address, self._secrets)

    def _resolve_once(self, delivery: _Delivery) -> AttemptResult | None:
        """Resolve and check a host that came without a target; later attempts reuse it."""
        addresses, failure = resolve_addresses(
            delivery.url, allow_private_networks=self._allow_private
        )
        delivery.addresses = addresses
        return failure

    def _record_attempt(
        self, delivery: _Delivery, address: str | None, result: AttemptResult
    ) -> None:
        if self._on_attempt is None:
            return
        attempt = DeliveryAttempt(
            delivery_id=delivery.id,
            url=delivery.url,
            event=delivery.event,
            subject=delivery.subject,
            attempt=delivery.attempts,
            address=address,
            delivered=result.delivered,
            status_code=result.status_code,
            error=result.error,
            attempted_at=datetime.now(UTC),
        )
        try:
            self._on_attempt(attempt)
        except Exception:  # a broken log must not kill the delivery thread
            _log.exception("webhook on_attempt listener failed")

    def _finish_attempt(self, delivery: _Delivery, result: AttemptResult) -> None:
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

    def _backoff_s(self, delivery: _Delivery, result: AttemptResult) -> float:
        return backoff_s(
            delivery.attempts,
            initial_s=self._initial_backoff_s,
            max_s=self._max_backoff_s,
            jitter=self._jitter,
            retry_after_s=result.retry_after_s,
        )

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


def _secret_source(secret: SecretSource) -> Callable[[], list[bytes]]:
    if callable(secret):
        provider = secret
        return lambda: [secret_key(s) for s in provider()]
    fixed = [secret_key(secret)]
    return lambda: fixed
