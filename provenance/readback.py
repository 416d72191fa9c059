"""Read the stamps back: C2PA state, the GB 45438 label, the visible label, the watermark.

Used by the tests and by the verification endpoint (``read_signals``, every reading of
one opened file); none of these raise on a file that simply lacks a stamp — they report
it. Bytes that are not a supported type raise the same 4xx errors as stamping. Reading
never goes to the network: C2PA validation runs with remote manifests and OCSP off, and
a manifest that a file names only by URL is reported, not fetched::

    reading = read_c2pa(data, MediaType.PNG, trust_anchors_pem=anchors)
    reading.state                       # C2paState.TRUSTED
    label = read_implicit_label(data, MediaType.PNG)
    label.fields["ProduceID"], label.reserved_code_ok
    read_watermark(data, MediaType.PNG, watermarker).watermark_id
    media = open_media(data, None, max_bytes=64 << 20, max_image_pixels=40_000_000)
    read_signals(data, media, watermarker, trust_anchors_pem=anchors).c2pa.state
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.types import MediaType
from provenance.frontmatter import read_aigc_front_matter, split_front_matter
from provenance.gb45438 import (
    charset_ok,
    parse_label,
    reserved_code_for_glb,
    reserved_code_for_image,
    reserved_code_for_text,
)
from provenance.glb import GlbDocument
from provenance.interface import C2paReading, C2paState, ExplicitLabelReading, ImplicitLabelReading
from provenance.labels import (
    DEFAULT_HEIGHT_FRACTION,
    IMAGE_LABELS,
    check_image_label,
    check_text_label,
)
from provenance.manifest import (
    GB45438_ASSERTION,
    LEDGER_ASSERTION,
    MODERATION_ASSERTION,
    REVIEW_ASSERTION,
    SOFT_BINDING_ASSERTION,
    decode_soft_binding_value,
)
from provenance.media import IMAGE_TYPES, OpenedMedia, open_media
from provenance.steps.implicit_label import KHR_XMP_JSON_LD
from provenance.watermark.interface import ImageWatermarker, WatermarkReading
from provenance.xmp import extract_xmp_packets, read_tc260_labels

__all__ = [
    "MANIFEST_INACCESSIBLE",
    "ProvenanceSignals",
    "check_explicit_label",
    "read_c2pa",
    "read_image_implicit_label",
    "read_implicit_label",
    "read_manifest_store",
    "read_signals",
    "read_watermark",
]

_DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_DEFAULT_MAX_PIXELS = 40_000_000
_STATES = {
    "trusted": C2paState.TRUSTED,
    "valid": C2paState.VALID,
    "wellformed": C2paState.WELL_FORMED,
    "invalid": C2paState.INVALID,
}
# C2PA 2.2 §15.10: the hard-binding failures a detached manifest necessarily shows.
_HARD_BINDING_FAILURES = frozenset(
    {"assertion.dataHash.mismatch", "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch"}
)
_OUR_ASSERTIONS = (MODERATION_ASSERTION, REVIEW_ASSERTION, LEDGER_ASSERTION, GB45438_ASSERTION)


# --- C2PA -------------------------------------------------------------------------------


def read_c2pa(
    data: bytes,
    media_type: MediaType,
    sidecar: bytes | None = None,
    trust_anchors_pem: str | None = None,
) -> C2paReading:
    """Validate the embedded (or sidecar) manifest with the given trust anchors.

    A manifest that the file's XMP names only by URL (``dcterms:provenance``) is not
    fetched: the reading is ``absent`` with ``manifest.inaccessible``.
    """
    import c2pa

    if sidecar is None and _references_remote_manifest(data, media_type):
        remote = _remote_only_manifest(data, media_type)
        if remote is not None:
            return remote
    try:
        reader = c2pa.Reader(
            str(media_type), io.BytesIO(data), sidecar, context=_reader_context(trust_anchors_pem)
        )
    except c2pa.C2paError.ManifestNotFound:
        return _absent()
    except c2pa.C2paError.NotSupported:
        if sidecar is None:
            return _absent()  # text and GLB carry no embedded manifest
        return _unreadable("c2pa.notSupported")
    except c2pa.C2paError as exc:
        return _unreadable(f"c2pa.error: {type(exc).__name__.lstrip('_')}")
    with reader:
        return _reading_from(reader)


def read_manifest_store(manifest_bytes: bytes, trust_anchors_pem: str | None = None) -> C2paReading:
    """Read a stored manifest on its own, e.g. one recovered through the watermark id.

    Without the asset its hard binding cannot match, so ``assertion.dataHash.mismatch``
    (or the BMFF/box equivalent) is always among the codes; ``state`` then says how far
    the *signature* goes (trusted / valid / invalid). The caller must report such a
    reading as recovered, never as a hard-binding match (C2PA 2.2 soft binding).
    """
    import c2pa

    try:
        reader = c2pa.Reader(
            "application/c2pa",
            io.BytesIO(manifest_bytes),
            context=_reader_context(trust_anchors_pem),
        )
    except c2pa.C2paError as exc:
        return _unreadable(f"c2pa.error: {type(exc).__name__.lstrip('_')}")
    with reader:
        return _reading_from(reader, ignore_hard_binding=True)


def _reading_from(reader: Any, *, ignore_hard_binding: bool = False) -> C2paReading:
    state_text = (reader.get_validation_state() or "invalid").lower()
    results = reader.get_validation_results() or {}
    if ignore_hard_binding:
        state_text = _signature_state(results)
    active = reader.get_active_manifest() or {}
    return C2paReading(
        present=True,
        state=_STATES.get(state_text, C2paState.INVALID),
        validation_status=_status_codes(results),
        manifest_label=active.get("label"),
        manifest=_summary(active),
        soft_binding_ids=_soft_binding_ids(active),
    )


def _signature_state(results: Mapping[str, Any]) -> str:
    active = results.get("activeManifest") or {}
    failures = {entry.get("code", "") for entry in active.get("failure") or []}
    # An unknown root still leaves a valid signature (C2PA 2.2 §15.7: valid, not trusted).
    if failures - _HARD_BINDING_FAILURES - {"signingCredential.untrusted"}:
        return "invalid"
    successes = {entry.get("code", "") for entry in active.get("success") or []}
    if "claimSignature.validated" not in successes:
        return "invalid"
    return "trusted" if "signingCredential.trusted" in successes else "valid"


# Validation never goes to the network: c2pa-rs would otherwise fetch a remote manifest
# named in an upload's XMP (dcterms:provenance) or an OCSP responder, letting a client of
# the public verify endpoint make the server fetch URLs of its choosing.
_OFFLINE_SETTINGS: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "core": {"allowed_network_hosts": []},
}


@functools.lru_cache(maxsize=8)
def _reader_context(trust_anchors_pem: str | None) -> Any:
    import c2pa

    settings: dict[str, Any] = dict(_OFFLINE_SETTINGS)
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


# C2PA 2.2 §15.11 validation code for a manifest that could not be retrieved.
MANIFEST_INACCESSIBLE = "manifest.inaccessible"


def _references_remote_manifest(data: bytes, media_type: MediaType) -> bool:
    """Whether the file's XMP names a remote manifest (``dcterms:provenance``)."""
    if media_type not in IMAGE_TYPES:
        return False
    try:
        packets = extract_xmp_packets(data, media_type)
    except Exception:  # malformed metadata: the C2PA reader will say so itself
        return False
    return any(b"provenance" in packet for packet in packets)


