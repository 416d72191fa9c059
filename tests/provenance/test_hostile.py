"""Files crafted against the read-back helpers (they serve the public verify endpoint)."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from common.types import MediaType
from provenance.frontmatter import read_aigc_front_matter
from provenance.glb import GlbDocument, serialize_glb
from provenance.interface import InvalidMediaError
from provenance.media import open_media
from provenance.readback import check_explicit_label, read_implicit_label
from provenance.xmp import extract_xmp_packets
from tests.provenance.conftest import encode, gradient_image

LIMITS = {"max_bytes": 1 << 24, "max_image_pixels": 4_000_000}


def _png_with_chunk(kind: bytes, body: bytes) -> bytes:
    png = encode(gradient_image(32, 32), "PNG")
    chunk = struct.pack(">I", len(body)) + kind + body
    chunk += struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]


def test_compressed_xmp_bomb_is_ignored() -> None:
    bomb = zlib.compress(b"<" * (64 << 20), 9)  # 64 MiB of XML from ~64 KiB
    body = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb
    png = _png_with_chunk(b"iTXt", body)
    assert extract_xmp_packets(png, MediaType.PNG) == []
    with pytest.raises(InvalidMediaError):  # Pillow's own text-chunk limit refuses it too
        read_implicit_label(png, MediaType.PNG)


def test_yaml_alias_bomb_in_front_matter_is_not_expanded() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}]*9" for i in range(8)]
    text = "---\n" + "\n".join(lines) + "\n---\nbody\n"
    labels, body = read_aigc_front_matter(text)
    assert labels == []
    assert body == "body\n"


def test_front_matter_reads_double_quoted_and_duplicate_labels() -> None:
    label = '{"AIGC":{"Label":"1"}}'
    text = f"---\nAIGC: {json.dumps(label)}\nAIGC: '{label}'\n---\n"
    labels, _ = read_aigc_front_matter(text)
    assert labels == [label, label]
    reading = read_implicit_label(text.encode(), MediaType.MARKDOWN)
    assert reading.count == 2
    assert not reading.charset_ok  # only "Label" of the seven fields


def test_deeply_nested_glb_json_is_invalid_not_a_crash() -> None:
    nested = "[" * 100_000 + "]" * 100_000
    data = serialize_glb(GlbDocument(gltf={"asset": {"version": "2.0"}}, bin_chunk=None))
    body = ('{"asset":{"version":"2.0"},"x":' + nested + "}").encode()
    body += b" " * (-len(body) % 4)
    data = data[:12] + struct.pack("<II", len(body), 0x4E4F534A) + body
    data = data[:8] + struct.pack("<I", len(data)) + data[12:]
    with pytest.raises(InvalidMediaError):
        open_media(data, MediaType.GLB, **LIMITS)


@pytest.mark.parametrize(
    "gltf",
    [
        {"asset": {"version": "2.0", "extras": "AIGC"}},
        {"asset": {"version": "2.0"}, "extensions": {"KHR_xmp_json_ld": {"packets": {"0": 1}}}},
        {"asset": {"version": "2.0"}, "extensions": [], "scenes": {"name": 3}, "nodes": [7]},
    ],
)
def test_glb_with_odd_shapes_reads_as_unlabelled(gltf: dict[str, object]) -> None:
    data = serialize_glb(GlbDocument(gltf=gltf, bin_chunk=None))
    assert not read_implicit_label(data, MediaType.GLB).found
    assert not check_explicit_label(data, MediaType.GLB).found
