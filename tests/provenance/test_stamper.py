"""Every stamped format read back: C2PA trusted, GB 45438 label, visible label, watermark."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from PIL import Image

from common.types import Language, MediaType
from provenance.fake import FakeWatermarker
from provenance.gb45438 import FIELDS
from provenance.interface import (
    C2paState,
    ReviewSummary,
    StampOptions,
    StampRequest,
    StampResult,
    StepName,
    TextLabelPosition,
)
from provenance.manifest import (
    GB45438_ASSERTION,
    LEDGER_ASSERTION,
    MODERATION_ASSERTION,
    REVIEW_ASSERTION,
    SOFT_BINDING_ASSERTION,
)
from provenance.readback import (
    check_explicit_label,
    read_c2pa,
    read_implicit_label,
    read_manifest_store,
    read_watermark,
)
from provenance.stamper import Stamper
from provenance.xmp import TRAINED_ALGORITHMIC_MEDIA, extract_xmp_packets
from tests.provenance.conftest import ARTIFACT_ID, WATERMARK_ID, encode, flip_byte, gradient_image

MakeRequest = Callable[..., StampRequest]
OUR_ASSERTIONS = {MODERATION_ASSERTION, REVIEW_ASSERTION, LEDGER_ASSERTION, GB45438_ASSERTION}


def _sidecar(result: StampResult) -> bytes | None:
    return None if result.manifest_embedded else result.manifest_bytes


def _assert_trusted(result: StampResult, anchors: str) -> None:
    reading = read_c2pa(result.data, result.media_type, _sidecar(result), anchors)
    assert reading.present
    assert reading.state is C2paState.TRUSTED, reading.validation_status
    assert "signingCredential.trusted" in reading.validation_status
    assert reading.manifest_label == result.manifest_label
    assert set(reading.manifest["assertion_labels"]) >= OUR_ASSERTIONS
    created = reading.manifest["actions"][0]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"]["name"] == "tiny-image"
    assert created["softwareAgent"]["version"] == "3f2a9c"
    ledger = reading.manifest["assertions"][LEDGER_ASSERTION]
    assert [ref["index"] for ref in ledger["refs"]] == [7, 8]
    moderation = reading.manifest["assertions"][MODERATION_ASSERTION]
    assert moderation["policy_version"] == "2026.1"
    assert moderation["findings"] == {"ad_law.absolute_term": 1}


def _assert_implicit_label(result: StampResult) -> None:
    reading = read_implicit_label(result.data, result.media_type, result.implicit_label)
    assert reading.found
    assert reading.count == 1
    assert reading.charset_ok
    assert reading.reserved_code_ok is True
    assert tuple(reading.fields) == FIELDS
    assert reading.fields["ProduceID"] == ARTIFACT_ID
    assert reading.fields["Label"] == "1"
    assert result.implicit_label is not None
    assert json.loads(result.implicit_label)["AIGC"] == dict(reading.fields)
    assert " " not in result.implicit_label  # compact, separators=(",", ":")


# Where the coded pixels start: a flipped byte there must break the hard binding.
PIXEL_MARKERS = {MediaType.PNG: b"IDAT", MediaType.JPEG: b"\xff\xda", MediaType.WEBP: b"VP8 "}


@pytest.mark.parametrize("output", [MediaType.PNG, MediaType.JPEG, MediaType.WEBP])
def test_image_formats_read_back_trusted_and_labelled(
    stamper: Stamper,
    make_request: MakeRequest,
    png_bytes: bytes,
    anchors: str,
    output: MediaType,
) -> None:
    options = StampOptions(output_media_type=output)
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG, options=options))

    assert result.media_type is output
    assert result.manifest_embedded
    _assert_trusted(result, anchors)
    _assert_implicit_label(result)
    reading = read_c2pa(result.data, output, None, anchors)
    assert reading.soft_binding_ids == (WATERMARK_ID,)
    assert check_explicit_label(result.data, output).found
    tampered = flip_byte(result.data, result.data.index(PIXEL_MARKERS[output]) + 40)
    assert read_c2pa(tampered, output, None, anchors).state is C2paState.INVALID


def test_png_is_the_default_output_and_carries_the_watermark(
    stamper: Stamper, make_request: MakeRequest, jpeg_bytes: bytes, watermarker: FakeWatermarker
) -> None:
    result = stamper.stamp(make_request(jpeg_bytes, MediaType.JPEG))

    assert result.media_type is MediaType.PNG
    assert result.watermark_id == WATERMARK_ID
    assert result.watermark_reason is None
    assert read_watermark(result.data, result.media_type, watermarker).watermark_id == WATERMARK_ID
    assert [s.name for s in result.steps] == [
        StepName.EXPLICIT_LABEL,
        StepName.WATERMARK,
        StepName.ENCODE,
        StepName.IMPLICIT_LABEL,
        StepName.C2PA,
    ]
    assert all(s.applied and s.duration_ms >= 0 for s in result.steps)


def test_xmp_carries_iptc_digital_source_type(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes
) -> None:
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))

    packets = extract_xmp_packets(result.data, MediaType.PNG)
    assert len(packets) == 1
    assert b"Iptc4xmpExt:DigitalSourceType>" + TRAINED_ALGORITHMIC_MEDIA.encode() in packets[0]
    assert b"http://www.tc260.org.cn/ns/AIGC/1.0/" in packets[0]


def test_untrusted_root_reads_valid_not_trusted(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes
) -> None:
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))

    reading = read_c2pa(result.data, result.media_type, None, None)
    assert reading.state is C2paState.VALID
    assert "signingCredential.untrusted" in reading.validation_status


def test_unstamped_image_reads_absent(png_bytes: bytes, anchors: str) -> None:
    assert read_c2pa(png_bytes, MediaType.PNG, None, anchors).state is C2paState.ABSENT
    assert not read_implicit_label(png_bytes, MediaType.PNG).found


@pytest.mark.parametrize(
    ("language", "corner_label"), [(Language.ZH, "AI生成"), (Language.EN, "AI-generated")]
)
@pytest.mark.parametrize("size", [(512, 384), (300, 1200)])
def test_label_glyphs_are_at_least_five_percent_of_the_shorter_side(
    stamper: Stamper,
    make_request: MakeRequest,
    language: Language,
    corner_label: str,
    size: tuple[int, int],
) -> None:
    gray = Image.new("RGB", size, (128, 128, 128))
    request = make_request(encode(gray, "PNG"), MediaType.PNG, label_language=language)
    result = stamper.stamp(request)

    stamped = Image.open(io.BytesIO(result.data)).convert("L")
    # Glyphs are the near-white pixels; the box darkens the mid-gray background.
    rows = [y for y in range(stamped.height) if max(_row(stamped, y)) > 230]
    glyph_height = max(rows) - min(rows) + 1
    assert glyph_height >= 0.05 * min(size)
    step = result.step(StepName.EXPLICIT_LABEL)
    assert step is not None
    assert corner_label in step.detail


def _row(image: Image.Image, y: int) -> list[int]:
    return [int(image.getpixel((x, y))) for x in range(image.width)]  # type: ignore[arg-type]


def test_label_reads_on_light_and_dark_images(stamper: Stamper, make_request: MakeRequest) -> None:
    for shade in (10, 245):
        plain = encode(Image.new("RGB", (400, 400), (shade, shade, shade)), "PNG")
        result = stamper.stamp(make_request(plain, MediaType.PNG))
        stamped = Image.open(io.BytesIO(result.data)).convert("L")
        histogram = stamped.crop((200, 300, 400, 400)).histogram()
        assert sum(histogram[230:]) > 0, "white glyphs present"
        assert sum(histogram[:60]) > 0, "dark box present"
        assert check_explicit_label(result.data, result.media_type).found


def test_small_image_gets_every_stamp_but_the_watermark(
    stamper: Stamper, make_request: MakeRequest, anchors: str
) -> None:
    small = encode(gradient_image(200, 120), "PNG")
    result = stamper.stamp(make_request(small, MediaType.PNG))

    assert result.watermark_id is None
    assert result.watermark_reason is not None
    assert "below 256" in result.watermark_reason
    reading = read_c2pa(result.data, result.media_type, None, anchors)
    assert reading.state is C2paState.TRUSTED
    assert SOFT_BINDING_ASSERTION not in reading.manifest["assertion_labels"]
    _assert_implicit_label(result)


@pytest.mark.parametrize("position", list(TextLabelPosition))
def test_plain_text_label_sidecar_and_response_field(
    stamper: Stamper, make_request: MakeRequest, anchors: str, position: TextLabelPosition
) -> None:
    request = make_request(
        "新品上市，限时优惠。".encode(),
        MediaType.TEXT,
        options=StampOptions(text_label_position=position),
    )
    result = stamper.stamp(request)

    text = result.data.decode()
    lines = text.strip().splitlines()
    assert (lines[0] if position is TextLabelPosition.START else lines[-1]) == "【AI生成】"
    assert not result.manifest_embedded
    assert result.manifest_bytes is not None
    _assert_trusted(result, anchors)
    _assert_implicit_label(result)
    tampered = text.replace("优惠", "特价").encode()
    sidecar = result.manifest_bytes
    assert read_c2pa(tampered, MediaType.TEXT, sidecar, anchors).state is C2paState.INVALID


def test_markdown_front_matter_and_existing_front_matter_kept(
    stamper: Stamper, make_request: MakeRequest, anchors: str
) -> None:
    source = "---\ntitle: 新品\n---\n# 新品上市\n\n欢迎选购。\n"
    request = make_request(
        source.encode(),
        MediaType.MARKDOWN,
        label_language=Language.EN,
        options=StampOptions(text_label_position=TextLabelPosition.START),
    )
    result = stamper.stamp(request)

    text = result.data.decode()
    assert text.startswith('---\nAIGC: \'{"AIGC":{"Label":"1"')
    assert "title: 新品\n---\n[AI-generated]\n# 新品上市" in text
    _assert_trusted(result, anchors)
    _assert_implicit_label(result)
    assert check_explicit_label(result.data, MediaType.MARKDOWN).found


def test_glb_label_extension_and_sidecar(
    stamper: Stamper, make_request: MakeRequest, glb_bytes: bytes, anchors: str
) -> None:
    import pygltflib
    import trimesh

    result = stamper.stamp(make_request(glb_bytes, MediaType.GLB))

    _assert_trusted(result, anchors)
    _assert_implicit_label(result)
    assert check_explicit_label(result.data, MediaType.GLB).found
    gltf = pygltflib.GLTF2.load_from_bytes(result.data)
    assert "KHR_xmp_json_ld" in gltf.extensionsUsed
    assert gltf.asset.extras["AIGC"] == result.implicit_label
    packet = gltf.extensions["KHR_xmp_json_ld"]["packets"][0]
    assert packet["TC260:AIGC"] == result.implicit_label
    assert gltf.scenes[gltf.scene].name.startswith("AI生成")
    scene = trimesh.load_scene(io.BytesIO(result.data), file_type="glb")
    assert len(scene.geometry) == 1
    assert (
        read_c2pa(
            flip_byte(result.data, len(result.data) - 8),
            MediaType.GLB,
            result.manifest_bytes,
            anchors,
        ).state
        is C2paState.INVALID
    )


def test_review_assertion_records_the_human_decision(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes, anchors: str
) -> None:
    review = ReviewSummary("reviewer-42", "approve", datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG, review=review))

    reading = read_c2pa(result.data, result.media_type, None, anchors)
    assert reading.manifest["assertions"][REVIEW_ASSERTION] == {
        "reviewed": True,
        "reviewer_id": "reviewer-42",
        "decision": "approve",
        "decided_at": "2026-11-23T09:30:00+00:00",
        "reason_code": None,
        "reviewers": ["reviewer-42"],
        "edited": False,
    }


def test_a_reviewers_edit_is_an_action_by_a_person(
    stamper: Stamper, make_request: MakeRequest, anchors: str
) -> None:
    review = ReviewSummary(
        "reviewer-42", "approve", datetime(2026, 11, 23, 9, 30, tzinfo=UTC), edited=True
    )
    result = stamper.stamp(make_request("保温效果出色。".encode(), MediaType.TEXT, review=review))

    reading = read_c2pa(result.data, MediaType.TEXT, result.manifest_bytes, anchors)
    assert reading.state is C2paState.TRUSTED
    actions = reading.manifest["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.edited"]
    assert actions[1]["digitalSourceType"].endswith("/humanEdits")
    assert actions[1]["parameters"]["org.aigc-gateway.reviewer"] == "reviewer-42"
    assert reading.manifest["assertions"][REVIEW_ASSERTION]["edited"] is True


def test_disabled_steps_are_recorded(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes, anchors: str
) -> None:
    options = StampOptions(disabled_steps=frozenset({StepName.EXPLICIT_LABEL, StepName.WATERMARK}))
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG, options=options))

    label_step = result.step(StepName.EXPLICIT_LABEL)
    assert label_step is not None
    assert not label_step.applied
    assert label_step.detail == "disabled by policy"
    assert result.watermark_id is None
    assert result.watermark_reason == "watermark step disabled by policy"
    assert not check_explicit_label(result.data, result.media_type).found
    assert read_c2pa(result.data, result.media_type, None, anchors).state is C2paState.TRUSTED


def test_watermark_id_derived_from_the_artifact_when_not_given(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes, anchors: str
) -> None:
    from provenance.steps.watermark import derive_watermark_id

    result = stamper.stamp(make_request(png_bytes, MediaType.PNG, watermark_id=None))

    expected = derive_watermark_id(ARTIFACT_ID, 64)
    assert result.watermark_id == expected
    assert read_c2pa(result.data, result.media_type, None, anchors).soft_binding_ids == (expected,)
    assert derive_watermark_id("gen_other", 48) < 2**48


def test_text_without_sidecar_reads_absent(anchors: str) -> None:
    reading = read_c2pa(b"plain words", MediaType.TEXT, None, anchors)
    assert reading.state is C2paState.ABSENT
    assert not reading.present


def test_sidecar_of_another_artifact_is_invalid(
    stamper: Stamper, make_request: MakeRequest, anchors: str
) -> None:
    first = stamper.stamp(make_request("第一篇".encode(), MediaType.TEXT))
    second = stamper.stamp(make_request("第二篇".encode(), MediaType.TEXT))

    assert first.manifest_bytes is not None
    reading = read_c2pa(second.data, MediaType.TEXT, first.manifest_bytes, anchors)
    assert reading.state is C2paState.INVALID
    assert any("mismatch" in code for code in reading.validation_status)


def test_stored_manifest_reads_on_its_own_for_recovery(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes, anchors: str
) -> None:
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))
    assert result.manifest_bytes is not None
    assert result.manifest_hash is not None

    reading = read_manifest_store(result.manifest_bytes, anchors)
    assert reading.state is C2paState.TRUSTED
    assert "assertion.dataHash.mismatch" in reading.validation_status
    assert reading.manifest_label == result.manifest_label
    assert reading.soft_binding_ids == (WATERMARK_ID,)
    assert read_manifest_store(result.manifest_bytes, None).state is C2paState.VALID
    # Rewrite the moderation assertion's policy name: its hashed URI no longer matches.
    forged = flip_byte(result.manifest_bytes, result.manifest_bytes.index(b"cn-marketing"))
    assert read_manifest_store(forged, anchors).state is C2paState.INVALID


def test_one_stamper_serves_concurrent_requests(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes, anchors: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def stamp_one(index: int) -> C2paState:
        result = stamper.stamp(make_request(png_bytes, MediaType.PNG, artifact_id=f"gen_{index}"))
        return read_c2pa(result.data, result.media_type, None, anchors).state

    with ThreadPoolExecutor(max_workers=4) as pool:
        states = list(pool.map(stamp_one, range(8)))
    assert states == [C2paState.TRUSTED] * 8


def test_undeclared_type_is_sniffed(
    stamper: Stamper, make_request: MakeRequest, glb_bytes: bytes
) -> None:
    result = stamper.stamp(make_request(glb_bytes, None))
    assert result.media_type is MediaType.GLB


def test_result_helpers_for_the_gateway(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes
) -> None:
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))

    fields = result.implicit_label_fields
    assert fields is not None
    assert fields["ProduceID"] == ARTIFACT_ID
    steps = [step.as_dict() for step in result.steps]
    assert steps[0]["name"] == "explicit_label"
    assert json.dumps(steps)  # JSON-ready


def test_read_signals_bundles_every_reading(
    stamper: Stamper,
    make_request: MakeRequest,
    png_bytes: bytes,
    anchors: str,
    watermarker: FakeWatermarker,
) -> None:
    from provenance.media import OpenedMedia, open_media
    from provenance.readback import read_signals

    def opened(data: bytes, declared: MediaType | None) -> OpenedMedia:
        return open_media(data, declared, max_bytes=64 << 20, max_image_pixels=40_000_000)

    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))

    signals = read_signals(
        result.data, opened(result.data, None), watermarker, trust_anchors_pem=anchors
    )
    assert signals.media_type is MediaType.PNG
    assert signals.c2pa.state is C2paState.TRUSTED
    assert signals.implicit_label is not None
    assert signals.implicit_label.reserved_code_ok is True
    assert signals.explicit_label.found
    assert signals.watermark is not None
    assert signals.watermark.watermark_id == WATERMARK_ID
    bare = read_signals(
        png_bytes, opened(png_bytes, MediaType.PNG), None, trust_anchors_pem=anchors
    )
    assert bare.c2pa.state is C2paState.ABSENT
    assert bare.implicit_label is not None
    assert not bare.implicit_label.found
    assert bare.watermark is None  # no watermarker to ask


def test_read_signals_of_text_and_downscaled_images(
    stamper: Stamper, make_request: MakeRequest, png_bytes: bytes, anchors: str
) -> None:
    from provenance.media import open_media
    from provenance.readback import read_signals

    text = b"plain words, no label"
    media = open_media(text, None, max_bytes=1 << 20, max_image_pixels=1 << 20)
    assert read_signals(text, media, None).implicit_label is None  # its label travels apart
    assert read_signals(text, media, None).c2pa.state is C2paState.ABSENT  # no sidecar
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))
    reduced = open_media(
        result.data, None, max_bytes=64 << 20, max_image_pixels=40_000_000, reduce_to_side_px=32
    )
    signals = read_signals(result.data, reduced, None, trust_anchors_pem=anchors)
    assert signals.implicit_label is not None
    assert signals.implicit_label.reserved_code_ok is True  # checked at full size
