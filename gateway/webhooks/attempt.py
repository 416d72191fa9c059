"""One delivery attempt: sign, POST to a checked address, classify the answer.

Used by :class:`~gateway.webhooks.dispatcher.OutboxDispatcher`; each attempt is then
reported as a :class:`DeliveryAttempt`, the row :class:`~gateway.webhooks.store.DeliveryLog`
writes::

    post = SignedPost(delivery_id, url, "generation.released", body)
    addresses, failure = resolve_addresses(url, allow_private_networks=False)
    result = post_signed(client, post, addresses[0], lambda: [b"whsec_..."])
    if result.retry:
        delay_s = backoff_s(attempts, initial_s=1.0, max_s=300.0,
                            retry_after_s=result.retry_after_s)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from gateway.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    USER_AGENT,
    signature_header,
)
from gateway.webhooks.targets import (
    CallbackUrlNotAllowedError,
    InvalidCallbackUrlError,
    pinned_request,
    resolve_callback_target,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AttemptResult",
    "DeliveryAttempt",
    "SignedPost",
    "backoff_s",
    "classify",
    "post_signed",
    "resolve_addresses",
]

_RETRYABLE_STATUS = frozenset({408, 429})
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedPost:
    """What every attempt of one delivery sends: the same id, event and bytes."""

    delivery_id: str
    url: str
    event: str
    body: bytes


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one attempt went, and whether another one may succeed."""

    delivered: bool
    retry: bool
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None


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


def post_signed(
    client: httpx.Client,
    post: SignedPost,
    address: str,
    secrets: Callable[[], Sequence[bytes]],
) -> AttemptResult:
    """One POST of ``post`` to ``address`` (a checked address of its URL's host)."""
    import httpx

    try:
        signing_secrets = secrets()
    except Exception:  # the secret store is down: like a network error, retry later
        _log.exception("webhook %s: no signing secret", post.delivery_id)
        return AttemptResult(False, retry=True, error="signing secret unavailable")
    pinned_url, host_header, extensions = pinned_request(post.url, address)
    timestamp = int(time.time())  # signed afresh per attempt: receivers reject stale t
    headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        # One connection per attempt: the pool keys connections by address, and a TLS
        # session verified for one host must never carry another host's callback.
        "Connection": "close",
        SIGNATURE_HEADER: signature_header(signing_secrets, post.body, timestamp),
        EVENT_HEADER: post.event,
        DELIVERY_HEADER: post.delivery_id,
    }
    try:
        response = client.post(
            pinned_url, content=post.body, headers=headers, extensions=extensions
        )
    except httpx.HTTPError as exc:
        return AttemptResult(False, retry=True, error=type(exc).__name__)
    return classify(response.status_code, response.headers.get("Retry-After"))


def resolve_addresses(
    url: str, *, allow_private_networks: bool
) -> tuple[tuple[str, ...], AttemptResult | None]:
    """The checked addresses of a URL that came without a pin, or why there are none
    (a private answer is final; a name that does not resolve may resolve later)."""
    try:
        target = resolve_callback_target(url, allow_private_networks=allow_private_networks)
    except CallbackUrlNotAllowedError:
        return (), AttemptResult(False, retry=False, error="resolves to a private address")
    except InvalidCallbackUrlError:
        return (), AttemptResult(False, retry=True, error="host does not resolve")
    return target.addresses, None


def backoff_s(
    attempts: int,
    *,
    initial_s: float,
    max_s: float,
    jitter: bool = True,
    retry_after_s: float | None = None,
) -> float:
    """The wait before attempt ``attempts + 1``: doubling from ``initial_s``, capped at
    ``max_s``, jittered, and never shorter than the receiver's ``Retry-After``."""
    exponential: float = initial_s * 2.0 ** (attempts - 1)
    delay = min(max_s, exponential)
    if jitter:
        delay *= random.uniform(0.5, 1.0)  # spread retries of many deliveries apart
    return min(max_s, max(delay, retry_after_s or 0.0))


def classify(status_code: int, retry_after: str | None) -> AttemptResult:
    """2xx is delivered; network-like answers (408, 429, 5xx) are worth a retry."""
    if 200 <= status_code < 300:
        return AttemptResult(True, retry=False, status_code=status_code)
    retryable = status_code >= 500 or status_code in _RETRYABLE_STATUS
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    return AttemptResult(
        False,
        retry=retryable,
        status_code=status_code,
        error=f"HTTP {status_code}",
        retry_after_s=delay,
    )
