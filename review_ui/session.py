"""Signed session cookies and CSRF tokens for the reviewer pages (itsdangerous signers).

A session is a small JSON payload (a random nonce, the reviewer, an expiry), URL-safe
base64, followed by its HMAC-SHA256 signature from an ``itsdangerous.Signer`` keyed with
the router's secret; a cookie that fails the signature or has expired is no session at
all. Sessions are otherwise stateless: sign-out puts the nonce on the service's
``review_signed_out_sessions`` list (see ``web.py``). The CSRF token of a session is
another signer's signature of its nonce, in hex: the synchronizer-token pattern (OWASP
CSRF Prevention Cheat Sheet) without storing tokens. Signing in replaces the nonce, so
a token planted before sign-in is useless after it::

    codec = SessionCodec(secret=b"32 random bytes ...", ttl_s=8 * 3600)
    cookie = codec.encode(codec.new_session(reviewer, now=time.time()))
    session = codec.decode(cookie, now=time.time())   # None when forged or stale
    codec.csrf_token(session) == form["csrf_token"]    # compare with codec.csrf_ok
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, Signer
from itsdangerous.encoding import base64_decode, base64_encode

from review_ui.interface import Reviewer

__all__ = ["ANONYMOUS_TTL_S", "Session", "SessionCodec"]

# A signed-out visitor gets a session too, so the sign-in form has a CSRF token
# (login CSRF); it only needs to live as long as someone takes to type a key.
ANONYMOUS_TTL_S = 3600
_MIN_SECRET_BYTES = 16
# Domain separation: each salt derives its own key from the secret, so a session
# signature can never pass as a CSRF token or vice versa.
_SESSION_SALT = b"aigc-review.session"
_CSRF_SALT = b"aigc-review.csrf"


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    expires_at: float  # unix seconds
    reviewer: Reviewer | None = None


class SessionCodec:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the session secret needs at least {_MIN_SECRET_BYTES} bytes")
        self._session_signer = _signer(secret, _SESSION_SALT)
        self._csrf_signer = _signer(secret, _CSRF_SALT)
        self._ttl_s = ttl_s

    def new_session(self, reviewer: Reviewer | None, *, now: float) -> Session:
        ttl = self._ttl_s if reviewer else ANONYMOUS_TTL_S
        return Session(nonce=secrets.token_urlsafe(18), expires_at=now + ttl, reviewer=reviewer)

    def encode(self, session: Session) -> str:
        """``<base64 JSON>.<base64 signature>``: the cookie value."""
        reviewer = session.reviewer
        payload = {
            "n": session.nonce,
            "e": int(session.expires_at),
            "r": _reviewer_fields(reviewer) if reviewer else None,
        }
        body = base64_encode(json.dumps(payload, separators=(",", ":")))
        return self._session_signer.sign(body).decode()

    def decode(self, cookie: str | None, *, now: float) -> Session | None:
        """The session of a cookie, or None when it is missing, forged or past its expiry.

        The expiry travels in the signed payload rather than as itsdangerous's timestamp:
        it differs per session (signed-in or anonymous) and is read on the caller's clock.
        """
        if not cookie:
            return None
        try:
            payload = json.loads(base64_decode(self._session_signer.unsign(cookie)))
        except (BadData, ValueError):  # bad signature, bad base64, bad JSON
            return None
        if not isinstance(payload, dict) or payload.get("e", 0) <= now:
            return None
        raw = payload.get("r")
        reviewer = _reviewer(raw) if raw else None
        return Session(nonce=str(payload["n"]), expires_at=float(payload["e"]), reviewer=reviewer)

    def csrf_token(self, session: Session) -> str:
        # Hex, the form the pages have always carried (the signer speaks base64).
        return base64_decode(self._csrf_signer.get_signature(session.nonce)).hex()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        # As bytes: compare_digest refuses str holding non-ASCII (a TypeError, a 500).
        return hmac.compare_digest(self.csrf_token(session).encode(), token.encode())


def _signer(secret: bytes, salt: bytes) -> Signer:
    # HMAC key derivation and SHA-256 rather than itsdangerous's SHA-1 defaults.
    return Signer(secret, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)


def _reviewer_fields(reviewer: Reviewer) -> list[Any]:
    return [
        reviewer.id,
        reviewer.tenant_id,
        reviewer.display_name,
        reviewer.senior,
        reviewer.key_id,
    ]


def _reviewer(raw: list[Any]) -> Reviewer:
    # A cookie from before the senior capability has three fields: not a senior.
    senior = len(raw) > 3 and raw[3] is True
    key_id = str(raw[4]) if len(raw) > 4 else ""
    return Reviewer(str(raw[0]), str(raw[1]), str(raw[2]), senior=senior, key_id=key_id)
