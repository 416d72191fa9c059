"""Bad input is refused with a clear 4xx before anything is decoded or written."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable

import pytest

from common.errors import GatewayError
from common.types import MediaType
from provenance.glb import parse_glb, serialize_glb
from provenance.interface import (
    InvalidMediaError,
    MediaTooLargeError,
    StampRequest,
    UnsupportedMediaError,
)
from provenance.media import open_media, sniff_media_type
from provenance.stamper import Stamper
from tests.provenance.conftest import encode, gradient_image

LIMITS = {"max_bytes": 1 << 20, "max_image_pixels": 4_000_000}


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A 100-byte PNG declaring width × height pixels of one zlib-compressed row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("PNG", MediaType.PNG), ("JPEG", MediaType.JPEG), ("WEBP", MediaType.WEBP)],
)
def test_sniffs_images(fmt: str, expected: MediaType) -> None:
    assert sniff_media_type(encode(gradient_image(64, 64), fmt)) is expected


def test_sniffs_glb_and_text(glb_bytes: bytes) -> None:
    assert sniff_media_type(glb_bytes) is MediaType.GLB
    assert sniff_media_type("# 标题".encode()) is MediaType.TEXT
    assert sniff_media_type(b"GIF89a\x01\x00") is None


def test_markdown_declared_for_text_bytes_is_markdown() -> None:
    media = open_media(b"# title\n", MediaType.MARKDOWN, **LIMITS)
    assert media.media_type is MediaType.MARKDOWN
    assert media.text == "# title\n"


def test_truncated_png_is_invalid(png_bytes: bytes) -> None:
    with pytest.raises(InvalidMediaError, match="truncated or corrupt"):
        open_media(png_bytes[: len(png_bytes) // 2], MediaType.PNG, **LIMITS)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = bomb_png()
    assert len(bomb) < 200
    with pytest.raises(MediaTooLargeError) as caught:
        open_media(bomb, MediaType.PNG, **LIMITS)
    assert caught.value.http_status == 413


def test_image_over_the_configured_pixel_limit_is_refused() -> None:
    with pytest.raises(MediaTooLargeError, match="exceeds"):
        open_media(bomb_png(3000, 3000), MediaType.PNG, **LIMITS)


def test_corrupt_jpeg_header_is_invalid(jpeg_bytes: bytes) -> None:
    corrupt = jpeg_bytes[:3] + b"\x00" * 60 + jpeg_bytes[63:]
    with pytest.raises(InvalidMediaError) as caught:
        open_media(corrupt, MediaType.JPEG, **LIMITS)
    assert caught.value.http_status == 422


def test_glb_with_broken_chunk_length_is_invalid(glb_bytes: bytes) -> None:
    broken = bytearray(glb_bytes)
    struct.pack_into("<I", broken, 12, 0xFFFF_FFF0)  # JSON chunk length beyond the file
    with pytest.raises(InvalidMediaError, match="broken length"):
        open_media(bytes(broken), MediaType.GLB, **LIMITS)


def test_glb_with_short_bin_chunk_is_invalid(glb_bytes: bytes) -> None:
    doc = parse_glb(glb_bytes)
    assert doc.bin_chunk is not None
    doc.bin_chunk = doc.bin_chunk[:8]
    with pytest.raises(InvalidMediaError, match="BIN chunk"):
        parse_glb(serialize_glb(doc))


def test_glb_with_wrong_declared_length_is_invalid(glb_bytes: bytes) -> None:
    with pytest.raises(InvalidMediaError, match="declares"):
        parse_glb(glb_bytes + b"\x00\x00\x00\x00")


def test_glb_with_non_json_chunk_is_invalid(glb_bytes: bytes) -> None:
    doc = parse_glb(glb_bytes)
    data = serialize_glb(doc)
    json_len = struct.unpack_from("<I", data, 12)[0]
    garbage = data[:20] + b"\xff" * json_len + data[20 + json_len :]
    with pytest.raises(InvalidMediaError, match="JSON"):
        parse_glb(garbage)


@pytest.mark.parametrize(
    ("declared", "fixture"),
    [
        (MediaType.JPEG, "png_bytes"),
        (MediaType.PNG, "jpeg_bytes"),
        (MediaType.GLB, "png_bytes"),
        (MediaType.TEXT, "glb_bytes"),
    ],
)
def test_declared_type_contradicting_the_bytes_is_415(
    declared: MediaType, fixture: str, request: pytest.FixtureRequest
) -> None:
    data: bytes = request.getfixturevalue(fixture)
    with pytest.raises(UnsupportedMediaError) as caught:
        open_media(data, declared, **LIMITS)
    assert caught.value.http_status == 415
    assert caught.value.details["declared"] == str(declared)


def test_unknown_binary_is_415() -> None:
    with pytest.raises(UnsupportedMediaError):
        open_media(b"GIF89a" + bytes(range(256)), None, **LIMITS)


def test_empty_and_oversized_input() -> None:
    with pytest.raises(InvalidMediaError):
        open_media(b"  \n", MediaType.TEXT, **LIMITS)
    with pytest.raises(MediaTooLargeError):
        open_media(b"a" * (LIMITS["max_bytes"] + 1), MediaType.TEXT, **LIMITS)


def test_gltf_json_file_is_not_glb() -> None:
    gltf_json = json.dumps({"asset": {"version": "2.0"}}).encode()
    with pytest.raises(UnsupportedMediaError):
        open_media(gltf_json, MediaType.GLB, **LIMITS)


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda png: png[: len(png) // 2],
        lambda png: bomb_png(),
        lambda png: b"GIF89a" + bytes(range(200)),
    ],
)
def test_stamper_refuses_bad_input_with_4xx_and_stays_usable(
    stamper: Stamper,
    make_request: Callable[..., StampRequest],
    png_bytes: bytes,
    make_bad: Callable[[bytes], bytes],
) -> None:
    with pytest.raises(GatewayError) as caught:
        stamper.stamp(make_request(make_bad(png_bytes), MediaType.PNG))
    assert 400 <= caught.value.http_status < 500
    assert stamper.stamp(make_request(png_bytes, MediaType.PNG)).manifest_label


def test_exif_orientation_is_applied_before_stamping() -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encode(gradient_image(80, 40), "JPEG", exif=exif.tobytes())
    media = open_media(data, MediaType.JPEG, **LIMITS)
    assert media.image is not None
    assert media.image.size == (40, 80)


def test_media_type_parse_accepts_names_extensions_and_parameters() -> None:
    assert MediaType.parse("image/png") is MediaType.PNG
    assert MediaType.parse("JPEG") is MediaType.JPEG
    assert MediaType.parse(".jpg") is MediaType.JPEG
    assert MediaType.parse("text/markdown; charset=utf-8") is MediaType.MARKDOWN
    assert MediaType.parse("model/gltf+binary") is MediaType.GLB
    assert MediaType.parse("application/octet-stream") is None
    assert MediaType.parse("image/gif") is None
    assert MediaType.parse(None) is None
    assert [t.suffix for t in MediaType] == [".png", ".jpg", ".webp", ".glb", ".txt", ".md"]
