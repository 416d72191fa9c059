"""A strict reader and writer for binary glTF 2.0 (GLB) containers.

Only the container is parsed — the 12-byte header, the JSON chunk and the optional BIN
chunk — which is all the stamper needs to edit ``asset``, ``scenes``, ``nodes`` and
``extensions`` while leaving the geometry bytes untouched::

    doc = parse_glb(data)
    doc.gltf["asset"]["extras"] = {"AIGC": "..."}
    data = serialize_glb(doc)
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from common.jsonsafe import json_depth_exceeds
from provenance.interface import InvalidMediaError

__all__ = ["GLB_MAGIC", "GlbDocument", "parse_glb", "serialize_glb"]

# glTF 2.0 §4.4.2: header magic "glTF", version 2, chunk types "JSON" and "BIN\0".
GLB_MAGIC = b"glTF"
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942
_HEADER = struct.Struct("<4sII")
_CHUNK_HEADER = struct.Struct("<II")


@dataclass(slots=True)
class GlbDocument:
    gltf: dict[str, Any]
    bin_chunk: bytes | None


def parse_glb(data: bytes) -> GlbDocument:
    """Parse and check a GLB; any inconsistency is an :class:`InvalidMediaError`."""
    if len(data) < _HEADER.size + _CHUNK_HEADER.size:
        raise InvalidMediaError("GLB is shorter than its header")
    magic, version, length = _HEADER.unpack_from(data, 0)
    if magic != GLB_MAGIC or version != 2:
        raise InvalidMediaError("not a glTF 2.0 binary container")
    if length != len(data):
        raise InvalidMediaError(f"GLB header declares {length} bytes, got {len(data)}")
    chunks = list(_iter_chunks(data))
    if not chunks or chunks[0][0] != _CHUNK_JSON:
        raise InvalidMediaError("GLB must start with a JSON chunk")
    gltf = _decode_json_chunk(chunks[0][1])
    bin_chunk = next((body for kind, body in chunks[1:] if kind == _CHUNK_BIN), None)
    _check_buffers(gltf, bin_chunk)
    return GlbDocument(gltf=gltf, bin_chunk=bin_chunk)


def serialize_glb(doc: GlbDocument) -> bytes:
    """Write the container back; JSON padded with spaces and BIN with zeros (§4.4.3)."""
    json_body = _pad(json.dumps(doc.gltf, ensure_ascii=False, separators=(",", ":")).encode(), b" ")
    parts = [_CHUNK_HEADER.pack(len(json_body), _CHUNK_JSON), json_body]
    if doc.bin_chunk is not None:
        bin_body = _pad(doc.bin_chunk, b"\x00")
        parts += [_CHUNK_HEADER.pack(len(bin_body), _CHUNK_BIN), bin_body]
    body = b"".join(parts)
    return _HEADER.pack(GLB_MAGIC, 2, _HEADER.size + len(body)) + body


def _iter_chunks(data: bytes) -> list[tuple[int, bytes]]:
    chunks: list[tuple[int, bytes]] = []
    offset = _HEADER.size
    while offset < len(data):
        if offset + _CHUNK_HEADER.size > len(data):
            raise InvalidMediaError(f"GLB chunk header at byte {offset} is truncated")
        chunk_length, chunk_type = _CHUNK_HEADER.unpack_from(data, offset)
        start = offset + _CHUNK_HEADER.size
        if chunk_length % 4 or start + chunk_length > len(data):
            raise InvalidMediaError(f"GLB chunk at byte {offset} has a broken length")
        chunks.append((chunk_type, data[start : start + chunk_length]))
        offset = start + chunk_length
    return chunks


def _decode_json_chunk(body: bytes) -> dict[str, Any]:
    if json_depth_exceeds(body):
        raise InvalidMediaError("GLB JSON chunk nests too deeply")
    try:
        gltf = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidMediaError("GLB JSON chunk is not valid UTF-8 JSON") from exc
    if not isinstance(gltf, dict) or not isinstance(gltf.get("asset"), dict):
        raise InvalidMediaError("GLB JSON chunk has no glTF 'asset' object")
    return gltf


def _check_buffers(gltf: dict[str, Any], bin_chunk: bytes | None) -> None:
    # glTF 2.0 §5.10: the first buffer without a uri refers to the BIN chunk.
    for buffer in gltf.get("buffers", []):
        if not isinstance(buffer, dict) or "uri" in buffer:
            continue
        declared = buffer.get("byteLength")
        if not isinstance(declared, int) or bin_chunk is None or declared > len(bin_chunk):
            raise InvalidMediaError("GLB buffer is longer than its BIN chunk")
        break


def _pad(body: bytes, filler: bytes) -> bytes:
    return body + filler * (-len(body) % 4)
