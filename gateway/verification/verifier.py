"""The verifier: reads every signal of one file or text, asks the ledger, decides.

The signals come from ``provenance.readback`` (through ``SignalReaders``), the records
from the ledger and the artifact catalog; ``verdict.decide`` ranks them. The verifier
also answers the C2PA soft-binding resolution API (decoupled manifests)::

    verifier = Verifier(readers, ledger, catalog, decode_side_px=1024)
    report = verifier.verify_file(data, "image/png")
    report.verdict                                  # Verdict.VERIFIED
    verifier.verify_text("新品上市\\n【AI生成】").verdict
    verifier.matches_by_content(data, None)[0].manifest_id
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.errors import InvalidInputError
from common.types import MediaType
from gateway.verification.interface import (
    AnchorCheck,
    ArtifactCatalog,
    LedgerReader,
    ManifestNotFoundError,
    SignalReaders,
    SoftBindingMatch,
    StoredArtifact,
    TextWatermarkDetector,
    TextWatermarkReading,
    UnsupportedSoftBindingError,
)
from gateway.verification.readers import DEFAULT_MAX_IMAGE_PIXELS, ProvenanceSignalReaders
from gateway.verification.report import (
    IMAGE_LABEL_HEURISTIC,
    C2paSection,
    CustodyEvent,
    LedgerMatch,
    LedgerSection,
    VerificationReport,
    WatermarkSection,
)
from gateway.verification.verdict import Signals, decide, explain
from ledger.interface import AnchorReceipt, BundleVerification, Entry, EventType
from ledger.verify import verify_bundle
from provenance.interface import C2paReading, C2paState, ExplicitLabelReading, ImplicitLabelReading
from provenance.manifest import LEDGER_ASSERTION, SOFT_BINDING_ALG, decode_soft_binding_value
from provenance.media import IMAGE_TYPES, OpenedMedia, declared_media_type, open_media
from provenance.readback import ProvenanceSignals
from provenance.watermark.interface import ImageWatermarker, WatermarkReading

if TYPE_CHECKING:
    from ledger.anchor.anchorer import Anchorer

__all__ = [
    "Verifier",
    "anchor_check",
    "build_verifier",
    "custody_of",
    "parse_watermark_id",
    "watermark_id_text",
]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# The image watermarker's id width when none is configured (the ``tiled-ss`` ids).
_DEFAULT_ID_BITS = 48


class Verifier:
    """Reads every signal of one file or text and decides the verdict."""

    def __init__(
        self,
        readers: SignalReaders,
        ledger: LedgerReader | None,
        catalog: ArtifactCatalog | None,
        *,
        trusted_vkey: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
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
            declared_media_type(declared_type),
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
        return self.catalog is not None and self.readers.watermark_id_bits is not None

    # --- composition -------------------------------------------------------------------

    def _verify(self, data: bytes, media: OpenedMedia, sidecar: bytes | None) -> VerificationReport:
        sha256 = hashlib.sha256(data).hexdigest()
        stored = self.catalog.by_sha256(sha256) if self.catalog else None
        readings = self.readers.read_signals(
            data,
            media,
            sidecar=_sidecar_for(media, sidecar, stored),
            response_label=stored.implicit_label if stored is not None else None,
        )
        watermark = self._watermark_section(media, readings.watermark)
        record = self._record_for_content(sha256, readings.c2pa)
        wm_record = _NO_RECORD
        if not record.section.found and watermark.watermark_id is not None:
            wm_record = self._record_by_watermark(watermark.watermark_id)
        signals = _signals_of(readings, watermark, record, wm_record)
        verdict, reason = decide(signals)
        chosen = record if record.section.found else wm_record
        return VerificationReport(
            verdict=verdict,
            reason=reason,
            explanation=explain(reason, signals),
            generation_id=chosen.generation_id or _manifest_generation_id(readings.c2pa),
            media_type=str(media.media_type),
            sha256=sha256,
            c2pa=self._c2pa_section(readings.c2pa, wm_record),
            watermark=watermark,
            implicit_label=readings.implicit_label,
            explicit_label=readings.explicit_label,
            ledger=chosen.section,
            custody=self._custody(chosen.generation_id),
        )

    def _c2pa_section(self, reading: C2paReading, wm_record: _Record) -> C2paSection:
        """The file's manifest or, when it has none, the one its watermark recovered."""
        if not reading.present and wm_record.section.proof_ok:
            recovered = self._recovered_manifest(wm_record.generation_id)
            if recovered is not None:
                return recovered
        return C2paSection.of(reading)

    def _watermark_section(
        self, media: OpenedMedia, reading: WatermarkReading | None
    ) -> WatermarkSection:
        if media.image is not None:
            id_bits = self.readers.watermark_id_bits or _DEFAULT_ID_BITS
            return _image_watermark_section(reading, id_bits)
        if media.text is not None:
            return _text_watermark_section(self.readers.read_text_watermark(media.text))
        return WatermarkSection(
            False, False, None, 0.0, detail=f"no watermark for {media.media_type}"
        )

    # --- ledger ------------------------------------------------------------------------

    def _record_for_content(self, sha256: str, c2pa: C2paReading) -> _Record:
        if self.ledger is None:
            return _Record(LedgerSection(found=False, detail="no ledger configured"), None)
        entry = self.ledger.find_latest(artifact_sha256=sha256, event_type=EventType.STAMP)
        if entry is not None:
            return self._proven(self.ledger, entry, "content_hash")
        generation_id = _manifest_generation_id(c2pa)
        if generation_id and c2pa.state is not C2paState.INVALID:
            stamp = _last_stamp(self.ledger.events_for_generation(generation_id))
            if stamp is not None:
                return self._proven(self.ledger, stamp, "manifest")
        return _NO_RECORD

    def _record_by_watermark(self, watermark_id: str) -> _Record:
        if self.ledger is None:
            return _NO_RECORD
        number = parse_watermark_id(watermark_id)
        spellings = _watermark_spellings(number) if number is not None else (watermark_id,)
        for spelling in spellings:
            entry = self.ledger.find_latest(watermark_id=spelling, event_type=EventType.STAMP)
            if entry is not None:
                return self._proven(self.ledger, entry, "watermark")
        return _NO_RECORD

    def _proven(self, ledger: LedgerReader, entry: Entry, matched_by: LedgerMatch) -> _Record:
        bundle = ledger.prove(entry.index)
        vkey = self._trusted_vkey or ledger.public_key_info().vkey
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
        media_type = declared_media_type(stored.media_type)
        if stored.original is not None and media_type is not None:
            sidecar = None if media_type in IMAGE_TYPES else stored.manifest_bytes
            reading = self.readers.read_c2pa(stored.original, media_type, sidecar)
        elif stored.manifest_bytes is not None:
            # The content was erased (PIPL): the store alone proves the signature.
            reading = self.readers.read_manifest_store(stored.manifest_bytes)
        else:
            return None
        return C2paSection.of(reading, recovered=True) if reading.present else None


