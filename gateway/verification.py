"""Provenance verification: every signal of a file or text, composed into one verdict.

The readers live in ``provenance`` (C2PA, GB 45438 labels, watermarks) and the proof
verifier in ``ledger``; this module only asks them and decides. What it needs from the
rest of the gateway is small and named by ``Protocol``s, so the verifier runs the same
against the live runtime, an offline proof bundle (the CLI) or test fakes::

    verifier = build_verifier(runtime)           # or Verifier(readers, ledger, catalog)
    report = verifier.verify_file(data, "image/png")
    report.verdict                               # Verdict.VERIFIED
    report.to_dict()["ledger"]["inclusion_proof"]
    verifier.verify_text("新品上市\\n【AI生成】").verdict

Verdicts (a closed set; ``docs/verification.md`` explains each):

- ``verified``: our trusted manifest, the content matches it, the ledger proof checks.
- ``verified_via_watermark``: no manifest in the file, our watermark recovered the
  ledger record; the original manifest comes back marked ``recovered`` (soft binding,
  never a hard-binding match).
- ``tampered``: a manifest or label is present but fails validation, or claims our
  provenance without a matching, provable ledger record.
- ``foreign_provenance``: a well-formed or valid C2PA manifest from another signer.
- ``labeled_only``: a GB 45438 label (implicit or visible) with nothing verifiable behind it.
- ``unknown``: no provenance signal at all.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from common.errors import InvalidInputError, NotFoundError
from common.types import MediaType
from ledger.interface import BundleVerification, Entry, EventType, PublicKeyInfo
from ledger.verify import verify_bundle
from provenance.interface import (
    C2paReading,
    C2paState,
    ExplicitLabelReading,
    ImplicitLabelReading,
)
from provenance.manifest import LEDGER_ASSERTION, SOFT_BINDING_ALG, decode_soft_binding_value
from provenance.media import IMAGE_TYPES, OpenedMedia, open_media
from provenance.watermark.interface import WatermarkReading

if TYPE_CHECKING:
    from PIL import Image
    from sqlalchemy.engine import Engine

    from gateway.content_store import ContentStore
    from provenance.watermark.interface import ImageWatermarker

__all__ = [
    "SOFT_BINDING_ALG",
    "AnchorCheck",
    "ArtifactCatalog",
    "C2paSection",
    "CustodyEvent",
    "Explanation",
    "GreenListTextDetector",
    "LedgerReader",
    "LedgerSection",
    "ManifestNotFoundError",
    "ProvenanceSignalReaders",
    "SignalReaders",
    "Signals",
    "SoftBindingMatch",
    "SqlArtifactCatalog",
    "StoredArtifact",
    "TextWatermarkDetector",
    "TextWatermarkReading",
    "UnsupportedSoftBindingError",
    "Verdict",
    "VerificationReport",
    "Verifier",
    "WatermarkSection",
    "anchor_check",
    "build_verifier",
    "custody_of",
    "decide",
    "explain",
    "parse_watermark_id",
    "watermark_id_text",
]

log = logging.getLogger(__name__)


class UnsupportedSoftBindingError(InvalidInputError):
    """A soft-binding query names an algorithm this service does not resolve (400)."""

    http_status = 400
    code = "unsupported_soft_binding_alg"


class ManifestNotFoundError(NotFoundError):
    """No manifest store is kept under that manifest id (404)."""

    code = "manifest_not_found"


@dataclass(frozen=True, slots=True)
class SoftBindingMatch:
    """One answer of the C2PA soft-binding resolution API (``c2pa.softBindingQueryResult``)."""

    manifest_id: str
    similarity_score: int  # 0..100
    generation_id: str

    def to_dict(self) -> dict[str, Any]:
        # No "endpoint": the manifest is served by this same API (/v1/manifests/{id}).
        return {"manifestId": self.manifest_id, "similarityScore": self.similarity_score}


_IMAGE_LABEL_HEURISTIC = "image_corner_contrast"
_DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_DEFAULT_MAX_PIXELS = 40_000_000


# --- verdicts --------------------------------------------------------------------------


class Verdict(StrEnum):
    VERIFIED = "verified"
    VERIFIED_VIA_WATERMARK = "verified_via_watermark"
    TAMPERED = "tampered"
    FOREIGN_PROVENANCE = "foreign_provenance"
    LABELED_ONLY = "labeled_only"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Explanation:
    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


# Why a verdict was reached: one sentence per reason, in both languages.
_REASONS: dict[str, Explanation] = {
    "manifest_verified": Explanation(
        "文件内嵌的 C2PA 清单由本网关签发且受信任，内容与清单一致，账本包含证明已通过验证。",
        "The file carries a C2PA manifest signed by this gateway and trusted; the content "
        "matches it and the ledger inclusion proof verifies.",
    ),
    "watermark_recovered": Explanation(
        "文件中没有可用的元数据，但隐形水印找回了本网关的账本记录；返回的原始清单是通过水印"
        "（软绑定）找回的，并非与文件逐字节匹配。",
        "The file has no usable metadata, but the invisible watermark led to this gateway's "
        "ledger record; the original manifest was recovered through the watermark (soft "
        "binding), not matched byte for byte.",
    ),
    "c2pa_invalid": Explanation(
        "文件带有 C2PA 清单，但验证失败：内容或清单在签名后被改动。",
        "The file carries a C2PA manifest that fails validation: the content or the manifest "
        "was changed after signing.",
    ),
    "label_mismatch": Explanation(
        "文件带有 GB 45438 隐式标识，但其完整性校验码与内容不符：内容在标识后被改动。",
        "The file carries a GB 45438 implicit label whose integrity code no longer matches "
        "the content: the content was changed after labelling.",
    ),
    "ledger_mismatch": Explanation(
        "清单声称来自本网关，但账本中没有可证明的对应记录。",
        "The manifest claims this gateway's provenance, but the ledger holds no provable "
        "record for it.",
    ),
    "foreign_signer": Explanation(
        "文件带有结构完整的 C2PA 清单，但签发者不是本网关。",
        "The file carries a well-formed C2PA manifest from another signer, not this gateway.",
    ),
    "label_without_backing": Explanation(
        "文件带有人工智能生成标识，但没有可验证的签名、水印或账本记录支撑。",
        "The content carries an AI-generated label, but no signature, watermark or ledger "
        "record backs it.",
    ),
    "no_signal": Explanation(
        "未发现任何来源信号：没有 C2PA 清单、标识、水印或账本记录。",
        "No provenance signal was found: no C2PA manifest, label, watermark or ledger record.",
    ),
}

_VERDICT_OF_REASON: dict[str, Verdict] = {
    "manifest_verified": Verdict.VERIFIED,
    "watermark_recovered": Verdict.VERIFIED_VIA_WATERMARK,
    "c2pa_invalid": Verdict.TAMPERED,
    "label_mismatch": Verdict.TAMPERED,
    "ledger_mismatch": Verdict.TAMPERED,
    "foreign_signer": Verdict.FOREIGN_PROVENANCE,
    "label_without_backing": Verdict.LABELED_ONLY,
    "no_signal": Verdict.UNKNOWN,
}

_WATERMARK_WITHOUT_RECORD = Explanation(
    "另检测到本网关格式的水印，但账本中没有对应记录。",
    "A watermark in this gateway's format was also decoded, but the ledger has no record for it.",
)
_TEXT_WATERMARK_HINT = Explanation(
    "文本的统计水印表明它很可能由本网关的模型生成（无法据此确定具体记录）。",
    "The text's statistical watermark suggests this gateway's model wrote it (it cannot "
    "identify the record).",
)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the readers and lookups found; the input of the pure ``decide`` function."""

    c2pa_state: C2paState
    c2pa_claims_ours: bool  # the active manifest carries our ledger assertion
    record_proven: bool  # a ledger stamp record for this exact content, proof verified
    label_found: bool  # implicit or explicit AI-generated label
    label_integrity_ok: bool | None  # ReservedCode1 against the content; None: not ours
    watermark_record_proven: bool  # watermark id → ledger stamp record, proof verified
    watermark_decoded: bool = False  # an id with a valid check value, record or not
    watermark_unmatched: bool = False  # decoded, but no ledger record carries that id
    text_watermark_detected: bool = False


