"""Cache invalidation across the API processes that share one database.

Each process keeps a few caches of database rows (authenticated keys, tenant brand
lists); a change made through one process must reach the others' caches, not wait for
their TTL. ``Invalidations`` is the bus: the owning cache registers what to forget, the
code that changes a row publishes::

    bus = Invalidations(settings.redis_url)
    bus.register(Topic.API_KEY, principals.forget_key, clear=principals.clear)
    bus.start()                              # the subscriber thread (with Redis)
    bus.publish(Topic.API_KEY, key_id)       # forgotten here at once, then broadcast
    bus.close()

With ``redis_url`` set, ``publish`` also sends the change on a Redis pub/sub channel and
a thread in every process forgets what other processes publish. Without it the bus is
local only (the single-process default); TTLs still bound what another process (the CLI)
can leave stale. Redis pub/sub keeps nothing: a message sent while a subscriber is
disconnected is lost to it, so every (re)subscription clears every registered cache.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.retry import Retry

__all__ = ["DEFAULT_CHANNEL", "Invalidations", "Topic"]

log = logging.getLogger(__name__)

# One channel for every deployment on a Redis server: pub/sub ignores the database
# number, so two deployments sharing a server hear each other — which costs only a
# cache miss (keys are key and tenant ids), never a wrong answer.
DEFAULT_CHANNEL = "aigc:invalidate"
_BACKOFF_MIN_S = 0.1
_BACKOFF_MAX_S = 5.0
_POLL_S = 0.25  # how long a stop request may wait for the subscriber to notice
_TIMEOUT_S = 1.0  # connecting and each command: readiness and requests never hang

Forget = Callable[[str], None]
Clear = Callable[[], None]


class Topic(StrEnum):
    """What changed; the key names the row."""

    API_KEY = "api_key"  # a key revoked (key id)
    TENANT_POLICY = "tenant_policy"  # a tenant's policy set (tenant id)
    BRAND_LIST = "brand_list"  # a term added or removed (tenant id)
    IMAGE_REGISTRY = "image_registry"  # an image registered or removed (tenant id)


class Invalidations:
    def __init__(self, redis_url: str = "", *, channel: str = DEFAULT_CHANNEL) -> None:
        self.redis_url = redis_url
        self.channel = channel
        # Per bus, not per OS process: tests run two runtimes in one interpreter.
        self.origin = uuid.uuid4().hex
        self._forgets: dict[Topic, list[Forget]] = {}
        self._clears: list[Clear] = []
        # Publishes and readiness pings, from request threads: one quick retry (a pooled
        # connection a restarted server closed), so an outage costs a request at most
        # two connect timeouts.
        self._client = _redis_client(redis_url, retry=Retry(NoBackoff(), 1)) if redis_url else None
        self._subscriber: _Subscriber | None = None

    # --- caches ---------------------------------------------------------------------

    def register(self, topic: Topic, forget: Forget, *, clear: Clear) -> None:
        """``forget(key)`` on each change of ``topic``; ``clear()`` when changes may have
        been missed (a lost Redis connection). Both are called from any thread."""
        self._forgets.setdefault(topic, []).append(forget)
        if clear not in self._clears:
            self._clears.append(clear)

    def forget(self, topic: Topic, key: str) -> None:
        """Run the local handlers only (a message from another process)."""
        for handler in self._forgets.get(topic, []):
            _call_safely(handler, key)

    def clear_all(self) -> None:
        for handler in self._clears:
            _call_safely(handler)

    # --- changes --------------------------------------------------------------------

    def publish(self, topic: Topic, key: str) -> None:
        """Forget ``key`` here at once, then tell the other processes (when configured).

        Called after the change is committed, so a process that forgets and reads again
        sees the new row. A failed broadcast is logged, never raised: the change itself
        stands, and the other processes' TTLs still bound their staleness.
        """
        self.forget(topic, key)
        if self._client is None:
            return
        message = json.dumps({"origin": self.origin, "topic": topic.value, "key": key})
        try:
            self._client.publish(self.channel, message)
        except redis.RedisError as exc:
            log.warning("could not broadcast %s %s invalidation: %s", topic.value, key, exc)

    def receive(self, raw: bytes | str) -> None:
        """Apply one channel message; our own (already applied) and malformed ones are
        ignored, as are topics of a newer release (it has caches we do not)."""
        try:
            payload = json.loads(raw)
            origin, topic, key = payload["origin"], Topic(payload["topic"]), str(payload["key"])
        except (ValueError, KeyError, TypeError):
            log.debug("ignoring an invalidation message we cannot read: %r", raw)
            return
        if origin != self.origin:
            self.forget(topic, key)

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start listening to other processes (a serving process; one-shot commands only
        publish). Waits for the first connection attempt so a healthy start is
        subscribed before its first request; an unreachable Redis does not stop it."""
        if self._client is None or self._subscriber is not None:
            return
        self._subscriber = _Subscriber(self, self.redis_url)
        self._subscriber.start()

    def close(self) -> None:
        if self._subscriber is not None:
            self._subscriber.stop()
            self._subscriber = None
        if self._client is not None:
            self._client.close()

    @property
    def subscribed(self) -> bool:
        return self._subscriber is not None and self._subscriber.subscribed.is_set()

    def readiness_problem(self) -> str | None:
        """Why other processes' changes may not reach this one; ``None`` if they do."""
        if self._client is None:
            return None
        try:
            self._client.ping()
        except redis.RedisError as exc:
            return (
                f"Redis at {_where(self.redis_url)} is unreachable ({exc}); other "
                "processes' changes apply here only when cached entries expire"
            )
        if self._subscriber is not None and not self._subscriber.subscribed.is_set():
            return f"not subscribed to {self.channel} yet (reconnecting)"
        return None


