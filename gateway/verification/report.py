"""The verification report: what the verifier found, and the JSON body it answers with.

Two layers. The frozen dataclasses (``VerificationReport`` and its sections) are what
the verifier builds and what the CLI, the page and the tests read. The pydantic
``…Public`` models are the ``POST /v1/verify`` body (ARCHITECTURE "HTTP contract"): the
route names ``VerificationReportPublic`` as its ``response_model`` so that
``/openapi.json`` documents it, and ``to_dict()`` is that model's JSON::

    report.verdict                                   # Verdict.VERIFIED
    report.public().c2pa.binding                     # "hard"
    report.to_dict()["ledger"]["inclusion_proof"]    # ["9f2c…", …]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from gateway.verification.verdict import Explanation, Reason, Verdict
from provenance.interface import (
    C2paReading,
    C2paState,
    ExplicitLabelReading,
    ImplicitLabelReading,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "IMAGE_LABEL_HEURISTIC",
    "C2paSection",
    "C2paSectionPublic",
    "CustodyEvent",
    "CustodyEventPublic",
    "ExplanationPublic",
    "ExplicitLabelPublic",
    "ImplicitLabelPublic",
    "LabelNotCheckedPublic",
    "LedgerSection",
    "LedgerSectionPublic",
    "VerificationReport",
    "VerificationReportPublic",
    "WatermarkSection",
    "WatermarkSectionPublic",
]

# ``ExplicitLabelReading.method`` of the image check: a corner-contrast heuristic (no OCR).
IMAGE_LABEL_HEURISTIC = "image_corner_contrast"

WatermarkMethod = Literal["image", "text_green_list"]
LedgerMatch = Literal["content_hash", "manifest", "watermark"]


# --- what the verifier found -----------------------------------------------------------


class _Reported:
    """A part of the report that has a pydantic ``…Public`` twin; ``to_dict()`` is its JSON."""

    __slots__ = ()

    def public(self) -> BaseModel:
        """The twin, built without re-validation (see ``VerificationReport.public``)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (the page and the CLI render these)."""
        return self.public().model_dump(mode="json")


@dataclass(frozen=True, slots=True)
class C2paSection(_Reported):
    present: bool  # a manifest is in (or beside) the submitted file
    state: C2paState
    recovered: bool  # the manifest came through the watermark, not the file
    validation_status: tuple[str, ...]
    manifest_label: str | None
    manifest: Mapping[str, Any]

    @staticmethod
    def of(reading: C2paReading, recovered: bool = False) -> C2paSection:
        return C2paSection(
            present=reading.present and not recovered,
            state=reading.state,
            recovered=recovered,
            validation_status=reading.validation_status,
            manifest_label=reading.manifest_label,
            manifest=reading.manifest,
        )

    def public(self) -> C2paSectionPublic:
        return C2paSectionPublic.model_construct(
            **_public_fields(
                self,
                # A recovered manifest is bound softly (watermark), never by hash.
                binding="soft" if self.recovered else ("hard" if self.present else None),
                manifest=dict(self.manifest) or None,
            )
        )


@dataclass(frozen=True, slots=True)
class WatermarkSection(_Reported):
    checked: bool
    present: bool
    watermark_id: str | None
    confidence: float
    method: WatermarkMethod | None = None
    z_score: float | None = None
    p_value: float | None = None
    detail: str = ""

    def public(self) -> WatermarkSectionPublic:
        return WatermarkSectionPublic.model_construct(
            **_public_fields(
                self,
                confidence=round(self.confidence, 4),
                z_score=None if self.z_score is None else round(self.z_score, 3),
            )
        )


@dataclass(frozen=True, slots=True)
class LedgerSection(_Reported):
    found: bool
    matched_by: LedgerMatch | None = None
    index: int | None = None
    leaf_hash: str | None = None
    leaf: Mapping[str, Any] | None = None
    inclusion_proof: tuple[str, ...] = ()
    tree_size: int | None = None
    checkpoint: str | None = None
    anchor: Mapping[str, Any] | None = None
    # What the chain says of ``anchor`` now: confirmed | not_on_chain | unreachable, or
    # None without a receipt or a chain to ask. Only "confirmed" is shown as anchored.
    anchor_status: str | None = None
    proof_ok: bool = False
    detail: str = ""

    def public(self) -> LedgerSectionPublic:
        return LedgerSectionPublic.model_construct(**_public_fields(self))


@dataclass(frozen=True, slots=True)
class CustodyEvent(_Reported):
    index: int
    leaf_hash: str
    type: str
    actor: str
    time: str
    decision: str | None
    policy_version: str | None
    linked: bool  # previous_leaf_hash names an earlier event of the same generation

    def public(self) -> CustodyEventPublic:
        return CustodyEventPublic.model_construct(**_public_fields(self))


@dataclass(frozen=True, slots=True)
class VerificationReport(_Reported):
    verdict: Verdict
    reason: Reason
    explanation: Explanation
    generation_id: str | None
    media_type: str
    sha256: str
    c2pa: C2paSection
    watermark: WatermarkSection
    implicit_label: ImplicitLabelReading | None
    explicit_label: ExplicitLabelReading | None
    ledger: LedgerSection
    custody: tuple[CustodyEvent, ...] = field(default_factory=tuple)

    def public(self) -> VerificationReportPublic:
        """The ``POST /v1/verify`` response body."""
        # Built without re-validation: every value comes from readings already typed, and
        # an offline proof bundle's odd values must be reported as they are, not coerced.
        # The public model's field order, not the dataclass's, is the body's key order.
        return VerificationReportPublic.model_construct(
            **_public_fields(
                self,
                explanation=ExplanationPublic.model_construct(
                    zh=self.explanation.zh, en=self.explanation.en
                ),
                implicit_label=_implicit_public(self.implicit_label),
                explicit_label=_explicit_public(self.explicit_label),
            )
        )


def _public_value(value: Any) -> Any:
    """One dataclass value as its public twin takes it: sections by their ``public()``,
    mappings as dicts, tuples as lists (of public values)."""
    if isinstance(value, _Reported):
        return value.public()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return [_public_value(item) for item in value]
    return value


def _public_fields(section: DataclassInstance, **overrides: Any) -> dict[str, Any]:
    """Every field of ``section`` as a public value, then ``overrides`` (derived or
    reshaped fields) on top: the keyword arguments of the ``…Public`` twin."""
    values = {f.name: _public_value(getattr(section, f.name)) for f in fields(section)}
    return values | overrides


def _implicit_public(
    reading: ImplicitLabelReading | None,
) -> ImplicitLabelPublic | LabelNotCheckedPublic:
    if reading is None:
        return LabelNotCheckedPublic.model_construct(checked=False, found=False)
    return ImplicitLabelPublic.model_construct(
        checked=True,
        found=reading.found,
        fields=dict(reading.fields),
        charset_ok=reading.charset_ok,
        count=reading.count,
        single_label=reading.count <= 1,
        reserved_code_ok=reading.reserved_code_ok,
    )


def _explicit_public(
    reading: ExplicitLabelReading | None,
) -> ExplicitLabelPublic | LabelNotCheckedPublic:
    if reading is None:
        return LabelNotCheckedPublic.model_construct(checked=False, found=False)
    return ExplicitLabelPublic.model_construct(
        checked=True,
        found=reading.found,
        method=reading.method,
        detail=reading.detail,
        best_effort=reading.method == IMAGE_LABEL_HEURISTIC,
    )


# --- the JSON body -----------------------------------------------------------------------
# Field order is the body's key order; the contract and its clients rely on the names.


class ExplanationPublic(BaseModel):
    zh: str
    en: str


class C2paSectionPublic(BaseModel):
    present: bool = Field(description="A manifest is in the file, or in the uploaded sidecar.")
    state: C2paState = Field(description="C2PA 2.2: well_formed ⊂ valid ⊂ trusted.")
    recovered: bool = Field(description="The manifest came through the watermark, not the file.")
    binding: Literal["hard", "soft"] | None = Field(
        description="hard: matched by hash; soft: recovered through the watermark."
    )
    validation_status: list[str] = Field(description="C2PA status codes, failures first.")
    manifest_label: str | None
    manifest: dict[str, Any] | None = Field(
        description="The active manifest, summarised (claim generator, actions, our assertions)."
    )


class WatermarkSectionPublic(BaseModel):
    checked: bool
    present: bool
    watermark_id: str | None = Field(description="Lowercase hex; images only.")
    confidence: float
    method: WatermarkMethod | None
    z_score: float | None = Field(description="Text: the green-list z-score.")
    p_value: float | None
    detail: str


class LabelNotCheckedPublic(BaseModel):
    """A label that could not be looked for (plain text whose label is not ours to know)."""

    checked: Literal[False]
    found: Literal[False]


class ImplicitLabelPublic(BaseModel):
    """The GB 45438 implicit label (Annex E)."""

    checked: Literal[True]
    found: bool
    fields: dict[str, Any]
    charset_ok: bool
    count: int
    single_label: bool
    reserved_code_ok: bool | None = Field(
        description="ReservedCode1 (our sha256: over the content) matches; null: not ours."
    )


class ExplicitLabelPublic(BaseModel):
    """The visible label: exact for text and GLB, a heuristic for images."""

    checked: Literal[True]
    found: bool
    method: str
    detail: str
    best_effort: bool = Field(description="A heuristic (images): reported, never decisive.")


class LedgerSectionPublic(BaseModel):
    found: bool
    matched_by: LedgerMatch | None
    index: int | None
    leaf_hash: str | None
    leaf: dict[str, Any] | None
    inclusion_proof: list[str]
    tree_size: int | None
    checkpoint: str | None = Field(description="The signed checkpoint (C2SP signed note).")
    anchor: dict[str, Any] | None = Field(description="The stored EVM anchor receipt.")
    anchor_status: str | None = Field(
        description="What the chain says of the receipt now: confirmed, not_on_chain or "
        "unreachable; only confirmed counts as anchored."
    )
    proof_ok: bool
    detail: str


class CustodyEventPublic(BaseModel):
    index: int
    leaf_hash: str
    type: str
    actor: str
    time: str
    decision: str | None
    policy_version: str | None
    linked: bool = Field(description="previous_leaf_hash names an earlier event.")


class VerificationReportPublic(BaseModel):
    """The ``POST /v1/verify`` body: the verdict and every signal behind it."""

    verdict: Verdict
    reason: Reason
    generation_id: str | None
    explanation: ExplanationPublic
    media_type: str
    sha256: str
    c2pa: C2paSectionPublic
    watermark: WatermarkSectionPublic
    implicit_label: ImplicitLabelPublic | LabelNotCheckedPublic
    explicit_label: ExplicitLabelPublic | LabelNotCheckedPublic
    ledger: LedgerSectionPublic
    custody: list[CustodyEventPublic] = Field(
        description="The generation's ledger events in log order."
    )