def decide(signals: Signals) -> tuple[Verdict, str]:
    """The verdict and its reason key; a failed check outranks any positive signal."""
    state = signals.c2pa_state
    if state is C2paState.INVALID:
        return Verdict.TAMPERED, "c2pa_invalid"
    if state is C2paState.TRUSTED and signals.c2pa_claims_ours:
        reason = "manifest_verified" if signals.record_proven else "ledger_mismatch"
        return _VERDICT_OF_REASON[reason], reason
    if state in (C2paState.TRUSTED, C2paState.VALID, C2paState.WELL_FORMED):
        return Verdict.FOREIGN_PROVENANCE, "foreign_signer"
    if signals.label_integrity_ok is False:
        return Verdict.TAMPERED, "label_mismatch"
    if signals.watermark_record_proven:
        return Verdict.VERIFIED_VIA_WATERMARK, "watermark_recovered"
    if signals.label_found:
        return Verdict.LABELED_ONLY, "label_without_backing"
    return Verdict.UNKNOWN, "no_signal"


def explain(reason: str, signals: Signals) -> Explanation:
    base = _REASONS[reason]
    extras: list[Explanation] = []
    if signals.watermark_unmatched:
        extras.append(_WATERMARK_WITHOUT_RECORD)
    if signals.text_watermark_detected:
        extras.append(_TEXT_WATERMARK_HINT)
    return Explanation(
        "".join([base.zh, *(e.zh for e in extras)]),
        " ".join([base.en, *(e.en for e in extras)]),
    )


# --- what the verifier needs -----------------------------------------------------------


def watermark_id_text(watermark_id: int, id_bits: int = 48) -> str:
    """The spelling outside ``provenance`` (ledger leaves, generation rows, responses).

    Lowercase hex, zero-padded to the watermarker's width (as ``gateway.adapters.stamping``
    writes it): 12 digits for the 48-bit ``tiled-ss`` ids.
    """
    return f"{watermark_id:0{(id_bits + 3) // 4}x}"


