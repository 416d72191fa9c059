"""Delivers the outbox: background threads claim due rows, POST them, record the outcome.

One dispatcher runs per gateway process; any number of them may share one database
(each claim is leased, see :mod:`gateway.webhooks.outbox`). Every attempt is signed
afresh, logged, and on a retryable failure the next attempt is written to the row
(``next_attempt_at``), so a process that stops — cleanly or not — leaves its retries to
whichever dispatcher runs next::

    dispatcher = OutboxDispatcher(outbox, WebhookSettings(), secrets=store.signing_secrets,
                                  on_attempt=delivery_log.record)
    dispatcher.start()      # picks up rows left pending, or with lapsed leases
    outbox.add(delivery); dispatcher.nudge()   # delivered at once, not at the next poll
    dispatcher.close()      # stops the threads; unfinished rows stay in the outbox
"""

from __future__ import annotations

import heapq
import logging
import os
import secrets as random_tokens
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from gateway.webhooks.attempt import (
    AttemptResult,
    DeliveryAttempt,
    SignedPost,
    backoff_s,
    post_signed,
    resolve_addresses,
)
from gateway.webhooks.outbox import OutboxEntry, WebhookOutbox
from gateway.webhooks.settings import WebhookSettings
from gateway.webhooks.signing import secret_key
from gateway.webhooks.targets import (
    CallbackUrlNotAllowedError,
    InvalidCallbackUrlError,
    check_public_addresses,
    validate_callback_url,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["OutboxDispatcher", "TenantSecrets"]

_log = logging.getLogger(__name__)

# A tenant's current signing secrets, newest first; asked at every attempt (rotation).
TenantSecrets = Callable[[str], Sequence[bytes | str]]
AttemptListener = Callable[[str, DeliveryAttempt], None]

# A local retry wakes its thread this long after it is due, so that the due-row query
# (which compares with the wall clock) surely sees it due.
_WAKE_MARGIN_S = 0.01
_IDLE_CHECK_S = 0.02
_PURGE_EVERY_S = 3600.0


class OutboxDispatcher:
    """Background threads delivering due outbox rows; see the module docstring.

    ``settings.workers`` threads each claim one row at a time. An idle thread waits
    ``settings.poll_interval_s``, or less: :meth:`nudge` (after an enqueue) and the due
    time of a retry this process scheduled wake it early.
    """

    def __init__(
        self,
        outbox: WebhookOutbox,
        settings: WebhookSettings,
        *,
        secrets: TenantSecrets,
        on_attempt: AttemptListener | None = None,
        jitter: bool = True,
        transport: httpx.BaseTransport | None = None,
        name: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.name = name or _process_name()
        self._secrets = secrets
        self._on_attempt = on_attempt
        self._jitter = jitter
        self._transport = transport
        self._cond = threading.Condition(threading.RLock())
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._wakeups = 0  # bumped by nudge(): an idle thread that saw another value claims
        self._wake_times: list[float] = []  # monotonic due times of this process's retries
        self._claims = 0
        self._next_purge_at = 0.0  # monotonic: the first idle moment purges

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the threads (again after :meth:`close`); the first claims pick up rows
        left behind by an earlier process."""
        with self._cond:  # re-entrant: nudge() calls this holding it
            self._closed = False
            self._threads = [t for t in self._threads if t.is_alive()]
            for n in range(len(self._threads), self.settings.workers):
                thread = threading.Thread(
                    target=self._work, name=f"webhook-outbox-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def nudge(self) -> None:
        """A row was enqueued (and committed): claim now instead of at the next poll.
        The first nudge starts the threads unless the dispatcher was closed (a closed
        one leaves the row to the next dispatcher that starts)."""
        with self._cond:
            if self._closed:
                return
            if not self._threads:  # started lazily: nothing runs until there is work
                self.start()
            self._wakeups += 1
            self._cond.notify_all()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the threads. Nothing is dropped: rows not yet delivered stay in the
        outbox; one claimed by an attempt still running after ``timeout_s`` is taken
        over by the next dispatcher once its lease lapses."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout_s)
        with self._cond:
            # One still mid-attempt stops after it; a start() meanwhile counts it in.
            self._threads = [t for t in self._threads if t.is_alive()]

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no row is pending or being delivered (by any process); False on
        timeout. For tests and drains."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.unfinished_count():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_IDLE_CHECK_S)
        return True

    # ------------------------------------------------------------------ the threads

    def _work(self) -> None:
        import httpx

        with httpx.Client(
            timeout=self.settings.timeout_s, transport=self._transport, follow_redirects=False
        ) as client:
            while not self._closed:
                seen = self._wakeups
                entry = self._claim()
                if entry is None:
                    self._purge_when_due()
                    self._idle(seen)
                    continue
                try:
                    self._deliver(client, entry)
                except Exception:  # the row stays claimed: retried once its lease lapses
                    _log.exception("webhook %s: the delivery failed unexpectedly", entry.id)

    def _claim(self) -> OutboxEntry | None:
        with self._cond:
            self._claims += 1
            claimer = f"{self.name}/{self._claims}"  # unique per claim: the fence
        try:
            return self.outbox.claim(claimer, lease_s=self.settings.lease_s)
        except Exception as exc:  # the database is away: try again at the next poll
            _log.warning("webhook outbox: could not claim a delivery: %s", exc)
            return None

    def _purge_when_due(self) -> None:
        """Delete finished rows past their keep time: once an hour, by one thread."""
        keep_days = self.settings.keep_finished_days
        with self._cond:
            now = time.monotonic()
            if keep_days == 0 or now < self._next_purge_at:
                return
            self._next_purge_at = now + _PURGE_EVERY_S
        try:
            cutoff = self.outbox.clock() - timedelta(days=keep_days)
            purged = self.outbox.purge_finished(cutoff)
        except Exception as exc:  # the database is away: the next hour tries again
            _log.warning("webhook outbox: could not purge finished deliveries: %s", exc)
            return
        if purged:
            _log.info("webhook outbox: purged %d finished deliveries", purged)

    def _idle(self, seen: int) -> None:
        """Wait for a nudge, a local retry's due time or the next poll."""
        with self._cond:
            if self._closed or self._wakeups != seen:
                return
            now = time.monotonic()
            if self._wake_times and self._wake_times[0] <= now:
                while self._wake_times and self._wake_times[0] <= now:
                    heapq.heappop(self._wake_times)  # due: claim it now
                return
            wait_s = self.settings.poll_interval_s
            if self._wake_times:
                wait_s = min(wait_s, self._wake_times[0] - now)
            self._cond.wait(wait_s)

    # ------------------------------------------------------------------ one attempt

    def _deliver(self, client: httpx.Client, entry: OutboxEntry) -> None:
        attempt = entry.attempts + 1
        address, result = self._attempt(client, entry, attempt)
        self._record(entry, attempt, address, result)
        self._settle(entry, attempt, result)

    def _attempt(
        self, client: httpx.Client, entry: OutboxEntry, attempt: int
    ) -> tuple[str | None, AttemptResult]:
        refused = self._refusal(entry)
        if refused is not None:
            return None, refused
        addresses = entry.addresses
        if not addresses:  # no pin when it was enqueued: resolved (and checked) once
            addresses, failure = resolve_addresses(
                entry.url, allow_private_networks=self.settings.allow_private_networks
            )
            if failure is not None:
                return None, failure
            self._save_addresses(entry, addresses)
        address = addresses[(attempt - 1) % len(addresses)]  # rotate over retries
        post = SignedPost(entry.id, entry.url, entry.event, entry.body)
        return address, post_signed(client, post, address, lambda: self._keys(entry.tenant_id))

    def _save_addresses(self, entry: OutboxEntry, addresses: tuple[str, ...]) -> None:
        try:
            self.outbox.save_addresses(entry, addresses)
        except Exception:  # not fatal: a later attempt resolves the host again
            _log.exception("webhook %s: could not keep the resolved addresses", entry.id)

    def _refusal(self, entry: OutboxEntry) -> AttemptResult | None:
        """Check the row again under this process's settings: a row enqueued while
        private networks were allowed must not reach them once they are not."""
        allow_private = self.settings.allow_private_networks
        try:
            validate_callback_url(entry.url, allow_private_networks=allow_private)
            if entry.addresses and not allow_private:
                check_public_addresses(entry.addresses)
        except CallbackUrlNotAllowedError:
            return AttemptResult(False, retry=False, error="resolves to a private address")
        except InvalidCallbackUrlError:
            return AttemptResult(False, retry=False, error="invalid callback url")
        return None

    def _keys(self, tenant_id: str) -> list[bytes]:
        return [secret_key(s) for s in self._secrets(tenant_id)]

    def _record(
        self, entry: OutboxEntry, attempt: int, address: str | None, result: AttemptResult
    ) -> None:
        if self._on_attempt is None:
            return
        record = DeliveryAttempt(
            delivery_id=entry.id,
            url=entry.url,
            event=entry.event,
            subject=entry.generation_id,
            attempt=attempt,
            address=address,
            delivered=result.delivered,
            status_code=result.status_code,
            error=result.error,
            attempted_at=datetime.now(UTC),
        )
        try:
            self._on_attempt(entry.tenant_id, record)
        except Exception:  # a broken log must not stop the delivery
            _log.exception("webhook on_attempt listener failed")

    def _settle(self, entry: OutboxEntry, attempt: int, result: AttemptResult) -> None:
        """Write the attempt's outcome: delivered, a retry at its backoff, or dead."""
        code, error = result.status_code, result.error
        if result.delivered:
            settled = self.outbox.mark_delivered(entry, status_code=code)
        elif result.retry and attempt < self.settings.max_attempts:
            delay_s = backoff_s(
                attempt,
                initial_s=self.settings.initial_backoff_s,
                max_s=self.settings.max_backoff_s,
                jitter=self._jitter,
                retry_after_s=result.retry_after_s,
            )
            due = self.outbox.clock() + timedelta(seconds=delay_s)
            settled = self.outbox.reschedule(entry, due=due, status_code=code, error=error)
            if settled:
                self._wake_for(delay_s)
        else:
            settled = self.outbox.mark_dead(entry, status_code=code, error=error)
            _log.warning(
                "webhook %s (%s) gave up after %d attempts: status=%s error=%s",
                entry.id,
                entry.event,
                attempt,
                code,
                error,
            )
        if not settled:
            _log.warning("webhook %s: the claim lapsed during the attempt", entry.id)

    def _wake_for(self, delay_s: float) -> None:
        """Wake a thread when this retry is due, so a single process retries on time
        rather than at the next poll."""
        with self._cond:
            heapq.heappush(self._wake_times, time.monotonic() + delay_s + _WAKE_MARGIN_S)
            self._cond.notify_all()


def _process_name() -> str:
    """Who claims: host, process id and a random tag (a restarted process on the same
    host may get the same pid)."""
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{random_tokens.token_hex(3)}"
