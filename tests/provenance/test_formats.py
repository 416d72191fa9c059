"""Round trips of every serializer: GB 45438 JSON, XMP in PNG/JPEG/WebP, front matter,
GLB containers, soft-binding values; and the step registry's configuration checks."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from common.errors import ConfigurationError
from common.types import MediaType
from provenance.fake import FakeWatermarker
from provenance.frontmatter import add_aigc_front_matter, read_aigc_front_matter
from provenance.gb45438 import (
    FIELDS,
    InvalidLabelFieldError,
    build_label,
    charset_ok,
    parse_label,
    reserved_code_for_text,
)
from provenance.glb import parse_glb, serialize_glb
from provenance.interface import StepName
from provenance.keys import KeyProvider
from provenance.manifest import decode_soft_binding_value, encode_soft_binding_value
from provenance.registry import StepContext, build_steps
from provenance.settings import ProvenanceSettings
from provenance.xmp import build_xmp_packet, embed_xmp, read_tc260_labels
from tests.provenance.conftest import encode, gradient_image

LABEL = build_label(
    content_producer="aigc-gateway", produce_id="gen_1", reserved_code1="sha256:" + "0" * 64
)


def test_label_has_seven_fields_compact_and_valid() -> None:
    fields = parse_label(LABEL)
    assert fields is not None
    assert tuple(fields) == FIELDS
    assert charset_ok(fields)
    assert json.dumps(json.loads(LABEL), separators=(",", ":")) == LABEL
    assert fields["ContentPropagator"] == fields["ContentProducer"]


@pytest.mark.parametrize("bad", ['quote"d', "back\\slash", "中文", "tab\there"])
def test_label_refuses_values_outside_annex_e(bad: str) -> None:
    with pytest.raises(InvalidLabelFieldError):
        build_label(content_producer=bad, produce_id="gen_1", reserved_code1="x")


def test_charset_check_catches_foreign_labels() -> None:
    fields = dict(parse_label(LABEL) or {})
    fields["ContentProducer"] = "厂商"
    assert not charset_ok(fields)
    del fields["ReservedCode2"]
    assert not charset_ok(fields)


def test_parse_label_rejects_non_labels() -> None:
    assert parse_label("not json") is None
    assert parse_label('{"other": 1}') is None
    assert parse_label('{"AIGC": {"Label": 1}}') is None


@pytest.mark.parametrize(
    ("fmt", "media_type", "params"),
    [
        ("PNG", MediaType.PNG, {}),
        ("JPEG", MediaType.JPEG, {"quality": 90}),
        ("WEBP", MediaType.WEBP, {"quality": 80}),
        ("WEBP", MediaType.WEBP, {"lossless": True}),
    ],
)
def test_xmp_round_trip_keeps_the_file_decodable(
    fmt: str, media_type: MediaType, params: dict[str, object]
) -> None:
    original = encode(gradient_image(97, 61), fmt, **params)
    labelled = embed_xmp(original, media_type, build_xmp_packet(LABEL))

    assert read_tc260_labels(labelled, media_type) == [LABEL]
    decoded = Image.open(io.BytesIO(labelled))
    decoded.load()
    assert decoded.size == (97, 61)
    assert decoded.info.get("xmp")  # Pillow finds the packet where readers look for it


def test_webp_with_alpha_keeps_alpha_after_xmp() -> None:
    rgba = gradient_image(64, 64).convert("RGBA")
    rgba.putalpha(128)
    labelled = embed_xmp(encode(rgba, "WEBP", lossless=True), MediaType.WEBP, b"<x/>")
    assert Image.open(io.BytesIO(labelled)).mode == "RGBA"


@given(st.text(max_size=200))
def test_front_matter_round_trip(body: str) -> None:
    text = add_aigc_front_matter(body, LABEL)
    labels, rest = read_aigc_front_matter(text)
    assert labels == [LABEL]
    assert rest == body or body.startswith("---")


def test_front_matter_keeps_existing_keys() -> None:
    text = add_aigc_front_matter("---\ntitle: x\n---\nbody\n", LABEL)
    labels, rest = read_aigc_front_matter(text)
    assert labels == [LABEL]
    assert rest == "body\n"
    assert "title: x" in text


def test_glb_round_trip_is_byte_stable(glb_bytes: bytes) -> None:
    doc = parse_glb(glb_bytes)
    again = serialize_glb(doc)
    assert parse_glb(again).gltf == doc.gltf
    assert parse_glb(again).bin_chunk == doc.bin_chunk
    assert serialize_glb(parse_glb(again)) == again


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_soft_binding_value_round_trip(watermark_id: int) -> None:
    assert decode_soft_binding_value(encode_soft_binding_value(watermark_id)) == watermark_id


def test_soft_binding_value_rejects_garbage() -> None:
    assert decode_soft_binding_value("not base64!") is None
    assert decode_soft_binding_value("AAAA") is None


def test_reserved_code_is_over_the_text() -> None:
    assert reserved_code_for_text("a") != reserved_code_for_text("b")
    assert reserved_code_for_text("a").startswith("sha256:")


def _context(settings: ProvenanceSettings, key_provider: KeyProvider) -> StepContext:
    return StepContext(settings, key_provider, FakeWatermarker())


def test_registry_fails_closed(settings: ProvenanceSettings, key_provider: KeyProvider) -> None:
    context = _context(settings, key_provider)
    with pytest.raises(ConfigurationError, match="empty"):
        build_steps([], context)
    with pytest.raises(ConfigurationError, match=r"known: \["):
        build_steps(["explicit_label", "sparkles"], context)
    with pytest.raises(ConfigurationError, match="out of order"):
        build_steps([StepName.C2PA, StepName.EXPLICIT_LABEL], context)
    with pytest.raises(ConfigurationError, match="twice"):
        build_steps([StepName.WATERMARK, StepName.WATERMARK], context)


def test_registry_builds_the_default_chain(
    settings: ProvenanceSettings, key_provider: KeyProvider
) -> None:
    steps = build_steps(settings.steps, _context(settings, key_provider))
    assert [s.name for s in steps] == list(settings.steps)