def _remote_only_manifest(data: bytes, media_type: MediaType) -> C2paReading | None:
    """An ``absent`` reading when the only manifest is remote; ``None`` when one is embedded."""
    import c2pa

    try:
        with c2pa.Reader(str(media_type), io.BytesIO(data), context=_reader_context(None)):
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


def _status_codes(results: Mapping[str, Any]) -> tuple[str, ...]:
    active = results.get("activeManifest") or {}
    # Failures first: they are what a verifier must explain.
    ordered = (
        entry.get("code", "")
        for kind in ("failure", "informational", "success")
        for entry in active.get(kind) or []
    )
    return tuple(dict.fromkeys(code for code in ordered if code))


def _summary(active: Mapping[str, Any]) -> dict[str, Any]:
    assertions = {a.get("label"): a.get("data") for a in active.get("assertions") or []}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get(
        "actions", []
    )
    return {
        "title": active.get("title"),
        "claim_generator": active.get("claim_generator_info"),
        "signature": active.get("signature_info"),
        "actions": actions,
        "assertions": {
            label: assertions[label] for label in _OUR_ASSERTIONS if label in assertions
        },
        "assertion_labels": sorted(label for label in assertions if label),
    }


def _soft_binding_ids(active: Mapping[str, Any]) -> tuple[int, ...]:
    ids: list[int] = []
    for assertion in active.get("assertions") or []:
        if assertion.get("label") != SOFT_BINDING_ASSERTION:
            continue
        for block in (assertion.get("data") or {}).get("blocks") or []:
            value = decode_soft_binding_value(str(block.get("value", "")))
            if value is not None:
                ids.append(value)
    return tuple(ids)