def parse_watermark_id(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _watermark_spellings(watermark_id: int) -> tuple[str, ...]:
    # The canonical spelling first; the others tolerate rows written before it was fixed.
    spellings = (watermark_id_text(watermark_id, 48), watermark_id_text(watermark_id, 64))
    return tuple(dict.fromkeys((*spellings, str(watermark_id))))


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """A released artifact as the gateway kept it (the upload itself is never stored)."""

    generation_id: str
    media_type: str
    artifact_sha256: str | None
    manifest_label: str | None
    manifest_bytes: bytes | None  # the C2PA store: sidecar, or a copy of the embedded one
    original: bytes | None  # the stamped bytes, to re-validate a recovered manifest
    implicit_label: str | None = None  # GB 45438 JSON (plain text has it only here)
    watermark_id: str | None = None  # ``watermark_id_text`` spelling


class ArtifactCatalog(Protocol):
    """Finds released artifacts by what a verifier can read off a file."""

    def by_sha256(self, sha256: str) -> StoredArtifact | None: ...

    def by_generation_id(self, generation_id: str) -> StoredArtifact | None: ...

    def by_watermark_id(self, watermark_id: str) -> StoredArtifact | None: ...

    def by_manifest_label(self, manifest_label: str) -> StoredArtifact | None: ...


class LedgerReader(Protocol):
    """The read side of ``ledger.service.Ledger`` (or one offline proof bundle)."""

    def find_latest(
        self,
        *,
        artifact_sha256: str | None = None,
        manifest_hash: str | None = None,
        watermark_id: str | None = None,
        event_type: EventType | None = None,
    ) -> Entry | None: ...

    def events_for_generation(self, generation_id: str) -> list[Entry]: ...

    def prove(self, index: int) -> dict[str, Any]: ...

    def public_key_info(self) -> PublicKeyInfo: ...


class TextWatermarkReading(Protocol):
    """A green-list score, as ``provenance.text_watermark.TextWatermarkReading`` has it."""

    @property
    def z_score(self) -> float: ...

    @property
    def p_value(self) -> float: ...

    @property
    def num_tokens(self) -> int: ...

    @property
    def green_fraction(self) -> float: ...

    @property
    def detected(self) -> bool: ...


class TextWatermarkDetector(Protocol):
    """Green-list detection with the gateway's key (``provenance.text_watermark``)."""

    def detect(self, text: str) -> TextWatermarkReading | None:
        """``None`` when the text is too short or cannot be tokenised."""
        ...


class SignalReaders(Protocol):
    """The provenance read-back helpers, bound to the gateway's keys and trust anchors."""

    def read_c2pa(
        self, data: bytes, media_type: MediaType, sidecar: bytes | None
    ) -> C2paReading: ...

    def read_implicit_label(
        self, data: bytes, media_type: MediaType, response_label: str | None = None
    ) -> ImplicitLabelReading:
        """``response_label``: plain text's label, which travels beside the content."""
        ...

    def read_manifest_store(self, manifest_bytes: bytes) -> C2paReading:
        """A stored manifest store on its own (no asset: the hard binding cannot match)."""
        ...

    def check_explicit_label(self, media: OpenedMedia, data: bytes) -> ExplicitLabelReading: ...

    def read_watermark(self, image: Image.Image) -> WatermarkReading | None:
        """``None`` when no image watermarker is configured."""
        ...

    def read_text_watermark(self, text: str) -> TextWatermarkReading | None: ...


# --- report ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class C2paSection:
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "state": str(self.state),
            "recovered": self.recovered,
            # A recovered manifest is bound softly (watermark), never by hash.
            "binding": "soft" if self.recovered else ("hard" if self.present else None),
            "validation_status": list(self.validation_status),
            "manifest_label": self.manifest_label,
            "manifest": dict(self.manifest) or None,
        }


@dataclass(frozen=True, slots=True)
class WatermarkSection:
    checked: bool
    present: bool
    watermark_id: str | None
    confidence: float
    method: str | None = None  # "image" | "text_green_list"
    z_score: float | None = None
    p_value: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "present": self.present,
            "watermark_id": self.watermark_id,
            "confidence": round(self.confidence, 4),
            "method": self.method,
            "z_score": None if self.z_score is None else round(self.z_score, 3),
            "p_value": self.p_value,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class LedgerSection:
    found: bool
    matched_by: str | None = None  # "content_hash" | "manifest" | "watermark"
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "matched_by": self.matched_by,
            "index": self.index,
            "leaf_hash": self.leaf_hash,
            "leaf": dict(self.leaf) if self.leaf is not None else None,
            "inclusion_proof": list(self.inclusion_proof),
            "tree_size": self.tree_size,
            "checkpoint": self.checkpoint,
            "anchor": dict(self.anchor) if self.anchor is not None else None,
            "anchor_status": self.anchor_status,
            "proof_ok": self.proof_ok,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class CustodyEvent:
    index: int
    leaf_hash: str
    type: str
    actor: str
    time: str
    decision: str | None
    policy_version: str | None
    linked: bool  # previous_leaf_hash names an earlier event of the same generation

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "leaf_hash": self.leaf_hash,
            "type": self.type,
            "actor": self.actor,
            "time": self.time,
            "decision": self.decision,
            "policy_version": self.policy_version,
            "linked": self.linked,
        }


@dataclass(frozen=True, slots=True)
class VerificationReport:
    verdict: Verdict
    reason: str
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

    def to_dict(self) -> dict[str, Any]:
        """The ``POST /v1/verify`` response body (ARCHITECTURE "HTTP contract")."""
        return {
            "verdict": str(self.verdict),
            "reason": self.reason,
            "generation_id": self.generation_id,
            "explanation": self.explanation.to_dict(),
            "media_type": self.media_type,
            "sha256": self.sha256,
            "c2pa": self.c2pa.to_dict(),
            "watermark": self.watermark.to_dict(),
            "implicit_label": _implicit_dict(self.implicit_label),
            "explicit_label": _explicit_dict(self.explicit_label),
            "ledger": self.ledger.to_dict(),
            "custody": [event.to_dict() for event in self.custody],
        }


