"""ASGI middleware: request ids, body-size limits and request metrics.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass through
untouched and an oversized body is refused before it is read into memory.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any, ClassVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import GatewayError, InvalidInputError, PayloadTooLargeError
from common.jsonsafe import (
    MAX_JSON_DEPTH,
    JsonTooDeepError,
    check_storable_text,
    could_nest,
    json_depth_exceeds,
)
from common.mediatype import is_multipart_media_type, media_type
from gateway.errors import BODY_TIMEOUT_STATE, error_response
from gateway.metrics import GatewayMetrics

__all__ = [
    "BodyLimitMiddleware",
    "RequestContextMiddleware",
    "RequestTimeoutError",
]

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``) and records its metrics."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, b"x-request-id")
        request_id = (
            offered
            if offered and _CLIENT_REQUEST_ID.match(offered)
            else (f"req_{secrets.token_hex(8)}")
        )
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                scope["method"], template, status_holder["status"], time.perf_counter() - started
            )


class RequestTimeoutError(GatewayError):
    http_status: ClassVar[int] = 408
    code: ClassVar[str] = "request_timeout"


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 — early by Content-Length, else while
    reading — bodies not whole within the read deadline with 408, and bodies a JSON
    decoder would nest deeper than any real payload, or whose strings hold text no store
    keeps (NUL, lone surrogates), with 422. A NUL in the path or query is refused too.

    Non-multipart bodies (at most ``max_json_bytes``) are read here whole and replayed to
    the app, which lets the checks run before FastAPI's JSON decoder (see
    ``common.jsonsafe`` for why that matters). Multipart uploads stream through, under
    the same deadline.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_json_bytes: int,
        max_upload_bytes: int,
        body_read_timeout_s: float = 60.0,
    ) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes
        self.body_read_timeout_s = body_read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _target_holds_nul(scope):
            await self._refuse(scope, receive, send, _nul_in_target())
            return
        is_upload = is_multipart_media_type(media_type(_header(scope, b"content-type")))
        limit = self.max_upload_bytes if is_upload else self.max_json_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, _too_large(limit))
            return
        bounded = _with_deadline(receive, self.body_read_timeout_s, scope)
        if is_upload and declared is not None:
            # The HTTP server enforces a declared Content-Length, so the body cannot grow.
            await self.app(scope, bounded, send)
            return
        try:
            body = await self._read_capped(bounded, limit)
        except RequestTimeoutError as exc:
            await self._refuse(scope, receive, send, exc)
            return
        if body is None:
            await self._refuse(scope, receive, send, _too_large(limit))
            return
        error = _body_error(body, media_type(_header(scope, b"content-type")))
        if error is not None:
            await self._refuse(scope, receive, send, error)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read_capped(receive: Receive, limit: int) -> bytes | None:
        """The whole body; ``None`` as soon as it passes ``limit``."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, error: GatewayError
    ) -> None:
        request_id = scope.get("state", {}).get("request_id", "")
        response = error_response(error, request_id)
        # Tell the client not to keep sending: the connection is closed after the answer.
        response.headers["connection"] = "close"
        await response(scope, receive, send)


def _body_error(body: bytes, declared_type: str) -> GatewayError | None:
    if declared_type == "application/x-www-form-urlencoded" and b"%00" in body:
        return InvalidInputError(
            "the form holds a NUL character (%00), which cannot be stored",
            details={"reason": "nul"},
        )
    # Every buffered body, whatever its declared type: a route (or a library) may parse
    # a body as JSON that the client labelled otherwise.
    if not could_nest(body):
        return None
    if json_depth_exceeds(body):
        return JsonTooDeepError(
            f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
            details={"max_depth": MAX_JSON_DEPTH},
        )
    try:
        check_storable_text(body)
    except InvalidInputError as exc:
        return exc
    return None


def _target_holds_nul(scope: Scope) -> bool:
    # Starlette percent-decodes the query; PostgreSQL refuses NUL in any text it is
    # compared with, so a filter holding one would fail inside a query.
    return "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")


def _nul_in_target() -> InvalidInputError:
    return InvalidInputError(
        "the request path or query holds a NUL character (%00)", details={"reason": "nul"}
    )


def _with_deadline(downstream: Receive, timeout_s: float, scope: Scope) -> Receive:
    """``receive``, failing with 408 if the body is not in within ``timeout_s`` (slow
    senders otherwise hold a connection and a buffer for as long as they like). Once the
    body is complete, later calls (disconnect notices) pass through unbounded.

    The error is also left in the request state (``BODY_TIMEOUT_STATE``): FastAPI's form
    parsing turns any exception from ``receive`` into a bare 400, and the error handler
    answers the 408 from there."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    body_done = False

    async def receive() -> Message:
        nonlocal body_done
        if body_done:
            return await downstream()
        try:
            async with asyncio.timeout_at(deadline):
                message = await downstream()
        except TimeoutError:
            error = RequestTimeoutError(
                "the request body did not arrive in time", details={"timeout_s": timeout_s}
            )
            scope.setdefault("state", {})[BODY_TIMEOUT_STATE] = error
            raise error from None
        body_done = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return receive


def _replay(body: bytes, downstream: Receive) -> Receive:
    """Hands the app the buffered body, then the real stream (for disconnect notices)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await downstream()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _too_large(limit: int) -> PayloadTooLargeError:
    details: dict[str, Any] = {"limit_bytes": limit}
    return PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes", details=details)