def _absent() -> C2paReading:
    return C2paReading(False, C2paState.ABSENT, (), None, {}, ())


def _unreadable(code: str) -> C2paReading:
    return C2paReading(True, C2paState.INVALID, (code,), None, {}, ())


# --- GB 45438 implicit label ------------------------------------------------------------


def read_implicit_label(
    data: bytes,
    media_type: MediaType,
    response_label: str | None = None,
    *,
    max_image_pixels: int = _DEFAULT_MAX_PIXELS,
) -> ImplicitLabelReading:
    """Find the label in the file (plain text: pass the ``response_label`` field)."""
    return _implicit_label_of(data, _open(data, media_type, max_image_pixels), response_label)


def read_image_implicit_label(
    data: bytes, media_type: MediaType, *, max_image_pixels: int = _DEFAULT_MAX_PIXELS
) -> ImplicitLabelReading:
    """``read_implicit_label`` for image bytes already opened once (so known to be
    ``media_type``): the pixels matter only for checking a ReservedCode1 of ours, so
    without one they are not decoded — a full-size decode is the costliest part of
    verifying an upload."""
    if _has_own_reserved_code(data, media_type):
        return read_implicit_label(data, media_type, max_image_pixels=max_image_pixels)
    return _implicit_label_of(data, OpenedMedia(media_type, len(data)), None)


def _has_own_reserved_code(data: bytes, media_type: MediaType) -> bool:
    labels = read_tc260_labels(data, media_type)
    fields = (parse_label(labels[0]) or {}) if labels else {}
    return fields.get("ReservedCode1", "").startswith("sha256:")


def _implicit_label_of(
    data: bytes, media: OpenedMedia, response_label: str | None
) -> ImplicitLabelReading:
    labels = _labels_in(data, media, response_label)
    if not labels:
        return ImplicitLabelReading(False, {}, False, 0, None)
    fields = parse_label(labels[0]) or {}
    return ImplicitLabelReading(
        found=bool(fields),
        fields=fields,
        charset_ok=bool(fields) and charset_ok(fields) and _compact(labels[0]),
        count=len(labels),
        reserved_code_ok=_reserved_code_ok(fields, media),
    )


def _labels_in(data: bytes, media: OpenedMedia, response_label: str | None) -> list[str]:
    if media.media_type in IMAGE_TYPES:
        return read_tc260_labels(data, media.media_type)
    if media.glb is not None:
        return _glb_labels(media.glb)
    if media.media_type is MediaType.MARKDOWN and media.text is not None:
        labels, _ = read_aigc_front_matter(media.text)
        return labels
    return [response_label] if response_label else []


def _glb_labels(doc: GlbDocument) -> list[str]:
    # Uploaded files may put anything anywhere: look only through dicts and lists.
    extras = _dict(_dict(doc.gltf.get("asset")).get("extras"))
    packets = _dict(_dict(doc.gltf.get("extensions")).get(KHR_XMP_JSON_LD)).get("packets")
    packet_labels = [_dict(p).get("TC260:AIGC") for p in packets or [] if isinstance(packets, list)]
    found = [extras.get("AIGC"), *packet_labels]
    # asset.extras mirrors the XMP packet: the same label in two places counts once.
    return list(dict.fromkeys(label for label in found if isinstance(label, str)))


def _reserved_code_ok(fields: Mapping[str, str], media: OpenedMedia) -> bool | None:
    code = fields.get("ReservedCode1", "")
    if not code.startswith("sha256:"):
        return None  # another producer's scheme: not ours to check
    if media.image is not None:
        return code == reserved_code_for_image(media.image)
    if media.glb is not None:
        return code == reserved_code_for_glb(media.glb)
    text = media.text or ""
    if media.media_type is MediaType.MARKDOWN:
        _, text = split_front_matter(text)
    return code == reserved_code_for_text(text)


def _compact(label: str) -> bool:
    # Called on labels parse_label accepted, so the nesting is already known to be shallow.
    parsed = json.loads(label)
    return label == json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)


# --- explicit label and watermark -------------------------------------------------------


def check_explicit_label(
    data: bytes,
    media_type: MediaType,
    *,
    height_fraction: float = DEFAULT_HEIGHT_FRACTION,
    max_image_pixels: int = _DEFAULT_MAX_PIXELS,
) -> ExplicitLabelReading:
    """Best effort: exact for text and GLB, a corner-contrast heuristic for images."""
    return _explicit_label_of(_open(data, media_type, max_image_pixels), height_fraction)