def _implicit_dict(reading: ImplicitLabelReading | None) -> dict[str, Any]:
    if reading is None:
        return {"checked": False, "found": False}
    return {
        "checked": True,
        "found": reading.found,
        "fields": dict(reading.fields),
        "charset_ok": reading.charset_ok,
        "count": reading.count,
        "single_label": reading.count <= 1,
        "reserved_code_ok": reading.reserved_code_ok,
    }


def _explicit_dict(reading: ExplicitLabelReading | None) -> dict[str, Any]:
    if reading is None:
        return {"checked": False, "found": False}
    best_effort = reading.method == _IMAGE_LABEL_HEURISTIC
    return {
        "checked": True,
        "found": reading.found,
        "method": reading.method,
        "detail": reading.detail,
        "best_effort": best_effort,
    }


# --- the verifier ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Record:
    """A ledger stamp entry found for the content, with its proof outcome."""

    section: LedgerSection
    generation_id: str | None


_NO_RECORD = _Record(LedgerSection(found=False, detail="no ledger record"), None)
_ABSENT_C2PA = C2paReading(False, C2paState.ABSENT, (), None, {}, ())


# Given a stored anchor receipt, what the chain says of it now (see LedgerSection).
AnchorCheck = Callable[[Mapping[str, Any]], str]


