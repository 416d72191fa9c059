"""The OpenAPI document, made true to what the service answers.

FastAPI documents a 422 with its own ``HTTPValidationError`` body and no other error at
all, while every route here answers errors in the contract's shape
(``{"error": {code, message, details, request_id}}``) — from the route, the auth
dependency or the body-limit middleware that runs before any route. This module replaces
the generated error responses with the ones that can really come back::

    install_openapi(app)      # after the routes are included
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["ERROR_SCHEMA", "install_openapi"]

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "request_id": {"type": "string"},
            },
        }
    },
}

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}

# Any operation can meet these: a bad or missing key, the wrong role, an oversized or
# deeply nested or slow body (middleware), a body or parameter that fails validation, an id that
# names nothing, a state conflict, the rate limit, and a dependency that is down.
_ERRORS: dict[int, str] = {
    400: "Bad request (for example a proof for a tree size beyond the log's)",
    401: "Missing, invalid or revoked API key",
    403: "The key's role or the tenant's settings do not allow this",
    404: "No such item for this tenant (another tenant's id answers the same)",
    408: "The request body did not arrive within the read deadline",
    409: "The item is in a state that does not allow this (claimed, not released …)",
    413: "Body, upload or prompt over the limit",
    415: "A media type this operation does not take",
    422: "Malformed JSON, invalid UTF-8, text no store keeps (NUL, a lone surrogate), "
    "a schema violation or a bad parameter",
    429: "Rate limited; Retry-After says when to try again",
    503: "A model, store or chain this operation needs is not available",
}
_UNDOCUMENTED_BY_FASTAPI = ("HTTPValidationError", "ValidationError")


def install_openapi(app: FastAPI) -> None:
    """Serve the corrected document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = with_error_responses(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def with_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Every operation's error responses in the contract's shape (pure; for tests)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorResponse"] = ERROR_SCHEMA
    for name in _UNDOCUMENTED_BY_FASTAPI:
        components.pop(name, None)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in _ERRORS.items():
                responses[str(status)] = {
                    "description": description,
                    "content": {"application/json": {"schema": _ERROR_REF}},
                }
    return schema
