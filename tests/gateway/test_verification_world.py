"""A small provenance world for the verification tests: real stamper, real ledger.

``World.publish`` does what the gateway pipeline does for one artifact — ledger the
generation and moderation events, stamp (label, watermark, GB 45438, C2PA), ledger the
stamp event, keep the artifact — so the verifier can be tested end to end without the
HTTP layer. Helpers for hostile and foreign files live here too. (No tests here.)
"""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from common.types import MediaType
from gateway.verification import (
    ProvenanceSignalReaders,
    StoredArtifact,
    Verifier,
    watermark_id_text,
)
from ledger.checkpoint import NoteSigner
from ledger.interface import EventRecord, EventType
from ledger.models import create_tables
from ledger.service import Ledger
from ledger.settings import LedgerSettings
from provenance.interface import (
    GeneratorInfo,
    LedgerReference,
    ModerationSummary,
    StampOptions,
    StampRequest,
    StampResult,
)
from provenance.keys import build_key_provider, trust_anchors_pem
from provenance.settings import ProvenanceSettings
from provenance.stamper import build_stamper
from provenance.watermark import build_watermarker
from provenance.watermark.interface import ImageWatermarker

WATERMARK_KEY = b"verification-tests-watermark-key"
TIME = "2026-11-23T11:00:00Z"
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


class InMemoryCatalog:
    """``ArtifactCatalog`` fake: what the gateway's generations table would answer."""

    def __init__(self) -> None:
        self.items: list[StoredArtifact] = []

    def add(self, artifact: StoredArtifact) -> None:
        self.items.append(artifact)

    def _find(self, **wanted: str) -> StoredArtifact | None:
        ((name, value),) = wanted.items()
        matches = [a for a in self.items if getattr(a, name) == value]
        return matches[-1] if matches else None

    def by_sha256(self, sha256: str) -> StoredArtifact | None:
        return self._find(artifact_sha256=sha256)

    def by_generation_id(self, generation_id: str) -> StoredArtifact | None:
        return self._find(generation_id=generation_id)

    def by_watermark_id(self, watermark_id: str) -> StoredArtifact | None:
        return self._find(watermark_id=watermark_id)

    def by_manifest_label(self, manifest_label: str) -> StoredArtifact | None:
        return self._find(manifest_label=manifest_label)


@dataclass(frozen=True)
class Published:
    generation_id: str
    result: StampResult
    watermark_id: int

    @property
    def data(self) -> bytes:
        return self.result.data


@dataclass
class World:
    stamper: Any
    ledger: Ledger
    catalog: InMemoryCatalog
    watermarker: ImageWatermarker
    anchors: str
    verifier: Verifier
    published: list[Published] = field(default_factory=list)

    def publish(
        self, data: bytes, media_type: MediaType, output: MediaType | None = None
    ) -> Published:
        generation_id = f"gen_{secrets.token_hex(8)}"
        watermark_id = secrets.randbits(48)
        raw_sha = hashlib.sha256(data).hexdigest()
        first = self._append(EventType.GENERATION, generation_id, raw_sha, None)
        second = self._append(EventType.MODERATION, generation_id, raw_sha, first.leaf_hash)
        result = self.stamper.stamp(
            StampRequest(
                data=data,
                media_type=media_type,
                artifact_id=generation_id,
                content_producer="aigc-gateway",
                generator=GeneratorInfo("tiny-image", "tiny-sd", "3f2a9c"),
                moderation=ModerationSummary("allow", "cn-marketing", "2026.1"),
                watermark_id=watermark_id,
                ledger_refs=(
                    LedgerReference("generation", first.index, first.leaf_hash),
                    LedgerReference("moderation", second.index, second.leaf_hash),
                ),
                options=StampOptions(output_media_type=output),
            )
        )
        wid = watermark_id_text(result.watermark_id) if result.watermark_id is not None else None
        self._append(
            EventType.STAMP,
            generation_id,
            result.sha256,
            second.leaf_hash,
            manifest_hash=result.manifest_hash,
            watermark_id=wid,
            decision="released",
        )
        self.catalog.add(
            StoredArtifact(
                generation_id=generation_id,
                media_type=str(result.media_type),
                artifact_sha256=result.sha256,
                manifest_label=result.manifest_label,
                manifest_bytes=result.manifest_bytes,
                original=result.data,
                implicit_label=result.implicit_label,
                watermark_id=wid,
            )
        )
        published = Published(generation_id, result, watermark_id)
        self.published.append(published)
        return published

    def _append(
        self,
        event: EventType,
        generation_id: str,
        sha256: str,
        previous: str | None,
        **fields: Any,
    ) -> Any:
        return self.ledger.append(
            EventRecord(
                type=event,
                generation_id=generation_id,
                tenant="acme",
                actor="pipeline",
                time=TIME,
                artifact_sha256=sha256,
                previous_leaf_hash=previous,
                decision=fields.pop("decision", "allow"),
                policy_version="cn-marketing@2026.1",
                **fields,
            )
        )


