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
    """A code reviewers give with reject/escalate, tied to the clause it enforces.

    Moderation policies fill ``clause``, ``zh`` and ``en``; a caller of the review queue
    may give only a code, or a code and a ``description`` (texts are optional).

    >>> ReasonCode.coerce({"code": "x", "clause": "c", "en": "Bad"}).label("en")
    'Bad (c)'
    """

    code: str
    clause: str = ""
    zh: str = ""
    en: str = ""
    description: str = ""

    @classmethod
    def coerce(cls, raw: ReasonCode | Mapping[str, Any] | object) -> ReasonCode:
        """Accept a code string, a mapping or an object with these attributes (missing
        or empty ones become "")."""
        if isinstance(raw, ReasonCode):
            return raw
        if isinstance(raw, str):
            return cls(code=raw)
        get = raw.get if isinstance(raw, Mapping) else lambda k: getattr(raw, k, None)
        return cls(**{name: str(get(name) or "") for name in _REASON_FIELDS})

    def label(self, lang: str) -> str:
        """The text for a reviewer reading ``lang`` ("zh" or "en"), falling back sensibly."""
        text = (self.zh if lang == "zh" else self.en) or self.description or self.en or self.zh
        return f"{text} ({self.clause})" if text and self.clause else text or self.clause

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in _REASON_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReasonCode:
        """Read :meth:`to_dict`'s output; dicts stored before ``description`` existed
        (code, clause, zh, en) read as they did."""
        return cls(
            code=str(data["code"]),
            clause=str(data["clause"]),
            zh=str(data["zh"]),
            en=str(data["en"]),
            description=str(data.get("description") or ""),
        )


# The review API's key order (code first, then the texts).
_REASON_FIELDS = ("code", "description", "clause", "zh", "en")


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (what ledger records and receipts carry); fractions
    of a second are kept when the moment has them."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
