"""Value types every domain agrees on: content kinds, media types, actions, languages, ids.

>>> ContentKind("image")
<ContentKind.IMAGE: 'image'>
>>> MediaType.parse("Image/JPG; q=1"), MediaType.JPEG.suffix
(<MediaType.JPEG: 'image/jpeg'>, '.jpg')
>>> utc_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
'2026-01-02T03:04:05Z'
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import NewType

__all__ = [
    "Action",
    "ContentKind",
    "Direction",
    "GenerationId",
    "Language",
    "MediaType",
    "TenantId",
    "utc_timestamp",
]

TenantId = NewType("TenantId", str)
GenerationId = NewType("GenerationId", str)


class ContentKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    MODEL3D = "model3d"


class MediaType(StrEnum):
    PNG = "image/png"
    JPEG = "image/jpeg"
    WEBP = "image/webp"
    GLB = "model/gltf-binary"
    TEXT = "text/plain"
    MARKDOWN = "text/markdown"

    @property
    def suffix(self) -> str:
        """The file-name extension content of this type is stored under."""
        return _SUFFIXES[self]

    @classmethod
    def parse(cls, text: str | None) -> MediaType | None:
        """A media type from a Content-Type (parameters dropped), a short name ("png",
        "jpg", "markdown") or a file extension (".jpeg"); ``None`` when it names none."""
        key = (text or "").split(";", 1)[0].strip().lower()
        try:
            return cls(key)
        except ValueError:
            return _ALIASES.get(key.removeprefix("."))


_SUFFIXES = {
    MediaType.PNG: ".png",
    MediaType.JPEG: ".jpg",
    MediaType.WEBP: ".webp",
    MediaType.GLB: ".glb",
    MediaType.TEXT: ".txt",
    MediaType.MARKDOWN: ".md",
}
_ALIASES = {
    "png": MediaType.PNG,
    "jpeg": MediaType.JPEG,
    "jpg": MediaType.JPEG,
    "image/jpg": MediaType.JPEG,
    "webp": MediaType.WEBP,
    "glb": MediaType.GLB,
    "txt": MediaType.TEXT,
    "text": MediaType.TEXT,
    "md": MediaType.MARKDOWN,
    "markdown": MediaType.MARKDOWN,
    "text/x-markdown": MediaType.MARKDOWN,
}


class Direction(StrEnum):
    INPUT = "input"  # prompts, before a generator sees them
    OUTPUT = "output"  # generated or uploaded content, before release


class Action(StrEnum):
    """Ordered by severity: a decision takes the most severe action of its findings."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.REVIEW: 1, Action.BLOCK: 2}


class Language(StrEnum):
    """The two languages labels, explanations and pages are written in."""

    ZH = "zh"
    EN = "en"


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (what ledger records and receipts carry); fractions
    of a second are kept when the moment has them."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