class Verifier:
    """Reads every signal of one file or text and decides the verdict."""

    def __init__(
        self,
        readers: SignalReaders,
        ledger: LedgerReader | None,
        catalog: ArtifactCatalog | None,
        *,
        trusted_vkey: str | None = None,
        max_bytes: int = _DEFAULT_MAX_BYTES,
        max_image_pixels: int = _DEFAULT_MAX_PIXELS,
        confirm_anchor: AnchorCheck | None = None,
        decode_side_px: int = 0,
    ) -> None:
        self.readers = readers
        self.ledger = ledger
        self.catalog = catalog
        self._trusted_vkey = trusted_vkey
        self._confirm_anchor = confirm_anchor
        self.max_bytes = max_bytes
        self.max_image_pixels = max_image_pixels
        # Uploads are decoded downscaled to about this shorter side (0: full size): the
        # pixels serve only the watermark detector (which works at 512 px) and the
        # corner-label heuristic, and a full-size decode per request is what lets a small
        # PNG of a huge canvas exhaust memory.
        self.decode_side_px = decode_side_px

    # --- entry points ------------------------------------------------------------------

    def verify_file(
        self, data: bytes, declared_type: str | None, sidecar: bytes | None = None
    ) -> VerificationReport:
        """Verify uploaded bytes; raises the 4xx ``provenance`` media errors on bad input."""
        return self._verify(data, self._open_upload(data, declared_type), sidecar)

    def verify_text(self, text: str) -> VerificationReport:
        data = text.encode("utf-8")
        declared = MediaType.MARKDOWN if text.lstrip("\ufeff").startswith("---") else None
        media = open_media(
            data, declared, max_bytes=self.max_bytes, max_image_pixels=self.max_image_pixels
        )
        return self._verify(data, media, None)

    def _open_upload(self, data: bytes, declared_type: str | None) -> OpenedMedia:
        return open_media(
            data,
            _declared(declared_type),
            max_bytes=self.max_bytes,
            max_image_pixels=self.max_image_pixels,
            reduce_to_side_px=self.decode_side_px or None,
        )

    # --- C2PA soft-binding resolution (decoupled manifests) ---------------------------

    def supported_algorithms(self) -> dict[str, list[dict[str, str]]]:
        watermarks = [{"alg": SOFT_BINDING_ALG}] if self._resolves_watermarks() else []
        return {"watermarks": watermarks, "fingerprints": []}

    def matches_by_binding(self, alg: str, value: str) -> list[SoftBindingMatch]:
        """Manifests whose ``c2pa.soft-binding`` carries ``value`` (base64 watermark id)."""
        if alg != SOFT_BINDING_ALG:
            raise UnsupportedSoftBindingError(
                f"unsupported soft-binding algorithm {alg!r}; supported: {SOFT_BINDING_ALG}"
            )
        watermark_id = decode_soft_binding_value(value)
        if watermark_id is None:
            raise InvalidInputError("value must be the base64 of an 8-byte watermark id")
        return self._matches_for_watermark(watermark_id)

    def matches_by_content(self, data: bytes, declared_type: str | None) -> list[SoftBindingMatch]:
        """Manifests for an asset: exact content first, then its decoded watermark."""
        media = self._open_upload(data, declared_type)
        exact = self.catalog.by_sha256(hashlib.sha256(data).hexdigest()) if self.catalog else None
        if exact is not None and exact.manifest_label:
            return [SoftBindingMatch(exact.manifest_label, 100, exact.generation_id)]
        if media.image is None:
            return []
        reading = self.readers.read_watermark(media.image)
        if reading is None or reading.watermark_id is None:
            return []
        return self._matches_for_watermark(reading.watermark_id)

    def manifest_store(self, manifest_id: str) -> bytes:
        """The C2PA manifest store kept for ``manifest_id`` (a claim URN or generation id)."""
        stored = None
        if self.catalog is not None:
            stored = self.catalog.by_manifest_label(manifest_id) or self.catalog.by_generation_id(
                manifest_id
            )
        if stored is None or stored.manifest_bytes is None:
            raise ManifestNotFoundError(f"no manifest {manifest_id!r}")
        return stored.manifest_bytes

    def _matches_for_watermark(self, watermark_id: int) -> list[SoftBindingMatch]:
        if self.catalog is None:
            return []
        for spelling in _watermark_spellings(watermark_id):
            stored = self.catalog.by_watermark_id(spelling)
            if stored is not None and stored.manifest_label:
                return [SoftBindingMatch(stored.manifest_label, 100, stored.generation_id)]
        return []

    def _resolves_watermarks(self) -> bool:
        return self.catalog is not None and getattr(self.readers, "watermarker", True) is not None

    # --- composition -------------------------------------------------------------------

    def _verify(self, data: bytes, media: OpenedMedia, sidecar: bytes | None) -> VerificationReport:
        sha256 = hashlib.sha256(data).hexdigest()
        stored = self.catalog.by_sha256(sha256) if self.catalog else None
        c2pa = self._read_c2pa(data, media, sidecar, stored)
        implicit = self._read_implicit(data, media, stored)
        explicit = self.readers.check_explicit_label(media, data)
        watermark = self._read_watermark(media)
        record = self._record_for_content(sha256, c2pa)
        wm_record = _NO_RECORD
        if not record.section.found and watermark.watermark_id is not None:
            wm_record = self._record_by_watermark(watermark.watermark_id)
        c2pa_section = C2paSection.of(c2pa)
        if not c2pa.present and wm_record.section.proof_ok:
            c2pa_section = self._recovered_manifest(wm_record.generation_id) or c2pa_section
        signals = _signals_of(c2pa, implicit, explicit, watermark, record, wm_record)
        verdict, reason = decide(signals)
        chosen = record if record.section.found else wm_record
        generation_id = chosen.generation_id or _manifest_generation_id(c2pa)
        return VerificationReport(
            verdict=verdict,
            reason=reason,
            explanation=explain(reason, signals),
            generation_id=generation_id,
            media_type=str(media.media_type),
            sha256=sha256,
            c2pa=c2pa_section,
            watermark=watermark,
            implicit_label=implicit,
            explicit_label=explicit,
            ledger=chosen.section,
            custody=self._custody(chosen.generation_id),
        )

    def _read_c2pa(
        self,
        data: bytes,
        media: OpenedMedia,
        sidecar: bytes | None,
        stored: StoredArtifact | None,
    ) -> C2paReading:
        if sidecar is None and media.media_type not in IMAGE_TYPES and stored is not None:
            # Text and GLB carry a sidecar manifest; the exact bytes name the one we kept.
            sidecar = stored.manifest_bytes
        if media.media_type not in IMAGE_TYPES and sidecar is None:
            return _ABSENT_C2PA
        return self.readers.read_c2pa(data, media.media_type, sidecar)

    def _read_implicit(
        self, data: bytes, media: OpenedMedia, stored: StoredArtifact | None
    ) -> ImplicitLabelReading | None:
        if media.media_type is not MediaType.TEXT:
            return self.readers.read_implicit_label(data, media.media_type)
        # Plain text keeps its GB 45438 label beside the content (the API response); we can
        # check the one we issued when the exact text is ours.
        if stored is None or stored.implicit_label is None:
            return None
        return self.readers.read_implicit_label(data, media.media_type, stored.implicit_label)

    def _read_watermark(self, media: OpenedMedia) -> WatermarkSection:
        if media.image is not None:
            reading = self.readers.read_watermark(media.image)
            return _image_watermark_section(reading, self._watermark_id_bits())
        if media.text is not None:
            return _text_watermark_section(self.readers.read_text_watermark(media.text))
        return WatermarkSection(
            False, False, None, 0.0, detail=f"no watermark for {media.media_type}"
        )

    def _watermark_id_bits(self) -> int:
        watermarker = getattr(self.readers, "watermarker", None)
        return int(getattr(watermarker, "id_bits", 48))

    # --- ledger ------------------------------------------------------------------------

    def _record_for_content(self, sha256: str, c2pa: C2paReading) -> _Record:
        if self.ledger is None:
            return _Record(LedgerSection(found=False, detail="no ledger configured"), None)
        entry = self.ledger.find_latest(artifact_sha256=sha256, event_type=EventType.STAMP)
        if entry is not None:
            return self._proven(entry, "content_hash")
        generation_id = _manifest_generation_id(c2pa)
        if generation_id and c2pa.state is not C2paState.INVALID:
            stamp = _last_stamp(self.ledger.events_for_generation(generation_id))
            if stamp is not None:
                return self._proven(stamp, "manifest")
        return _NO_RECORD

    def _record_by_watermark(self, watermark_id: str) -> _Record:
        if self.ledger is None:
            return _NO_RECORD
        number = parse_watermark_id(watermark_id)
        spellings = _watermark_spellings(number) if number is not None else (watermark_id,)
        for spelling in spellings:
            entry = self.ledger.find_latest(watermark_id=spelling, event_type=EventType.STAMP)
            if entry is not None:
                return self._proven(entry, "watermark")
        return _NO_RECORD

    def _proven(self, entry: Entry, matched_by: str) -> _Record:
        assert self.ledger is not None
        bundle = self.ledger.prove(entry.index)
        vkey = self._trusted_vkey or self.ledger.public_key_info().vkey
        outcome = verify_bundle(bundle, trusted_vkey=vkey)
        section = _ledger_section(entry, bundle, outcome, matched_by)
        if section.anchor is not None and self._confirm_anchor is not None:
            status = self._confirm_anchor(section.anchor)
            section = dataclasses.replace(section, anchor_status=status)
        return _Record(section, _generation_of(entry))

    def _custody(self, generation_id: str | None) -> tuple[CustodyEvent, ...]:
        if self.ledger is None or generation_id is None:
            return ()
        return custody_of(self.ledger.events_for_generation(generation_id))

    def _recovered_manifest(self, generation_id: str | None) -> C2paSection | None:
        """The original manifest, validated against the stamped original we kept."""
        if self.catalog is None or generation_id is None:
            return None
        stored = self.catalog.by_generation_id(generation_id)
        if stored is None:
            return None
        media_type = _declared(stored.media_type)
        if stored.original is not None and media_type is not None:
            sidecar = None if media_type in IMAGE_TYPES else stored.manifest_bytes
            reading = self.readers.read_c2pa(stored.original, media_type, sidecar)
        elif stored.manifest_bytes is not None:
            # The content was erased (PIPL): the store alone proves the signature.
            reading = self.readers.read_manifest_store(stored.manifest_bytes)
        else:
            return None
        return C2paSection.of(reading, recovered=True) if reading.present else None


