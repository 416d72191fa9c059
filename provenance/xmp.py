"""XMP packets carrying the GB 45438 label, and their place in PNG, JPEG and WebP files.

The packet holds ``TC260:AIGC`` (namespace ``http://www.tc260.org.cn/ns/AIGC/1.0/``)
and IPTC ``Iptc4xmpExt:DigitalSourceType`` = trainedAlgorithmicMedia. Insertion works on
the encoded bytes so that lossy pixels are never re-encoded::

    packet = build_xmp_packet(label_json)
    png = embed_xmp(png, MediaType.PNG, packet)
    assert read_tc260_labels(png, MediaType.PNG) == [label_json]
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from common.types import MediaType
from provenance.interface import InvalidMediaError

__all__ = [
    "IPTC_EXT_NS",
    "TC260_NS",
    "TRAINED_ALGORITHMIC_MEDIA",
    "build_xmp_packet",
    "embed_xmp",
    "extract_xmp_packets",
    "read_tc260_labels",
]

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
_JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_MAX_PACKET_BYTES = 1 << 20  # a reader must not inflate unbounded input


def build_xmp_packet(label_json: str) -> bytes:
    """One XMP packet (XMP Part 1 §7.3) with the TC260 label and the IPTC source type."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}" '
        f'xmlns:Iptc4xmpExt="{IPTC_EXT_NS}">'
        f"<TC260:AIGC>{escape(label_json)}</TC260:AIGC>"
        f"<Iptc4xmpExt:DigitalSourceType>{TRAINED_ALGORITHMIC_MEDIA}"
        "</Iptc4xmpExt:DigitalSourceType>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def embed_xmp(data: bytes, media_type: MediaType, packet: bytes) -> bytes:
    """``data`` with ``packet`` added; the file must not carry XMP already."""
    if media_type is MediaType.PNG:
        return _png_with_xmp(data, packet)
    if media_type is MediaType.JPEG:
        return _jpeg_with_xmp(data, packet)
    if media_type is MediaType.WEBP:
        return _webp_with_xmp(data, packet)
    raise ValueError(f"XMP embedding is not defined for {media_type}")


def extract_xmp_packets(data: bytes, media_type: MediaType) -> list[bytes]:
    """Every XMP packet in the file (normally zero or one)."""
    try:
        if media_type is MediaType.PNG:
            return list(_png_xmp_packets(data))
        if media_type is MediaType.JPEG:
            return list(_jpeg_xmp_packets(data))
        if media_type is MediaType.WEBP:
            return [body for tag, body in _riff_chunks(data) if tag == b"XMP "]
    except (struct.error, zlib.error, IndexError) as exc:
        raise InvalidMediaError(f"cannot walk the {media_type} structure") from exc
    return []


def read_tc260_labels(data: bytes, media_type: MediaType) -> list[str]:
    """The text of every ``TC260:AIGC`` element in the file's XMP."""
    labels: list[str] = []
    for packet in extract_xmp_packets(data, media_type):
        labels.extend(_tc260_values(packet))
    return labels


def _tc260_values(packet: bytes) -> list[str]:
    if len(packet) > _MAX_PACKET_BYTES:
        return []
    try:
        root = ElementTree.fromstring(packet)
    except ElementTree.ParseError:
        return []
    # The value may be an element (as we write it) or an rdf:Description attribute.
    values = [el.text or "" for el in root.iter(f"{{{TC260_NS}}}AIGC")]
    for el in root.iter():
        value = el.attrib.get(f"{{{TC260_NS}}}AIGC")
        if value is not None:
            values.append(value)
    return values


# --- PNG (PNG spec §11.3.3.4 iTXt; XMP Part 3 §1.1.5) ------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png_with_xmp(data: bytes, packet: bytes) -> bytes:
    # iTXt: keyword NUL, compression flag 0 (XMP must stay uncompressed), method 0,
    # empty language tag NUL, empty translated keyword NUL, text.
    body = _PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature + IHDR chunk
    return data[:ihdr_end] + _png_chunk(b"iTXt", body) + data[ihdr_end:]


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    offset = 8
    while offset + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        yield kind, data[offset + 8 : offset + 8 + length]
        if kind == b"IEND":
            return
        offset += 12 + length


