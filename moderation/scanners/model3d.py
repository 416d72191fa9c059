"""What a binary glTF (GLB) 3D asset carries that moderation can judge: its text and textures.

A GLB holds names, descriptions and copyright strings in its JSON chunk and embeds its
texture images (PNG/JPEG) in the binary chunk or as ``data:`` URIs. The engine runs the
text scanners on the strings and the image scanners on every texture, and decides once::

    content = extract_glb_content(glb_bytes)     # NotAModelError (415) if it is not GLB 2.0
    content.text                                 # "Chair\\nWood\\n© Example" (one string per line)
    content.images                               # (b"\\x89PNG...", ...)

Parsing follows the glTF 2.0 specification §4.4 (GLB file format): a 12-byte header
(magic ``glTF``, version 2, length) and chunks of (length, type, data), JSON first.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from common.jsonsafe import json_depth_exceeds
from moderation.interface import NotAModelError

__all__ = ["GlbContent", "extract_glb_content"]

_MAGIC = b"glTF"
_JSON_CHUNK = 0x4E4F534A  # "JSON" chunk type, glTF 2.0 §4.4 (GLB file format)
_BIN_CHUNK = 0x004E4942  # "BIN\0"
# JSON keys whose string values are human-readable content (names, descriptions, legal).
_TEXT_KEYS = frozenset({"name", "generator", "copyright", "title", "description", "author"})
_MAX_STRINGS = 10_000


@dataclass(frozen=True, slots=True)
class GlbContent:
    text: str
    images: tuple[bytes, ...]


def extract_glb_content(data: bytes) -> GlbContent:
    document, binary = _chunks(data)
    strings = list(_readable_strings(document))[:_MAX_STRINGS]
    images = tuple(_embedded_images(document, binary))
    return GlbContent(text="\n".join(dict.fromkeys(strings)), images=images)


def _chunks(data: bytes) -> tuple[dict[str, Any], bytes]:
    if len(data) < 20 or data[:4] != _MAGIC:
        raise NotAModelError("the content is not a binary glTF (GLB) file")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2 or length > len(data):
        raise NotAModelError(f"unsupported or truncated GLB (version {version})")
    document: dict[str, Any] | None = None
    binary = b""
    offset = 12
    while offset + 8 <= length:
        chunk_length, chunk_type = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8 : offset + 8 + chunk_length]
        if chunk_type == _JSON_CHUNK and document is None:
            document = _json(chunk)
        elif chunk_type == _BIN_CHUNK and not binary:
            binary = chunk
        offset += 8 + chunk_length
    if document is None:
        raise NotAModelError("the GLB file has no JSON chunk")
    return document, binary


def _json(chunk: bytes) -> dict[str, Any]:
    if json_depth_exceeds(chunk):
        raise NotAModelError("the GLB JSON chunk nests too deeply")
    try:
        document = json.loads(chunk.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAModelError("the GLB JSON chunk is not valid JSON") from exc
    if not isinstance(document, dict):
        raise NotAModelError("the GLB JSON chunk is not an object")
    return document


def _readable_strings(value: Any, key: str | None = None) -> Iterator[str]:
    if isinstance(value, dict):
        for child_key, child in value.items():
            yield from _readable_strings(child, str(child_key))
    elif isinstance(value, list):
        for item in value:
            yield from _readable_strings(item, key)
    elif isinstance(value, str) and key in _TEXT_KEYS and value.strip():
        yield value.strip()


def _embedded_images(document: dict[str, Any], binary: bytes) -> Iterator[bytes]:
    views = document.get("bufferViews", [])
    for image in document.get("images", []):
        if not isinstance(image, dict):
            continue
        if isinstance(image.get("bufferView"), int) and image["bufferView"] < len(views):
            view = views[image["bufferView"]]
            start = int(view.get("byteOffset", 0))
            yield binary[start : start + int(view.get("byteLength", 0))]
        elif isinstance(image.get("uri"), str) and image["uri"].startswith("data:"):
            yield _data_uri_bytes(image["uri"])


def _data_uri_bytes(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise NotAModelError("a GLB image data URI is not base64")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise NotAModelError("a GLB image data URI is not valid base64") from exc