def custody_of(entries: Sequence[Entry]) -> tuple[CustodyEvent, ...]:
    """The chain of custody in log order; ``linked`` checks each back-reference."""
    seen: set[str] = set()
    events: list[CustodyEvent] = []
    for entry in entries:
        leaf = entry.leaf
        previous = leaf.get("previous_leaf_hash")
        events.append(
            CustodyEvent(
                index=entry.index,
                leaf_hash=entry.leaf_hash,
                type=str(leaf.get("type", "")),
                actor=str(leaf.get("actor", "")),
                time=str(leaf.get("time", "")),
                decision=leaf.get("decision"),
                policy_version=leaf.get("policy_version"),
                linked=previous is None or previous in seen,
            )
        )
        seen.add(entry.leaf_hash)
    return tuple(events)


def _ledger_section(
    entry: Entry, bundle: Mapping[str, Any], outcome: BundleVerification, matched_by: str
) -> LedgerSection:
    proof = bundle.get("inclusion_proof") or {}
    return LedgerSection(
        found=True,
        matched_by=matched_by,
        index=entry.index,
        leaf_hash=entry.leaf_hash,
        leaf=dict(entry.leaf),
        inclusion_proof=tuple(proof.get("hashes") or ()),
        tree_size=proof.get("tree_size"),
        checkpoint=bundle.get("checkpoint"),
        anchor=bundle.get("anchor"),
        proof_ok=outcome.ok,
        detail=outcome.reason,
    )


def _signals_of(
    c2pa: C2paReading,
    implicit: ImplicitLabelReading | None,
    explicit: ExplicitLabelReading,
    watermark: WatermarkSection,
    record: _Record,
    wm_record: _Record,
) -> Signals:
    label_found = bool(implicit and implicit.found)
    return Signals(
        c2pa_state=c2pa.state,
        c2pa_claims_ours=LEDGER_ASSERTION in c2pa.manifest.get("assertions", {}),
        record_proven=record.section.proof_ok and _same_generation(record, c2pa),
        label_found=label_found or _exact_label(explicit),
        label_integrity_ok=implicit.reserved_code_ok if implicit and label_found else None,
        watermark_record_proven=wm_record.section.proof_ok,
        watermark_decoded=watermark.watermark_id is not None,
        watermark_unmatched=_watermark_unmatched(watermark, record, wm_record),
        text_watermark_detected=watermark.method == "text_green_list" and watermark.present,
    )


def _watermark_unmatched(watermark: WatermarkSection, *records: _Record) -> bool:
    if watermark.watermark_id is None:
        return False
    decoded = parse_watermark_id(watermark.watermark_id)
    for record in records:
        leaf_id = (record.section.leaf or {}).get("watermark_id")
        if isinstance(leaf_id, str) and parse_watermark_id(leaf_id) == decoded:
            return False
    return True


def _exact_label(reading: ExplicitLabelReading) -> bool:
    # The image check is a corner-contrast heuristic (no OCR): reported, never decisive.
    return reading.found and reading.method != _IMAGE_LABEL_HEURISTIC


def _same_generation(record: _Record, c2pa: C2paReading) -> bool:
    claimed = _manifest_generation_id(c2pa)
    return claimed is None or record.generation_id is None or claimed == record.generation_id


def _last_stamp(entries: Sequence[Entry]) -> Entry | None:
    stamps = [e for e in entries if e.leaf.get("type") == EventType.STAMP.value]
    return stamps[-1] if stamps else None


def _generation_of(entry: Entry) -> str | None:
    value = entry.leaf.get("generation_id")
    return str(value) if value else None


def _manifest_generation_id(c2pa: C2paReading) -> str | None:
    ledger = (c2pa.manifest.get("assertions") or {}).get(LEDGER_ASSERTION) or {}
    value = ledger.get("artifact_id") if isinstance(ledger, Mapping) else None
    return str(value) if value else None


def _declared(declared_type: str | None) -> MediaType | None:
    """Our media type for a declared one; generic or unknown declarations mean "sniff"."""
    if not declared_type:
        return None
    base = declared_type.split(";", 1)[0].strip().lower()
    aliases = {"image/jpg": MediaType.JPEG, "model/gltf+binary": MediaType.GLB}
    if base in aliases:
        return aliases[base]
    try:
        return MediaType(base)
    except ValueError:
        return None


def _image_watermark_section(reading: WatermarkReading | None, id_bits: int) -> WatermarkSection:
    if reading is None:
        return WatermarkSection(
            False, False, None, 0.0, "image", detail="no watermarker configured"
        )
    wid = None if reading.watermark_id is None else watermark_id_text(reading.watermark_id, id_bits)
    detail = "id recovered, check value verified" if wid else "no id with a valid check value"
    return WatermarkSection(True, reading.present, wid, reading.confidence, "image", detail=detail)


