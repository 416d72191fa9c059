"""Webhook signatures: ``X-AIGC-Signature: t=<unix seconds>,v1=<hex>`` (see the package)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from common.errors import AuthenticationError

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "USER_AGENT",
    "WebhookSignatureError",
    "encode_body",
    "secret_key",
    "sign_payload",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "X-AIGC-Signature"
EVENT_HEADER = "X-AIGC-Event"
DELIVERY_HEADER = "X-AIGC-Delivery"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
USER_AGENT = "aigc-gateway-webhooks/1"


class WebhookSignatureError(AuthenticationError):
    """The signature header is missing, malformed, stale or does not match (401)."""

    code = "invalid_webhook_signature"


def secret_key(secret: bytes | str) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _mac(secret: bytes | str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_payload(secret: bytes | str, body: bytes, timestamp: int) -> str:
    """The ``X-AIGC-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return signature_header([secret], body, timestamp)


def signature_header(secrets: Sequence[bytes | str], body: bytes, timestamp: int) -> str:
    """``t=<ts>,v1=<mac>[,v1=<mac>…]``: one ``v1`` per secret, newest first (as Stripe
    does during a rotation); a receiver holding any one of them verifies it."""
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    macs = ",".join(f"{SIGNATURE_SCHEME}={_mac(secret, body, timestamp)}" for secret in secrets)
    return f"t={timestamp},{macs}"


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
    # As bytes: compare_digest refuses str holding non-ASCII (a TypeError, not a "no").
    if not any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
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