class _Subscriber:
    """The thread that applies other processes' messages, reconnecting with backoff."""

    def __init__(self, bus: Invalidations, redis_url: str) -> None:
        self._bus = bus
        # Its own client, with redis-py's retries off: they would reconnect and
        # resubscribe silently, and we must know of every gap to clear the caches.
        self._client = _redis_client(
            redis_url,
            retry=Retry(NoBackoff(), 0),
            client_name=f"aigc-invalidations-{bus.origin[:12]}",  # for CLIENT LIST
        )
        self._stopping = threading.Event()
        self._first_attempt = threading.Event()
        self.subscribed = threading.Event()
        self._was_subscribed = False
        self._thread = threading.Thread(target=self._run, name="invalidations", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._first_attempt.wait(timeout=_TIMEOUT_S * 2)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=_POLL_S * 4 + _TIMEOUT_S)
        self._client.close()

    def _run(self) -> None:
        delay = _BACKOFF_MIN_S
        while not self._stopping.is_set():
            try:
                self._listen()
            except (redis.RedisError, OSError) as exc:
                self._disconnected(exc)
                # A connection that had been subscribed starts the backoff over: a
                # restarted server is back at once, an outage is not polled hard.
                delay = _BACKOFF_MIN_S if self._was_subscribed else min(delay * 2, _BACKOFF_MAX_S)
                self._first_attempt.set()
                self._stopping.wait(delay)

    def _listen(self) -> None:
        self._was_subscribed = False
        pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]  # redis-py's own stub
        try:
            pubsub.subscribe(self._bus.channel)
            self._await_confirmation(pubsub)
            # Only now: every message published from here on reaches us, and whatever
            # was published while we were not listening (never, at the first start;
            # during an outage, after a reconnect) is unknown — forget it all.
            self._bus.clear_all()
            self._connected()
            while not self._stopping.is_set():
                self._deliver(pubsub.get_message(timeout=_POLL_S))
        finally:
            self.subscribed.clear()
            pubsub.close()

    def _await_confirmation(self, pubsub: PubSub) -> None:
        while not self._stopping.is_set():
            message = pubsub.get_message(timeout=_TIMEOUT_S)
            if message is not None and message["type"] == "subscribe":
                return
            if message is None:
                raise redis.ConnectionError("no subscription confirmation from Redis")

    def _deliver(self, message: dict[str, Any] | None) -> None:
        if message is not None and message["type"] == "message":
            self._bus.receive(message["data"])

    def _connected(self) -> None:
        log.info("listening for cache invalidations on %s", self._bus.channel)
        self._was_subscribed = True
        self.subscribed.set()
        self._first_attempt.set()

    def _disconnected(self, exc: BaseException) -> None:
        # Once per outage, not once per retry.
        if self._was_subscribed or not self._first_attempt.is_set():
            log.warning("cache invalidations from other processes interrupted: %s", exc)


def _redis_client(url: str, **options: Any) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        **options,
        socket_timeout=_TIMEOUT_S,
        socket_connect_timeout=_TIMEOUT_S,
        socket_keepalive=True,
        # A subscriber waits for messages without sending anything: a periodic PING
        # notices a connection that died silently (a restarted server, a dropped NAT).
        health_check_interval=10,
    )


def _where(url: str) -> str:
    """The server's address without credentials (readiness details are public)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _call_safely(handler: Callable[..., None], *args: str) -> None:
    # A failing handler must neither stop the others nor kill the subscriber thread.
    try:
        handler(*args)
    except Exception:
        log.exception("cache invalidation handler %r failed", handler)
