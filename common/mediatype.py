"""Media types parsed in one place, so the middleware and the routes agree on them.

media_type("Application/JSON; charset=utf-8") == "application/json"
is_json_media_type("application/problem+json") is True
is_json_media_type("application/jsonl") is False   # a different format, not parsed as JSON
"""

from __future__ import annotations

__all__ = ["is_json_media_type", "is_multipart_media_type", "media_type"]


def media_type(content_type: str | None) -> str:
    """The ``type/subtype`` of a Content-Type header, lower-cased, parameters dropped."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media_type(value: str) -> bool:
    """Whether a parsed media type names a single JSON document (RFC 8259, RFC 6839)."""
    return value == "application/json" or value.endswith("+json")


def is_multipart_media_type(value: str) -> bool:
    return value.startswith("multipart/")