def _text_watermark_section(reading: TextWatermarkReading | None) -> WatermarkSection:
    if reading is None:
        return WatermarkSection(
            False,
            False,
            None,
            0.0,
            "text_green_list",
            detail="not checked (no detector or text too short)",
        )
    detected = reading.detected
    confidence = max(0.0, min(1.0, 1.0 - reading.p_value))
    return WatermarkSection(
        checked=True,
        present=detected,
        watermark_id=None,
        confidence=confidence if detected else 0.0,
        method="text_green_list",
        z_score=reading.z_score,
        p_value=reading.p_value,
        detail=f"{reading.num_tokens} tokens scored, green fraction {reading.green_fraction:.2f}",
    )


# --- default implementations -----------------------------------------------------------


class ProvenanceSignalReaders:
    """``SignalReaders`` over ``provenance.readback`` with our trust anchors and keys."""

    def __init__(
        self,
        trust_anchors_pem: str | None,
        watermarker: ImageWatermarker | None,
        text_detector: TextWatermarkDetector | None = None,
        *,
        max_image_pixels: int = _DEFAULT_MAX_PIXELS,
    ) -> None:
        self.trust_anchors_pem = trust_anchors_pem or None
        self.watermarker = watermarker
        self.text_detector = text_detector
        self.max_image_pixels = max_image_pixels

    def read_c2pa(self, data: bytes, media_type: MediaType, sidecar: bytes | None) -> C2paReading:
        from provenance.readback import read_c2pa

        # Remote manifest fetching stays off: a public endpoint must not fetch URLs that
        # uploads name (c2pa-rs' default would, for an XMP dcterms:provenance reference).
        if sidecar is None and _references_remote_manifest(data, media_type):
            remote = _remote_only_manifest(data, media_type)
            if remote is not None:
                return remote
        return read_c2pa(data, media_type, sidecar, trust_anchors_pem=self.trust_anchors_pem)

    def read_manifest_store(self, manifest_bytes: bytes) -> C2paReading:
        from provenance.readback import read_manifest_store

        return read_manifest_store(manifest_bytes, self.trust_anchors_pem)

    def read_implicit_label(
        self, data: bytes, media_type: MediaType, response_label: str | None = None
    ) -> ImplicitLabelReading:
        from provenance.readback import read_image_implicit_label, read_implicit_label

        if media_type in IMAGE_TYPES:  # opened once already: decode again only if needed
            return read_image_implicit_label(
                data, media_type, max_image_pixels=self.max_image_pixels
            )
        return read_implicit_label(
            data, media_type, response_label, max_image_pixels=self.max_image_pixels
        )

    def check_explicit_label(self, media: OpenedMedia, data: bytes) -> ExplicitLabelReading:
        from provenance.labels import check_image_label
        from provenance.readback import check_explicit_label

        if media.image is not None:  # already decoded: do not decode twice
            return check_image_label(media.image)
        return check_explicit_label(data, media.media_type)

    def read_watermark(self, image: Image.Image) -> WatermarkReading | None:
        if self.watermarker is None:
            return None
        return self.watermarker.detect(image.convert("RGB"))

    def read_text_watermark(self, text: str) -> TextWatermarkReading | None:
        return None if self.text_detector is None else self.text_detector.detect(text)


# C2PA 2.2 §15.11 validation code for a manifest that could not be retrieved.
MANIFEST_INACCESSIBLE = "manifest.inaccessible"


def _references_remote_manifest(data: bytes, media_type: MediaType) -> bool:
    """Whether the file's XMP names a remote manifest (``dcterms:provenance``)."""
    from provenance.xmp import extract_xmp_packets

    if media_type not in IMAGE_TYPES:
        return False
    try:
        packets = extract_xmp_packets(data, media_type)
    except Exception:  # malformed metadata: the C2PA reader will say so itself
        return False
    return any(b"provenance" in packet for packet in packets)


def _remote_only_manifest(data: bytes, media_type: MediaType) -> C2paReading | None:
    """An ``absent`` reading when the only manifest is remote; ``None`` when one is embedded."""
    import io

    import c2pa

    try:
        with c2pa.Reader(str(media_type), io.BytesIO(data), context=_offline_context()):
            return None
    except c2pa.C2paError as exc:
        if not isinstance(exc, c2pa.C2paError.ManifestNotFound) and "emote" not in str(exc):
            return None  # an embedded store that fails: the full reader reports it
    return C2paReading(
        present=False,
        state=C2paState.ABSENT,
        validation_status=(MANIFEST_INACCESSIBLE,),
        manifest_label=None,
        manifest={"remote_reference": True, "fetched": False},
        soft_binding_ids=(),
    )


@functools.cache
def _offline_context() -> Any:
    import c2pa

    offline = {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "core": {"allowed_network_hosts": []},
    }
    return c2pa.Context(c2pa.Settings.from_dict(offline))


class GreenListTextDetector:
    """``TextWatermarkDetector`` over ``provenance.text_watermark`` and the text model."""

    def __init__(self, tokenizer_dir: Path, key: int, min_chars: int = 20) -> None:
        self.tokenizer_dir = tokenizer_dir
        self.key = key
        self.min_chars = min_chars

    def detect(self, text: str) -> TextWatermarkReading | None:
        from provenance.text_watermark import detect_text_watermark_in_text

        if len(text.strip()) < self.min_chars or not self.tokenizer_dir.is_dir():
            return None
        try:
            return detect_text_watermark_in_text(text, self.tokenizer_dir, self.key)
        except Exception:  # a best-effort signal: a broken model dir must not fail verify
            log.warning("text watermark detection failed", exc_info=True)
            return None


