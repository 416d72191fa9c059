"""What the verifier needs from the rest of the gateway, and what it can refuse.

Small ``Protocol``s, so the verifier runs the same against the live runtime, an offline
proof bundle (the CLI) or test fakes: ``SignalReaders`` (the provenance read-back with
our keys and trust anchors), ``LedgerReader`` (the read side of the ledger) and
``ArtifactCatalog`` (the released artifacts the gateway kept). Errors::

    GatewayError
    ├── InvalidInputError
    │   └── UnsupportedSoftBindingError   400 unsupported_soft_binding_alg
    └── NotFoundError
        └── ManifestNotFoundError         404 manifest_not_found
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from common.errors import InvalidInputError, NotFoundError
from common.types import MediaType
from ledger.interface import Entry, EventType, PublicKeyInfo
from provenance.interface import C2paReading
from provenance.watermark.interface import WatermarkReading

if TYPE_CHECKING:
    from PIL import Image

    from provenance.media import OpenedMedia
    from provenance.readback import ProvenanceSignals

__all__ = [
    "AnchorCheck",
    "ArtifactCatalog",
    "LedgerReader",
    "ManifestNotFoundError",
    "SignalReaders",
    "SoftBindingMatch",
    "StoredArtifact",
    "TextWatermarkDetector",
    "TextWatermarkReading",
    "UnsupportedSoftBindingError",
]


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


# Given a stored anchor receipt, what the chain says of it now: confirmed | not_on_chain |
# unreachable (``ledger.anchor.anchorer.AnchorConfirmation``).
AnchorCheck = Callable[[Mapping[str, Any]], str]


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
    """The provenance read-back, bound to the gateway's keys and trust anchors."""

    @property
    def watermark_id_bits(self) -> int | None:
        """The width of the image watermarker's ids; ``None`` when none is configured."""
        ...

    def read_signals(
        self,
        data: bytes,
        media: OpenedMedia,
        *,
        sidecar: bytes | None,
        response_label: str | None,
    ) -> ProvenanceSignals:
        """Every signal of one opened file (``provenance.readback.read_signals``)."""
        ...

    def read_c2pa(
        self, data: bytes, media_type: MediaType, sidecar: bytes | None
    ) -> C2paReading: ...

    def read_manifest_store(self, manifest_bytes: bytes) -> C2paReading:
        """A stored manifest store on its own (no asset: the hard binding cannot match)."""
        ...

    def read_watermark(self, image: Image.Image) -> WatermarkReading | None:
        """``None`` when no image watermarker is configured."""
        ...

    def read_text_watermark(self, text: str) -> TextWatermarkReading | None: ...
