"""What the moderation domain promises: scanners, findings, decisions and its errors.

A scanner looks at one text (or image) and reports findings; a policy turns findings
into one decision (allow, review or block) that explains itself::

    engine = build_engine(ModerationSettings())
    decision = engine.moderate_text("全网最低价", Direction.INPUT, load_policy("cn-marketing"))
    decision.action               # Action.REVIEW
    decision.reasons[0].clause    # 《中华人民共和国广告法》第九条第三项 ...
    decision.findings[0].span     # (2, 4): the characters that matched, in the original text

Every finding carries the scanner that produced it, a category (``toxicity``,
``pii.cn_resident_id``, ``ad_law.absolute_term``, ``bias.age`` ...), a score in 0..1,
the span of the original text it refers to and a short piece of evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from common.errors import (
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from common.types import Action, Direction, Finding

__all__ = [
    "Action",
    "Decision",
    "DecisionReason",
    "Direction",
    "Finding",
    "ImageHashEntry",
    "ImageScanner",
    "InvalidTermError",
    "InvalidTextError",
    "ModerationEntryNotFoundError",
    "NotAModelError",
    "NotAnImageError",
    "PolicyError",
    "Scanner",
    "ScannerNotReadyError",
    "TenantLists",
    "TextTooLargeError",
    "UnknownScannerError",
]


class PolicyError(ConfigurationError):
    """A policy file is missing or malformed; the message names the file and line."""

    code = "policy_error"

    def public_detail(self) -> dict[str, Any]:
        # The message carries a server path; clients get the file name and line only.
        return {
            "code": self.code,
            "message": "the moderation policy is misconfigured",
            "details": self.details,
        }


class UnknownScannerError(ConfigurationError):
    """A policy names a scanner the registry does not know (message lists known names)."""

    code = "unknown_scanner"


class ScannerNotReadyError(UnavailableError):
    """A configured scanner cannot run: its model or checkpoint is missing (503)."""

    code = "moderation_unavailable"


class NotAnImageError(UnsupportedMediaTypeError):
    """Bytes given to an image scanner are not a decodable image (415)."""

    code = "not_an_image"


class NotAModelError(UnsupportedMediaTypeError):
    """Bytes given as a 3D model are not a binary glTF 2.0 (GLB) file (415)."""

    code = "not_a_model"


class TextTooLargeError(PayloadTooLargeError):
    """A text is longer than the configured ``max_text_chars`` (413)."""

    code = "text_too_large"


class InvalidTextError(InvalidInputError):
    """Bytes that should hold text are not valid UTF-8 (422)."""

    code = "invalid_text"


class InvalidTermError(InvalidInputError):
    """A brand-list term is empty or too long (422)."""

    code = "invalid_term"


class ModerationEntryNotFoundError(NotFoundError):
    """A brand-list term or registered image id does not exist for this tenant (404)."""

    code = "not_found"


@dataclass(frozen=True, slots=True)
class DecisionReason:
    """Why one finding moved the decision: the rule, its clause and the action it asks."""

    category: str
    action: Action
    clause: str
    rule: str  # the rule's id in the policy file
    finding_index: int  # index into Decision.findings
    reason_code: str | None = None  # the reviewer reason code tied to the same clause


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    findings: tuple[Finding, ...]
    reasons: tuple[DecisionReason, ...]
    policy_name: str
    policy_version: str  # sha256 hex of the policy's canonical content
    direction: Direction
    review_queue: str  # queue of the deciding rule; the policy's default queue otherwise
    double_review: bool = False
    # "name=version" of every scanner that ran, in order: lists, rules and models are
    # pinned on the decision as the policy is (STYLE: model revisions pinned).
    scanner_versions: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when the content goes to review or is blocked (OpenAI's ``flagged``)."""
        return self.action is not Action.ALLOW


@dataclass(frozen=True, slots=True)
class TenantLists:
    """A tenant's own brand lists, matched by the lexicon scanner's normalisation."""

    banned_terms: tuple[str, ...] = ()
    competitor_names: tuple[str, ...] = ()
    # Registered product names: ad-law terms inside them are exempt (SAMR 2023 guide).
    product_names: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.banned_terms or self.competitor_names or self.product_names)


@dataclass(frozen=True, slots=True)
class ImageHashEntry:
    """One registered image as the image scanner needs it: 64-bit hashes as hex."""

    entry_id: int
    kind: str  # "banned" | "protected" | "rejected"
    label: str
    phash: str
    dhash: str


@runtime_checkable
class Scanner(Protocol):
    """Looks at one piece of text and reports what it found."""

    name: str
    version: str  # lists, rules or model revision; changes when results may change

    def scan(self, text: str) -> list[Finding]:
        """Findings for one text; spans index the text as given."""
        ...

    def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings per text; model scanners batch their inference here."""
        ...


@runtime_checkable
class ImageScanner(Protocol):
    """Looks at one image (encoded bytes) against a tenant's registry."""

    name: str
    version: str

    def scan_image(self, data: bytes, registry: Sequence[ImageHashEntry]) -> list[Finding]:
        """Findings for one image; raise ``NotAnImageError`` for undecodable bytes."""
        ...