class SqlArtifactCatalog:
    """``ArtifactCatalog`` over the gateway's ``generations`` table and content store."""

    def __init__(self, engine: Engine, store: ContentStore) -> None:
        self._engine = engine
        self._store = store

    def by_sha256(self, sha256: str) -> StoredArtifact | None:
        return self._first("artifact_sha256", sha256)

    def by_generation_id(self, generation_id: str) -> StoredArtifact | None:
        return self._first("id", generation_id)

    def by_watermark_id(self, watermark_id: str) -> StoredArtifact | None:
        return self._first("watermark_id", watermark_id)

    def by_manifest_label(self, manifest_label: str) -> StoredArtifact | None:
        return self._first("manifest_label", manifest_label)

    def _first(self, column: str, value: str) -> StoredArtifact | None:
        from sqlmodel import col, select

        from gateway.db import session_scope
        from gateway.models import Generation, GenerationStatus

        query = (
            select(Generation)
            .where(getattr(Generation, column) == value)
            .where(Generation.status == GenerationStatus.RELEASED.value)
            .order_by(col(Generation.created_at).desc())
            .limit(1)
        )
        with session_scope(self._engine) as session:
            row = session.exec(query).first()
        return None if row is None else self._artifact(row)

    def _artifact(self, row: Any) -> StoredArtifact:
        label = (row.meta or {}).get("implicit_label")
        if isinstance(label, Mapping):  # the pipeline keeps the parsed object
            label = json.dumps(label, separators=(",", ":"), ensure_ascii=False)
        return StoredArtifact(
            generation_id=row.id,
            media_type=row.media_type or "",
            artifact_sha256=row.artifact_sha256,
            manifest_label=row.manifest_label,
            manifest_bytes=self._read(row.manifest_path),
            original=self._read(row.artifact_path),
            implicit_label=label if isinstance(label, str) else None,
            watermark_id=row.watermark_id,
        )

    def _read(self, path: str | None) -> bytes | None:
        from common.errors import NotFoundError

        if not path:
            return None
        try:
            return self._store.read(path)
        except NotFoundError:
            return None  # erased content (PIPL): the ledger still proves the record


def build_verifier(runtime: Any) -> Verifier:
    """The verifier for a gateway ``Runtime``; its attributes are read duck-typed.

    Uses ``runtime.settings`` (limits), ``runtime.engine`` and ``runtime.store`` (the
    artifact catalog), ``runtime.ledger_service`` (``ledger.service.Ledger``; absent → no
    ledger checks), ``runtime.watermarker`` (absent → no image watermark), the trust
    anchors (``runtime.trust_anchors_pem`` if set, else the configured anchor files plus
    the stamper's own root) and, optionally, ``runtime.text_watermark_detector`` (else
    one is built from ``runtime.secrets.text_watermark_key()`` and the text model).
    """
    settings = runtime.settings
    readers = ProvenanceSignalReaders(
        _trust_anchors(runtime),
        getattr(runtime, "watermarker", None),
        _text_detector(runtime),
        max_image_pixels=settings.limits.max_image_pixels,
    )
    ledger = getattr(runtime, "ledger_service", None)
    return Verifier(
        readers,
        ledger if hasattr(ledger, "find_latest") else None,
        SqlArtifactCatalog(runtime.engine, runtime.store),
        max_bytes=settings.limits.max_upload_bytes,
        max_image_pixels=settings.limits.max_image_pixels,
        confirm_anchor=anchor_check(getattr(runtime, "anchorer", None)),
        decode_side_px=settings.limits.verify_decode_side_px,
    )


def anchor_check(anchorer: Any) -> AnchorCheck | None:
    """Ask the chain the anchorer writes to; without one, no receipt can be confirmed."""
    if anchorer is None or not hasattr(anchorer, "confirm"):
        return None
    from ledger.interface import AnchorReceipt

    def check(receipt: Mapping[str, Any]) -> str:
        try:
            return str(anchorer.confirm(AnchorReceipt(**dict(receipt))).value)
        except TypeError:
            return "not_on_chain"  # a receipt of another shape was never ours

    return check


def _trust_anchors(runtime: Any) -> str | None:
    anchors = getattr(runtime, "trust_anchors_pem", None)
    if callable(anchors):
        anchors = anchors()
    if isinstance(anchors, str):
        return anchors
    stamper = getattr(runtime, "stamper", None)
    if stamper is None:
        return None
    from provenance.keys import trust_anchors_pem

    # Ours plus any configured list (ProvenanceSettings.trust_anchor_paths).
    return trust_anchors_pem(stamper.settings, stamper.key_provider) or None


def _text_detector(runtime: Any) -> TextWatermarkDetector | None:
    detector: TextWatermarkDetector | None = getattr(runtime, "text_watermark_detector", None)
    if detector is not None:
        return detector
    secrets = getattr(runtime, "secrets", None)
    generators = getattr(runtime.settings, "generators_resolved", None)
    if secrets is None or generators is None or not getattr(generators, "text_watermark", True):
        return None
    source = generators.text_model_source()
    if source.path is None:
        return None
    return GreenListTextDetector(Path(source.path), int(secrets.text_watermark_key()))
