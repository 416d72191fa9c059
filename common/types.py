"""Value types every domain agrees on: content kinds, media types, actions, languages, ids.

>>> ContentKind("image")
<ContentKind.IMAGE: 'image'>
>>> MediaType.parse("Image/JPG; q=1"), MediaType.JPEG.suffix
(<MediaType.JPEG: 'image/jpeg'>, '.jpg')
>>> utc_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
'2026-01-02T03:04:05Z'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NewType

__all__ = [
    "Action",
    "ContentKind",
    "Direction",
    "Finding",
    "GenerationId",
    "Language",
    "MediaType",
    "ReasonCode",
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
    "model/gltf+binary": MediaType.GLB,
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


@dataclass(frozen=True, slots=True)
class Finding:
    """What a scanner found in one piece of content, and — once a policy has judged it —
    the direction it was checked in, the action its rule asks and the rule's clause."""

    scanner: str
    category: str  # e.g. "toxicity", "pii.cn_resident_id", "ad_law.absolute_term"
    score: float  # 0..1
    span: tuple[int, int] | None = None  # [start, end) in the original text
    evidence: str | None = None  # what matched; personal data is masked
    direction: Direction | None = None
    action: Action | None = None
    clause: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape stored on a generation and a review task, and served."""
        return {
            "scanner": self.scanner,
            "category": self.category,
            "score": self.score,
            "span": list(self.span) if self.span is not None else None,
            "evidence": self.evidence,
            "direction": self.direction.value if self.direction else None,
            "action": self.action.value if self.action else None,
            "clause": self.clause,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        span = data.get("span")
        direction, action = data.get("direction"), data.get("action")
        return cls(
            scanner=str(data["scanner"]),
            category=str(data["category"]),
            score=float(data["score"]),
            span=(int(span[0]), int(span[1])) if span else None,
            evidence=data.get("evidence"),
            direction=Direction(direction) if direction else None,
            action=Action(action) if action else None,
            clause=data.get("clause"),
        )


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """A code reviewers give with reject/escalate, tied to the clause it enforces."""

    code: str
    clause: str
    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "clause": self.clause, "zh": self.zh, "en": self.en}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReasonCode:
        return cls(str(data["code"]), str(data["clause"]), str(data["zh"]), str(data["en"]))


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (what ledger records and receipts carry); fractions
    of a second are kept when the moment has them."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
