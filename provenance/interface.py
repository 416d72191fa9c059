"""What the gateway hands the stamper, what it gets back, and the errors it may see.

The pipeline builds one :class:`StampRequest` per released artifact and calls
:meth:`provenance.stamper.Stamper.stamp`::

    request = StampRequest(
        data=png_bytes,
        media_type=MediaType.PNG,
        artifact_id="gen_01HX",
        content_producer="aigc-gateway",
        generator=GeneratorInfo(name="tiny-image", model="tiny-sd", revision="3f2a9c"),
        moderation=ModerationSummary(decision="allow", policy_name="cn-marketing",
                                     policy_version="1"),
        watermark_id=0x1234_5678_9ABC,
    )
    result = stamper.stamp(request)
    result.sha256, result.manifest_label, [s.name for s in result.steps if s.applied]

Error tree (all subclass :mod:`common.errors`)::

    StampingError (500)                 a step failed on valid input
    SigningUnavailableError (503)       credentials missing or the KeyProvider failed
    UnsupportedMediaError (415)         not PNG/JPEG/WebP/GLB/text/Markdown, or type lies
    InvalidMediaError (422)             truncated, corrupt or undecodable bytes
    MediaTooLargeError (413)            decompression bomb or over the size limit
    CertificateError (500)              a certificate chain or key file is unusable
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from common.errors import (
    ConfigurationError,
    GatewayError,
    InvalidInputError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from common.types import Language, MediaType

__all__ = [
    "C2paReading",
    "C2paState",
    "CertificateError",
    "Corner",
    "ExplicitLabelReading",
    "GeneratorInfo",
    "ImplicitLabelReading",
    "InvalidMediaError",
    "LedgerReference",
    "MediaTooLargeError",
    "ModerationSummary",
    "ReviewSummary",
    "SigningUnavailableError",
    "StampOptions",
    "StampRequest",
    "StampResult",
    "StampingError",
    "StepName",
    "StepResult",
    "TextLabelPosition",
    "UnsupportedMediaError",
]


# --- errors -----------------------------------------------------------------------------


class StampingError(GatewayError):
    """A stamping step failed on input that passed validation (500)."""

    code = "stamping_failed"


class SigningUnavailableError(UnavailableError):
    """The signing credentials are missing or the key provider did not answer (503)."""

    code = "signing_unavailable"


class UnsupportedMediaError(UnsupportedMediaTypeError):
    """The bytes are not a type we stamp, or contradict the declared type (415)."""

    code = "unsupported_media_type"


class InvalidMediaError(InvalidInputError):
    """The bytes claim a supported type but are truncated, corrupt or undecodable (422)."""

    code = "invalid_media"


class MediaTooLargeError(PayloadTooLargeError):
    """Declared dimensions or size exceed the limits: decompression-bomb guard (413)."""

    code = "media_too_large"


class CertificateError(ConfigurationError):
    """A configured certificate chain or private key cannot be used for C2PA (500)."""

    code = "certificate_error"


# --- closed sets ------------------------------------------------------------------------


class Corner(StrEnum):
    TOP_LEFT = "top_left"
    TOP_RIGHT = "top_right"
    BOTTOM_LEFT = "bottom_left"
    BOTTOM_RIGHT = "bottom_right"


class TextLabelPosition(StrEnum):
    # Measures Art. 4(1): at the start, the end or a suitable middle position.
    START = "start"
    END = "end"


class StepName(StrEnum):
    EXPLICIT_LABEL = "explicit_label"
    WATERMARK = "watermark"
    # Not a plugin: the stamper records encoding the pixels between the two phases.
    ENCODE = "encode"
    IMPLICIT_LABEL = "implicit_label"
    C2PA = "c2pa"


class C2paState(StrEnum):
    # C2PA 2.2 §15: well-formed ⊂ valid ⊂ trusted.
    ABSENT = "absent"
    INVALID = "invalid"
    WELL_FORMED = "well_formed"
    VALID = "valid"
    TRUSTED = "trusted"


# --- request ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneratorInfo:
    name: str  # registry name, e.g. "tiny-image"; "external" for /v1/stamp uploads
    model: str
    revision: str


@dataclass(frozen=True, slots=True)
class ModerationSummary:
    decision: str  # "allow" | "review" | "block" as decided by the policy
    policy_name: str
    policy_version: str
    # category → count, e.g. {"ad_law.absolute_term": 1}; never the evidence itself
    findings: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    reviewer_id: str
    decision: str  # "approve" | "reject" | "escalate"
    decided_at: datetime
    reason_code: str | None = None
    reviewers: tuple[str, ...] = ()  # every reviewer when the policy asked for two
    edited: bool = False  # the reviewer rewrote the output before approving it


@dataclass(frozen=True, slots=True)
class LedgerReference:
    event: str  # "generation" | "moderation" | "review"
    index: int
    leaf_hash: str  # lowercase hex


@dataclass(frozen=True, slots=True)
class StampOptions:
    """Per-policy knobs; defaults are the shipped policy's."""

    label_corner: Corner = Corner.BOTTOM_RIGHT
    text_label_position: TextLabelPosition = TextLabelPosition.END
    disabled_steps: frozenset[StepName] = frozenset()
    # None keeps PNG (contract: images are PNG unless asked otherwise).
    output_media_type: MediaType | None = None


