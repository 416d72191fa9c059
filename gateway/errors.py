"""The one place where errors become HTTP responses in the contract's shape::

    {"error": {"code": "...", "message": "...", "details": ..., "request_id": "req_…"}}

Routes raise ``common.errors.GatewayError`` subclasses; validation errors become 422,
unknown routes 404, and anything unexpected a 500 that says nothing of the internals.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import GatewayError, RateLimitedError, UnavailableError
from common.mediatype import media_type

__all__ = [
    "BODY_TIMEOUT_STATE",
    "error_body",
    "error_response",
    "install_error_handlers",
    "request_id_of",
    "retry_after_header",
]

# Where the body-limit middleware leaves the 408 it raised while FastAPI read the body.
BODY_TIMEOUT_STATE = "body_read_timeout"

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def error_body(code: str, message: str, details: Any, request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": jsonable_encoder(details),
            "request_id": request_id,
        }
    }


def error_response(exc: GatewayError, request_id: str) -> JSONResponse:
    detail = exc.public_detail()
    headers: dict[str, str] = {}
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = retry_after_header(exc)
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return JSONResponse(
        error_body(detail["code"], detail["message"], detail["details"], request_id),
        status_code=exc.http_status,
        headers=headers,
    )


def retry_after_header(error: GatewayError) -> str | None:
    """Whole seconds for ``Retry-After`` (RFC 9110 §10.2.3) from ``details.retry_after_s``.

    Every 429 carries one (RFC 6585 §4; one second when the error names none), and so
    does any other error that says when to come back (a busy 503).
    """
    details = error.details if isinstance(error.details, dict) else {}
    seconds = details.get("retry_after_s")
    if isinstance(seconds, int | float) and math.isfinite(seconds):
        return str(max(1, math.ceil(seconds)))
    return "1" if isinstance(error, RateLimitedError) else None


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Drop the offending input from the echo: it may be huge or hold personal data.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


class DatabaseUnavailableError(UnavailableError):
    code = "database_unavailable"


def install_error_handlers(app: FastAPI) -> None:
    async def on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        if exc.http_status >= 500:
            log.warning("request failed: %s: %s", exc.code, exc.message)
        return error_response(exc, request_id_of(request))

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        body = error_body(
            "invalid_request",
            "the request does not match the schema",
            _validation_details(exc),
            request_id_of(request),
        )
        return JSONResponse(body, status_code=422)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # Our own code raises GatewayError; a bare 400 comes from FastAPI failing to
            # read or decode the body. A read that ran out of time is the 408 the body
            # deadline raised (FastAPI swallowed it); the rest is malformed input, 422.
            timed_out = request.scope.get("state", {}).get(BODY_TIMEOUT_STATE)
            if isinstance(timed_out, GatewayError):
                return error_response(timed_out, request_id_of(request))
            return _undecodable_body(request)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        body = error_body(code, str(exc.detail), None, request_id_of(request))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    def _undecodable_body(request: Request) -> JSONResponse:
        is_form = media_type(request.headers.get("content-type")).startswith("multipart/")
        message = (
            "the multipart body could not be parsed"
            if is_form
            else "the request body could not be decoded as UTF-8 JSON"
        )
        body = error_body("invalid_request", message, None, request_id_of(request))
        return JSONResponse(body, status_code=422)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            # The database is down or dropped the connection: the client may retry, as
            # for any dependency that is away; each write was one transaction, so the
            # request left nothing half-written.
            log.warning(
                "database unavailable on %s %s: %s",
                request.method,
                request.url.path,
                type(exc.orig).__name__,
            )
            unavailable = DatabaseUnavailableError(
                "the database is unavailable; retry shortly", details={"retry_after_s": 5}
            )
            return error_response(unavailable, request_id_of(request))
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = error_body(
            "internal_error",
            "the gateway failed to handle this request",
            None,
            request_id_of(request),
        )
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