@dataclass(frozen=True, slots=True)
class _Record:
    """A ledger stamp entry found for the content, with its proof outcome."""

    section: LedgerSection
    generation_id: str | None


_NO_RECORD = _Record(LedgerSection(found=False, detail="no ledger record"), None)


def _sidecar_for(
    media: OpenedMedia, uploaded: bytes | None, stored: StoredArtifact | None
) -> bytes | None:
    # Text and GLB carry a sidecar manifest; the exact bytes name the one we kept. An
    # image's kept store is a copy of the embedded one: the file's own is read instead.
    if uploaded is None and media.media_type not in IMAGE_TYPES and stored is not None:
        return stored.manifest_bytes
    return uploaded


# --- watermark ids -----------------------------------------------------------------------


def watermark_id_text(watermark_id: int, id_bits: int = _DEFAULT_ID_BITS) -> str:
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


# --- from readings and records to sections and signals -----------------------------------


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
    entry: Entry, bundle: Mapping[str, Any], outcome: BundleVerification, matched_by: LedgerMatch
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
    readings: ProvenanceSignals, watermark: WatermarkSection, record: _Record, wm_record: _Record
) -> Signals:
    """What the verdict is decided on: the readings, and the ledger records they led to."""
    implicit = readings.implicit_label
    label_found = _implicit_found(implicit)
    return Signals(
        c2pa_state=readings.c2pa.state,
        c2pa_claims_ours=LEDGER_ASSERTION in readings.c2pa.manifest.get("assertions", {}),
        record_proven=record.section.proof_ok and _same_generation(record, readings.c2pa),
        label_found=label_found or _exact_label(readings.explicit_label),
        label_integrity_ok=implicit.reserved_code_ok if implicit and label_found else None,
        watermark_record_proven=wm_record.section.proof_ok,
        watermark_unmatched=_watermark_unmatched(watermark, record, wm_record),
        text_watermark_detected=watermark.method == "text_green_list" and watermark.present,
    )


def _implicit_found(reading: ImplicitLabelReading | None) -> bool:
    return reading is not None and reading.found


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
    return reading.found and reading.method != IMAGE_LABEL_HEURISTIC


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


# --- building one ------------------------------------------------------------------------


def build_verifier(
    *,
    catalog: ArtifactCatalog,
    ledger: LedgerReader,
    watermarker: ImageWatermarker | None,
    trust_anchors_pem: str | None,
    text_detector: TextWatermarkDetector | None,
    anchorer: Anchorer | None,
    max_bytes: int,
    max_image_pixels: int,
    decode_side_px: int,
) -> Verifier:
    """The gateway's verifier: our trust anchors and keys, the live ledger and catalog.

    ``anchorer``: the chain that anchored receipts are confirmed against (``None``: no
    chain configured, so a stored receipt is reported without an ``anchor_status``).
    """
    readers = ProvenanceSignalReaders(
        trust_anchors_pem, watermarker, text_detector, max_image_pixels=max_image_pixels
    )
    return Verifier(
        readers,
        ledger,
        catalog,
        max_bytes=max_bytes,
        max_image_pixels=max_image_pixels,
        confirm_anchor=anchor_check(anchorer),
        decode_side_px=decode_side_px,
    )


def anchor_check(anchorer: Anchorer | None) -> AnchorCheck | None:
    """Ask the chain the anchorer writes to; without one, no receipt can be confirmed."""
    if anchorer is None:
        return None

    def check(receipt: Mapping[str, Any]) -> str:
        try:
            return str(anchorer.confirm(AnchorReceipt(**dict(receipt))).value)
        except TypeError:
            return "not_on_chain"  # a receipt of another shape was never ours

    return check