@dataclass(frozen=True, slots=True)
class StampRequest:
    data: bytes
    media_type: MediaType | None  # declared (None: sniffed); the bytes must agree
    artifact_id: str  # our generation id → GB 45438 ProduceID
    content_producer: str  # GB 45438 ContentProducer (provider code)
    generator: GeneratorInfo
    moderation: ModerationSummary
    # A unique id the ledger maps back to this artifact; None derives one from artifact_id
    # (see provenance.steps.watermark.derive_watermark_id).
    watermark_id: int | None = None
    label_language: Language = Language.ZH
    review: ReviewSummary | None = None
    ledger_refs: tuple[LedgerReference, ...] = ()
    options: StampOptions = field(default_factory=StampOptions)


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepResult:
    name: StepName
    applied: bool
    detail: str  # what was done, or why not
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the ledger event and the generation record."""
        return {
            "name": str(self.name),
            "applied": self.applied,
            "detail": self.detail,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True, slots=True)
class StampResult:
    data: bytes
    media_type: MediaType
    sha256: str  # lowercase hex of ``data``
    watermark_id: int | None  # None when not embedded; see ``watermark_reason``
    watermark_reason: str | None
    manifest_label: str | None  # C2PA active manifest label (urn:c2pa:…)
    manifest_hash: str | None  # lowercase hex SHA-256 of ``manifest_bytes``
    # The C2PA manifest store: the sidecar ``.c2pa`` for text/Markdown/GLB, and a copy of
    # the embedded store for images.
    manifest_bytes: bytes | None
    manifest_embedded: bool
    # The GB 45438 JSON (compact); for plain text it is returned only here.
    implicit_label: str | None
    steps: tuple[StepResult, ...]

    def step(self, name: StepName) -> StepResult | None:
        return next((s for s in self.steps if s.name is name), None)

    @property
    def implicit_label_fields(self) -> dict[str, str] | None:
        """The seven GB 45438 fields of ``implicit_label``, parsed."""
        if self.implicit_label is None:
            return None
        fields: dict[str, str] = json.loads(self.implicit_label)["AIGC"]
        return fields


# --- read-back --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class C2paReading:
    present: bool
    state: C2paState
    validation_status: tuple[str, ...]  # codes, e.g. "signingCredential.trusted"
    manifest_label: str | None
    manifest: Mapping[str, Any]  # summary: claim generator, actions, our assertions
    soft_binding_ids: tuple[int, ...]  # watermark ids from c2pa.soft-binding assertions


@dataclass(frozen=True, slots=True)
class ImplicitLabelReading:
    found: bool
    fields: Mapping[str, str]  # the inner object of {"AIGC": {...}}
    charset_ok: bool  # GB 45438 Annex E character set
    count: int  # labels found; the standard allows exactly one
    reserved_code_ok: bool | None  # None when ReservedCode1 is not ours to check


@dataclass(frozen=True, slots=True)
class ExplicitLabelReading:
    found: bool
    method: str  # how we looked: "text_match", "glb_names", "image_corner_contrast"
    detail: str
