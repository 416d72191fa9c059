"""The root of every error the gateway raises on purpose.

Error tree::

    GatewayError                      500 internal_error
    ├── InvalidInputError             422 invalid_input
    ├── NotFoundError                 404 not_found
    ├── ConflictError                 409 conflict
    ├── PayloadTooLargeError          413 payload_too_large
    ├── UnsupportedMediaTypeError     415 unsupported_media_type
    ├── AuthenticationError           401 unauthenticated
    ├── PermissionDeniedError         403 forbidden
    ├── RateLimitedError              429 rate_limited
    ├── ConfigurationError            500 configuration_error
    └── UpstreamError                 502 upstream_error
        └── UnavailableError          503 unavailable

Domain packages subclass these in their ``interface.py``; ``gateway`` turns any of
them into the contract's error JSON in one exception handler. ``public_detail()``
is what reaches the client: it must never carry secrets, file paths or stack traces.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "GatewayError",
    "InvalidInputError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "UpstreamError",
]


class GatewayError(Exception):
    """Base class: an error with an HTTP status, a stable code and a safe message."""

    http_status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def public_detail(self) -> dict[str, Any]:
        """The error body for clients: code, message and optional structured details."""
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInputError(GatewayError):
    http_status = 422
    code = "invalid_input"


class NotFoundError(GatewayError):
    http_status = 404
    code = "not_found"


class ConflictError(GatewayError):
    http_status = 409
    code = "conflict"


class PayloadTooLargeError(GatewayError):
    http_status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(GatewayError):
    http_status = 415
    code = "unsupported_media_type"


class AuthenticationError(GatewayError):
    http_status = 401
    code = "unauthenticated"


class PermissionDeniedError(GatewayError):
    http_status = 403
    code = "forbidden"


class RateLimitedError(GatewayError):
    http_status = 429
    code = "rate_limited"


class ConfigurationError(GatewayError):
    http_status = 500
    code = "configuration_error"


class UpstreamError(GatewayError):
    """A dependency (model, upstream server, chain) failed while serving the request."""

    http_status = 502
    code = "upstream_error"


class UnavailableError(UpstreamError):
    """A dependency is not ready (model missing, endpoint down); retrying later may work."""

    http_status = 503
    code = "unavailable"
