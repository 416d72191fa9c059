"""Rate limits and concurrency caps for the public verification endpoints.

A request is charged to several limits at once — the client (its address or its key)
and the key's tenant, each so many requests in any 60 seconds — and passes only if every
one has room; then it counts against all of them. The ``limits`` library keeps the
moving windows: in Redis when ``limits.rate_limit_redis_url`` (or else the top-level
``redis_url``) is set, so that any number of processes share them, and in the process's
memory otherwise::

    limiter = build_rate_limiter(settings.limits, settings.redis_url)
    retry_after_s = limiter.take_all([Bucket("ip:203.0.113.9", 120), Bucket("tenant:acme", 600)])
    if retry_after_s is not None: ...  # 429 with Retry-After

All or none: every limit is tested first, and hit only if all have room. Two requests
racing for a limit's last slot can both pass the test; the one whose hit then fails is
refused, and the limits it had already hit keep that hit. So a race can cost a refused
request one slot of another limit, and never lets more than the configured rate through.

``ConcurrencyLimiter`` bounds the verifications running in one process (each may hold a
decoded image): a per-client cap (429) and a global pool (503 after a short wait). It is
per process on purpose — memory is.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from common.errors import RateLimitedError, UnavailableError

if TYPE_CHECKING:
    from gateway.settings import LimitSettings

__all__ = [
    "Bucket",
    "ConcurrencyLimiter",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "ServerBusyError",
    "build_rate_limiter",
]

log = logging.getLogger(__name__)

_POLL_S = 0.05
# A refused request is never told to retry at once, even when a slot frees in a moment.
_MIN_RETRY_AFTER_S = 0.1


class ServerBusyError(UnavailableError):
    """Every verification slot of this process is taken: not the client's fault, so 503
    (with ``Retry-After``, from ``details.retry_after_s``)."""

    http_status: ClassVar[int] = 503
    code: ClassVar[str] = "server_busy"


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit a request counts against: ``per_minute`` requests in any 60 seconds."""

    name: str  # "ip:…", "key:…", "tenant:…"
    per_minute: int


class RateLimiter(Protocol):
    """Charges a request to several limits."""

    def take_all(self, buckets: Sequence[Bucket]) -> float | None:
        """Count the request against every bucket or against none; ``None`` if allowed,
        else the seconds until every refusing bucket has room again."""
        ...


class MemoryRateLimiter:
    """Moving windows in this process's memory (``limits``' memory storage).

    Each window keeps the times of the requests it let through in the last minute;
    expired ones are dropped by the storage, so memory follows the recent traffic.
    """

    def __init__(self) -> None:
        self._windows = MovingWindowRateLimiter(MemoryStorage())

    def take_all(self, buckets: Sequence[Bucket]) -> float | None:
        return _take_all(self._windows, buckets)


class RedisRateLimiter:
    """Moving windows in Redis, shared by every process pointing at the same server.

    ``limits`` tests and hits each window with its own Lua script; entries are stamped
    with the calling host's clock, so hosts sharing one Redis should keep their clocks
    in step (NTP). If Redis cannot be reached the process falls back to its own windows
    (logged): limits then hold per process rather than not at all, and verification
    stays available.
    """

    def __init__(self, storage: RedisStorage, fallback: MemoryRateLimiter) -> None:
        self._storage = storage
        self._windows = MovingWindowRateLimiter(storage)
        self._fallback = fallback

    @classmethod
    def from_url(cls, url: str, prefix: str, fallback: MemoryRateLimiter) -> RedisRateLimiter:
        storage = RedisStorage(
            url,
            # limits joins prefix and key with ":"; keys stay under the configured prefix.
            key_prefix=prefix.removesuffix(":"),
            wrap_exceptions=True,  # any redis error is a limits.errors.StorageError
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
        )
        return cls(storage, fallback)

    def take_all(self, buckets: Sequence[Bucket]) -> float | None:
        try:
            return _take_all(self._windows, buckets)
        except StorageError:
            log.warning("rate-limit store unreachable; using this process's limits")
            return self._fallback.take_all(buckets)

    def close(self) -> None:
        self._storage.storage.close()


def build_rate_limiter(limits: LimitSettings, coordination_url: str = "") -> RateLimiter:
    """Redis-backed when ``rate_limit_redis_url`` is set, else when the processes'
    coordination store (``Settings.redis_url``) is; in-process otherwise."""
    local = MemoryRateLimiter()
    url = limits.rate_limit_redis_url or coordination_url
    if not url:
        return local
    return RedisRateLimiter.from_url(url, limits.rate_limit_redis_prefix, local)


def _take_all(windows: MovingWindowRateLimiter, buckets: Sequence[Bucket]) -> float | None:
    """Test every window, then hit every window; the wait for the refusing ones if not."""
    items = [(RateLimitItemPerMinute(bucket.per_minute), bucket.name) for bucket in buckets]
    refused = [(item, name) for item, name in items if not windows.test(item, name)]
    if refused:
        return max(_seconds_until_room(windows, item, name) for item, name in refused)
    for item, name in items:
        if not windows.hit(item, name):
            # A concurrent request took the last slot since the test (module docstring):
            # refused, and the windows hit before this one keep their hit.
            return _seconds_until_room(windows, item, name)
    return None


def _seconds_until_room(windows: MovingWindowRateLimiter, item: RateLimitItem, name: str) -> float:
    # The window's reset time: when its oldest counted request leaves the last minute.
    reset_at = windows.get_window_stats(item, name).reset_time
    return max(_MIN_RETRY_AFTER_S, reset_at - time.time())


class ConcurrencyLimiter:
    """Caps verifications in flight: ``per_client`` each, ``total`` in the process."""

    def __init__(self, total: int, per_client: int, wait_s: float) -> None:
        self.total = total
        self.per_client = per_client
        self.wait_s = wait_s
        self._running = 0
        self._by_client: dict[str, int] = {}
        self._lock = threading.Lock()

    @asynccontextmanager
    async def client_slot(self, client: str) -> AsyncIterator[None]:
        """Held for a client's whole request (upload included); 429 over the cap."""
        with self._lock:
            held = self._by_client.get(client, 0)
            if held >= self.per_client:
                raise RateLimitedError(
                    f"at most {self.per_client} verifications at once per client",
                    details={"retry_after_s": 1, "max_concurrent": self.per_client},
                )
            self._by_client[client] = held + 1
        try:
            yield
        finally:
            with self._lock:
                self._release_client(client)

    @asynccontextmanager
    async def pool_slot(self) -> AsyncIterator[None]:
        """Held while the verifier decodes and checks; waits up to ``wait_s``, then 503."""
        deadline = time.monotonic() + self.wait_s
        # Polling rather than an asyncio primitive: the limiter outlives event loops
        # (test clients each run their own) and is shared by them.
        while not self._try_enter_pool():
            if time.monotonic() >= deadline:
                raise ServerBusyError(
                    "the verification service is busy; retry shortly",
                    details={"retry_after_s": 2, "max_concurrent": self.total},
                )
            await asyncio.sleep(_POLL_S)
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1

    def _try_enter_pool(self) -> bool:
        with self._lock:
            if self._running >= self.total:
                return False
            self._running += 1
            return True

    def _release_client(self, client: str) -> None:
        held = self._by_client.pop(client, 1) - 1
        if held > 0:
            self._by_client[client] = held