def _png_xmp_packets(data: bytes) -> Iterator[bytes]:
    for kind, body in _png_chunks(data):
        if kind != b"iTXt" or not body.startswith(_PNG_XMP_KEYWORD + b"\x00"):
            continue
        rest = body[len(_PNG_XMP_KEYWORD) + 1 :]
        compressed = rest[0] == 1
        # skip flag, method, then the two NUL-terminated strings
        text = rest[2:].split(b"\x00", 2)[2]
        packet = _bounded_inflate(text) if compressed else text
        if packet is not None:
            yield packet


def _bounded_inflate(data: bytes) -> bytes | None:
    # A zlib bomb in an iTXt chunk must not take the verifier down with it.
    inflater = zlib.decompressobj()
    packet = inflater.decompress(data, _MAX_PACKET_BYTES)
    return None if inflater.unconsumed_tail else packet


# --- JPEG (ISO 10918-1 §B.2; XMP Part 3 §1.1.3 APP1) -----------------------------------


def _jpeg_with_xmp(data: bytes, packet: bytes) -> bytes:
    payload = _JPEG_XMP_HEADER + packet
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("XMP packet too large for one APP1 segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    insert_at = 2
    # Keep JFIF APP0 first (JFIF §10.1), then our APP1.
    if data[2:4] == b"\xff\xe0":
        insert_at = 4 + struct.unpack_from(">H", data, 4)[0]
    return data[:insert_at] + segment + data[insert_at:]


def _jpeg_xmp_packets(data: bytes) -> Iterator[bytes]:
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker == 0xDA:  # start of scan: no more metadata segments
            return
        (length,) = struct.unpack_from(">H", data, offset + 2)
        body = data[offset + 4 : offset + 2 + length]
        if marker == 0xE1 and body.startswith(_JPEG_XMP_HEADER):
            yield body[len(_JPEG_XMP_HEADER) :]
        offset += 2 + length


# --- WebP (RFC 9649 §2.7: extended format, VP8X flags, "XMP " chunk last) ---------------


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    offset = 12
    while offset + 8 <= len(data):
        tag = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        yield tag, data[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size & 1)


def _riff_chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _webp_with_xmp(data: bytes, packet: bytes) -> bytes:
    chunks = list(_riff_chunks(data))
    if chunks[0][0] != b"VP8X":
        chunks.insert(0, (b"VP8X", _vp8x_for(chunks)))
    flags = chunks[0][1][0] | 0x04  # RFC 9649 §2.7.1: X (XMP metadata) flag
    chunks[0] = (b"VP8X", bytes([flags]) + chunks[0][1][1:])
    chunks.append((b"XMP ", packet))
    body = b"WEBP" + b"".join(_riff_chunk(tag, payload) for tag, payload in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _vp8x_for(chunks: list[tuple[bytes, bytes]]) -> bytes:
    width, height = _webp_canvas_size(chunks)
    has_alpha = any(tag == b"ALPH" for tag, _ in chunks) or _vp8l_has_alpha(chunks)
    flags = 0x10 if has_alpha else 0
    return (
        bytes([flags, 0, 0, 0])
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )


def _webp_canvas_size(chunks: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    tag, body = next((t, b) for t, b in chunks if t in (b"VP8 ", b"VP8L"))
    if tag == b"VP8 ":
        # RFC 6386 §9.1: 14-bit width and height after the 3-byte tag and start code.
        width, height = struct.unpack_from("<HH", body, 6)
        return width & 0x3FFF, height & 0x3FFF
    bits = int.from_bytes(body[1:5], "little")  # RFC 9649 §3.2 (VP8L header)
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def _vp8l_has_alpha(chunks: list[tuple[bytes, bytes]]) -> bool:
    body = next((b for t, b in chunks if t == b"VP8L"), None)
    return body is not None and bool((int.from_bytes(body[1:5], "little") >> 28) & 1)
