"""Rate limits and concurrency caps for the public verification endpoints.

A request is charged to several token buckets at once — the client address or the key,
and the key's tenant — and passes only if every bucket has a token (all or none are
spent). Buckets live in Redis when ``limits.rate_limit_redis_url`` is set, so that any
number of processes share them, and in the process's memory otherwise::

    limiter = build_rate_limiter(settings.limits)
    retry_after_s = limiter.take_all([Bucket("ip:203.0.113.9", 120), Bucket("tenant:acme", 600)])
    if retry_after_s is not None: ...  # 429 with Retry-After

``ConcurrencyLimiter`` bounds the verifications running in one process (each may hold a
decoded image): a per-client cap (429) and a global pool (503 after a short wait). It is
per process on purpose — memory is.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from common.errors import RateLimitedError

if TYPE_CHECKING:
    from gateway.settings import LimitSettings

__all__ = [
    "Bucket",
    "ConcurrencyLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "ServerBusyError",
    "TokenBucketLimiter",
    "build_rate_limiter",
    "retry_after_header",
]

log = logging.getLogger(__name__)

# A bucket refills completely in one minute whatever its size (capacity = per_minute).
_FULL_AFTER_S = 60.0
_POLL_S = 0.05


class ServerBusyError(RateLimitedError):
    """Every verification slot of this process is taken: not the client's fault, so 503.

    A ``RateLimitedError`` so that it, too, carries ``Retry-After``.
    """

    http_status: ClassVar[int] = 503
    code: ClassVar[str] = "server_busy"


def retry_after_header(error: RateLimitedError) -> str:
    """Whole seconds for ``Retry-After`` (RFC 9110 §10.2.3), from ``details.retry_after_s``."""
    details = error.details if isinstance(error.details, dict) else {}
    seconds = details.get("retry_after_s")
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "1"
    return str(max(1, math.ceil(seconds)))


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str  # "ip:…", "key:…", "tenant:…"
    per_minute: int


class RateLimiter(Protocol):
    """Charges a request to token buckets."""

    def take_all(self, buckets: Sequence[Bucket]) -> float | None:
        """Spend one token from every bucket or from none; ``None`` if allowed, else the
        seconds until every bucket has a token again."""
        ...


class TokenBucketLimiter:
    """In-process token buckets: ``per_minute`` tokens, refilled continuously."""

    def __init__(self, per_minute: int, max_clients: int = 50_000) -> None:
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float | None:
        """Spend one token of ``client``'s bucket of the default size."""
        return self.take_all([Bucket(client, self.per_minute)], now)

    def take_all(self, buckets: Sequence[Bucket], now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens = [self._refilled(bucket, now) for bucket in buckets]
            waits = [
                (1.0 - held) * _FULL_AFTER_S / bucket.per_minute
                for bucket, held in zip(buckets, tokens, strict=True)
                if held < 1.0
            ]
            spend = 0.0 if waits else 1.0
            for bucket, held in zip(buckets, tokens, strict=True):
                self._buckets[bucket.name] = (held - spend, now)
            if len(self._buckets) > self.max_clients:
                self._forget_full_buckets(now)
        return max(waits) if waits else None

    def _refilled(self, bucket: Bucket, now: float) -> float:
        tokens, last = self._buckets.get(bucket.name, (float(bucket.per_minute), now))
        refill = max(0.0, now - last) * bucket.per_minute / _FULL_AFTER_S
        return min(float(bucket.per_minute), tokens + refill)

    def _forget_full_buckets(self, now: float) -> None:
        # A bucket that has refilled completely holds no state worth keeping.
        self._buckets = {
            name: state for name, state in self._buckets.items() if now - state[1] < _FULL_AFTER_S
        }


# KEYS: the buckets; ARGV: their sizes (tokens per minute). Redis' own clock, so that
# processes on hosts with skewed clocks agree. Returns the wait as a string (a Lua number
# would be truncated to an integer on the way out).
_TAKE_ALL_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local held = {}
local wait = 0
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[i])
  local rate = capacity / 60
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  held[i] = tokens
  if tokens < 1 then wait = math.max(wait, (1 - tokens) / rate) end
end
local spend = 1
if wait > 0 then spend = 0 end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 'tokens', tostring(held[i] - spend), 'at', tostring(now))
  redis.call('EXPIRE', KEYS[i], 61)
end
return tostring(wait)
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every process pointing at the same server.

    One Lua script checks and spends all buckets of a request atomically. If Redis cannot
    be reached the process falls back to its own buckets (logged): limits then hold per
    process rather than not at all, and verification stays available.
    """

    def __init__(self, client: Any, prefix: str, fallback: TokenBucketLimiter) -> None:
        self._client = client
        self._prefix = prefix
        self._fallback = fallback
        self._script = client.register_script(_TAKE_ALL_LUA)

    @classmethod
    def from_url(cls, url: str, prefix: str, fallback: TokenBucketLimiter) -> RedisRateLimiter:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(client, prefix, fallback)

    def take_all(self, buckets: Sequence[Bucket]) -> float | None:
        import redis

        keys = [self._prefix + bucket.name for bucket in buckets]
        sizes = [bucket.per_minute for bucket in buckets]
        try:
            wait_s = float(self._script(keys=keys, args=sizes))
        except redis.RedisError:
            log.warning("rate-limit store unreachable; using this process's buckets")
            return self._fallback.take_all(buckets)
        return wait_s if wait_s > 0 else None

    def close(self) -> None:
        self._client.close()


def build_rate_limiter(limits: LimitSettings) -> RateLimiter:
    """Redis-backed when ``rate_limit_redis_url`` is set, in-process otherwise."""
    local = TokenBucketLimiter(limits.verify_requests_per_minute)
    if not limits.rate_limit_redis_url:
        return local
    return RedisRateLimiter.from_url(
        limits.rate_limit_redis_url, limits.rate_limit_redis_prefix, local
    )


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