def make_engine(url: str) -> sa.engine.Engine:
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    return sa.create_engine(url, pool_pre_ping=True)


@pytest.fixture(scope="session")
def provenance_settings(tmp_path_factory: pytest.TempPathFactory) -> ProvenanceSettings:
    return ProvenanceSettings(keys_dir=tmp_path_factory.mktemp("keys"))


def build_world(database_url: str, provenance_settings: ProvenanceSettings) -> Iterator[World]:
    engine = make_engine(database_url)
    create_tables(engine)
    provider = build_key_provider(provenance_settings)
    anchors = trust_anchors_pem(provenance_settings, provider)
    watermarker = build_watermarker("tiled-ss", key=WATERMARK_KEY)
    ledger = Ledger(
        engine, NoteSigner(LedgerSettings().origin, Ed25519PrivateKey.generate()), LedgerSettings()
    )
    catalog = InMemoryCatalog()
    readers = ProvenanceSignalReaders(anchors, watermarker)
    yield World(
        stamper=build_stamper(provenance_settings, watermarker, provider),
        ledger=ledger,
        catalog=catalog,
        watermarker=watermarker,
        anchors=anchors,
        verifier=Verifier(readers, ledger, catalog),
    )
    engine.dispose()


@pytest.fixture
def world(database_url: str, provenance_settings: ProvenanceSettings) -> Iterator[World]:
    yield from build_world(database_url, provenance_settings)


# --- files -------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def sample_photo(name: str = "astronaut", side_px: int = 512) -> Image.Image:
    """A real photograph shipped inside scikit-image (RECIPES: real photos offline)."""
    from skimage import data as samples

    pixels = getattr(samples, name)()
    return Image.fromarray(pixels).convert("RGB").resize((side_px, side_px))


def strip_metadata(data: bytes, fmt: str = "PNG", **params: Any) -> bytes:
    """Re-save the pixels only: every manifest, XMP packet and text chunk is gone."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return encode(Image.frombytes("RGB", image.size, image.tobytes()), fmt, **params)


def crop_fraction(data: bytes, fraction: float) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    return encode(image.crop((int(width * fraction), 0, width, height)), "PNG")


def flip_pixel_bytes(data: bytes) -> bytes:
    """Change pixels inside a signed PNG (metadata untouched) by re-encoding IDAT only."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    pixels = image.load()
    assert pixels is not None
    for x in range(40):
        r, g, b = pixels[x, 40]  # type: ignore[misc]  # RGB pixel access yields a tuple
        pixels[x, 40] = (255 - r, g, b)
    return _replace_png_idat(data, encode(image, "PNG"))


def _replace_png_idat(signed: bytes, repixelled: bytes) -> bytes:
    """The signed PNG's chunks with the pixel data (IDAT) of another PNG of equal size."""
    new_idat = [chunk for chunk in _png_chunks(repixelled) if chunk[4:8] == b"IDAT"]
    out = [signed[:8]]
    inserted = False
    for chunk in _png_chunks(signed):
        if chunk[4:8] == b"IDAT":
            if not inserted:
                out.extend(new_idat)
                inserted = True
            continue
        out.append(chunk)
    return b"".join(out)


def _png_chunks(data: bytes) -> Iterator[bytes]:
    offset = 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        end = offset + 12 + length
        yield data[offset:end]
        offset = end


def sign_with_foreign_chain(data: bytes, media_type: MediaType, keys_dir: Path) -> bytes:
    """Sign with a fresh, unrelated root → intermediate → leaf chain ("Other Studio")."""
    import c2pa

    from provenance.keys import build_c2pa_signer

    other = ProvenanceSettings(keys_dir=keys_dir, organization="Other Studio")
    provider = build_key_provider(other)
    manifest = {
        "claim_generator_info": [{"name": "other-studio-camera", "version": "1.0"}],
        "title": "holiday.png",
        "format": str(media_type),
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [{"action": "c2pa.created", "digitalSourceType": DIGITAL_CAPTURE}]
                },
            }
        ],
    }
    context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
    builder = c2pa.Builder(manifest, context=context)
    destination = io.BytesIO()
    builder.sign(build_c2pa_signer(provider), str(media_type), io.BytesIO(data), destination)
    return destination.getvalue()
