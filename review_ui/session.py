"""Signed session cookies and CSRF tokens for the reviewer pages (no server-side store).

A session is a small JSON payload (a random nonce, the reviewer, an expiry) followed by
its HMAC-SHA256 under the router's secret; a cookie that fails the MAC or has expired is
no session at all. The CSRF token of a session is HMAC(secret, "csrf" ‖ nonce): the
synchronizer-token pattern (OWASP CSRF Prevention Cheat Sheet) without storing tokens.
Signing in replaces the nonce, so a token planted before sign-in is useless after it::

    codec = SessionCodec(secret=b"32 random bytes ...", ttl_s=8 * 3600)
    cookie = codec.encode(codec.new_session(reviewer, now=time.time()))
    session = codec.decode(cookie, now=time.time())   # None when forged or stale
    codec.csrf_token(session) == form["csrf_token"]    # compare with codec.csrf_ok
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from review_ui.interface import Reviewer

__all__ = ["ANONYMOUS_TTL_S", "Session", "SessionCodec"]

# A signed-out visitor gets a session too, so the sign-in form has a CSRF token
# (login CSRF); it only needs to live as long as someone takes to type a key.
ANONYMOUS_TTL_S = 3600
_MIN_SECRET_BYTES = 16


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    expires_at: float  # unix seconds
    reviewer: Reviewer | None = None


class SessionCodec:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the session secret needs at least {_MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._ttl_s = ttl_s

    def new_session(self, reviewer: Reviewer | None, *, now: float) -> Session:
        ttl = self._ttl_s if reviewer else ANONYMOUS_TTL_S
        return Session(nonce=secrets.token_urlsafe(18), expires_at=now + ttl, reviewer=reviewer)

    def encode(self, session: Session) -> str:
        reviewer = session.reviewer
        payload = {
            "n": session.nonce,
            "e": int(session.expires_at),
            "r": _reviewer_fields(reviewer) if reviewer else None,
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{_b64(self._mac(b'session', body.encode()))}"

    def decode(self, cookie: str | None, *, now: float) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        body, _, mac = cookie.partition(".")
        try:
            valid = hmac.compare_digest(_unb64(mac), self._mac(b"session", body.encode()))
            payload = json.loads(_unb64(body)) if valid else None
        except (binascii.Error, ValueError):
            return None
        if not isinstance(payload, dict) or payload.get("e", 0) <= now:
            return None
        raw = payload.get("r")
        reviewer = _reviewer(raw) if raw else None
        return Session(nonce=str(payload["n"]), expires_at=float(payload["e"]), reviewer=reviewer)

    def csrf_token(self, session: Session) -> str:
        return self._mac(b"csrf", session.nonce.encode()).hex()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(self.csrf_token(session), token)

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        # Domain separation: a session MAC can never pass as a CSRF token or vice versa.
        return hmac.new(self._secret, purpose + b"\x00" + data, hashlib.sha256).digest()


def _reviewer_fields(reviewer: Reviewer) -> list[Any]:
    return [reviewer.id, reviewer.tenant, reviewer.display_name, reviewer.senior, reviewer.key_id]


def _reviewer(raw: list[Any]) -> Reviewer:
    # A cookie from before the senior capability has three fields: not a senior.
    senior = len(raw) > 3 and raw[3] is True
    key_id = str(raw[4]) if len(raw) > 4 else ""
    return Reviewer(str(raw[0]), str(raw[1]), str(raw[2]), senior=senior, key_id=key_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
