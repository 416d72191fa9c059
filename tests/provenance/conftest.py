"""Fixtures for the provenance tests: one local chain per session, sample media, requests."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from common.types import MediaType
from provenance.fake import FakeWatermarker
from provenance.interface import (
    GeneratorInfo,
    LedgerReference,
    ModerationSummary,
    StampRequest,
)
from provenance.keys import KeyProvider, build_key_provider, trust_anchors_pem
from provenance.settings import ProvenanceSettings
from provenance.stamper import Stamper, build_stamper

WATERMARK_ID = 0x1234_5678_9ABC
ARTIFACT_ID = "gen_01JTESTARTIFACT"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ProvenanceSettings:
    return ProvenanceSettings(keys_dir=tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def key_provider(settings: ProvenanceSettings) -> KeyProvider:
    return build_key_provider(settings)


@pytest.fixture(scope="session")
def anchors(settings: ProvenanceSettings, key_provider: KeyProvider) -> str:
    return trust_anchors_pem(settings, key_provider)


@pytest.fixture
def watermarker() -> FakeWatermarker:
    return FakeWatermarker()


@pytest.fixture
def stamper(
    settings: ProvenanceSettings, key_provider: KeyProvider, watermarker: FakeWatermarker
) -> Stamper:
    return build_stamper(settings, watermarker, key_provider)


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def gradient_image(width: int = 512, height: int = 384) -> Image.Image:
    """A smooth colour gradient: realistic enough for lossy codecs and label contrast."""
    image = Image.linear_gradient("L").resize((width, height))
    return Image.merge("RGB", (image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image))


@pytest.fixture
def png_bytes() -> bytes:
    return encode(gradient_image(), "PNG")


@pytest.fixture
def jpeg_bytes() -> bytes:
    return encode(gradient_image(), "JPEG", quality=90)


@pytest.fixture
def glb_bytes() -> bytes:
    import trimesh

    data: bytes = trimesh.creation.box(extents=(1, 2, 3)).export(file_type="glb")
    return data


@pytest.fixture
def make_request() -> Callable[..., StampRequest]:
    def build(data: bytes, media_type: MediaType, **overrides: Any) -> StampRequest:
        fields: dict[str, Any] = {
            "data": data,
            "media_type": media_type,
            "artifact_id": ARTIFACT_ID,
            "content_producer": "aigc-gateway",
            "generator": GeneratorInfo("tiny-image", "tiny-sd", "3f2a9c"),
            "moderation": ModerationSummary(
                "allow", "cn-marketing", "2026.1", {"ad_law.absolute_term": 1}
            ),
            "watermark_id": WATERMARK_ID,
            "ledger_refs": (
                LedgerReference("generation", 7, "ab" * 32),
                LedgerReference("moderation", 8, "cd" * 32),
            ),
        }
        fields.update(overrides)
        return StampRequest(**fields)

    return build


def flip_byte(data: bytes, offset: int) -> bytes:
    flipped = bytearray(data)
    flipped[offset] ^= 0x01
    return bytes(flipped)