def _explicit_label_of(media: OpenedMedia, height_fraction: float) -> ExplicitLabelReading:
    if media.image is not None:
        return check_image_label(media.image, height_fraction)
    if media.glb is not None:
        return _check_glb_label(media.glb)
    text = media.text or ""
    if media.media_type is MediaType.MARKDOWN:
        _, text = split_front_matter(text)
    return check_text_label(text)


def _check_glb_label(doc: GlbDocument) -> ExplicitLabelReading:
    names = _names(doc.gltf.get("scenes")) + _names(doc.gltf.get("nodes"))
    hits = [name for name in names if any(label in name for label in IMAGE_LABELS.values())]
    if hits:
        return ExplicitLabelReading(True, "glb_names", f"label in {hits[0]!r}")
    return ExplicitLabelReading(False, "glb_names", "no scene or node carries the label")


def _names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(item.get("name")) for item in items if isinstance(item, dict)]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_watermark(
    data: bytes,
    media_type: MediaType,
    watermarker: ImageWatermarker,
    *,
    max_image_pixels: int = _DEFAULT_MAX_PIXELS,
) -> WatermarkReading:
    """Decode the invisible watermark of an image; other media report not present."""
    media = _open(data, media_type, max_image_pixels)
    if media.image is None:
        return WatermarkReading(present=False, watermark_id=None, confidence=0.0)
    return watermarker.detect(media.image.convert("RGB"))


def _open(data: bytes, media_type: MediaType | None, max_image_pixels: int) -> OpenedMedia:
    return open_media(
        data, media_type, max_bytes=_DEFAULT_MAX_BYTES, max_image_pixels=max_image_pixels
    )


# --- everything at once -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProvenanceSignals:
    """What the verification endpoint needs from one uploaded file."""

    media_type: MediaType  # as sniffed (Markdown only when declared)
    c2pa: C2paReading
    implicit_label: ImplicitLabelReading | None  # None: plain text without its label beside it
    explicit_label: ExplicitLabelReading
    watermark: WatermarkReading | None  # None: not an image, or no watermarker to ask


def read_signals(
    data: bytes,
    media: OpenedMedia,
    watermarker: ImageWatermarker | None,
    *,
    sidecar: bytes | None = None,
    trust_anchors_pem: str | None = None,
    response_label: str | None = None,
    max_image_pixels: int = _DEFAULT_MAX_PIXELS,
) -> ProvenanceSignals:
    """Every signal of ``data``, already opened as ``media`` (``open_media``).

    ``sidecar`` is a detached manifest store; text and GLB embed none, so without one
    their C2PA reading is ``absent``. ``response_label`` is plain text's GB 45438 label,
    which travels beside the content (in the API response). The image may have been
    decoded downscaled (``reduce_to_side_px``): its pixels serve the visible-label
    heuristic and the watermark, while a label's integrity code is checked on a full-size
    decode, made only when the label carries a code of ours.
    """
    return ProvenanceSignals(
        media_type=media.media_type,
        c2pa=_c2pa_of(data, media.media_type, sidecar, trust_anchors_pem),
        implicit_label=_implicit_label_for(data, media, response_label, max_image_pixels),
        explicit_label=_explicit_label_of(media, DEFAULT_HEIGHT_FRACTION),
        watermark=_watermark_of(media, watermarker),
    )


def _c2pa_of(
    data: bytes, media_type: MediaType, sidecar: bytes | None, trust_anchors_pem: str | None
) -> C2paReading:
    if sidecar is None and media_type not in IMAGE_TYPES:
        return _absent()
    return read_c2pa(data, media_type, sidecar, trust_anchors_pem)


def _implicit_label_for(
    data: bytes, media: OpenedMedia, response_label: str | None, max_image_pixels: int
) -> ImplicitLabelReading | None:
    if media.media_type is MediaType.TEXT and response_label is None:
        return None  # the label of plain text is not in its bytes: nothing to check
    if media.media_type in IMAGE_TYPES:
        return read_image_implicit_label(data, media.media_type, max_image_pixels=max_image_pixels)
    return _implicit_label_of(data, media, response_label)


def _watermark_of(
    media: OpenedMedia, watermarker: ImageWatermarker | None
) -> WatermarkReading | None:
    if media.image is None or watermarker is None:
        return None
    return watermarker.detect(media.image.convert("RGB"))
