"""A fake image watermarker for tests: really embeds, really detects, not robust at all.

It writes a 16-bit magic, the 64-bit id and a 16-bit check value into the least
significant bit of the blue channel of the first 96 pixels (row-major). It survives
lossless PNG round trips and nothing else — enough to test the stamper and read-back
without the real watermarker (``provenance/watermark/``)::

    marker = FakeWatermarker()
    marked = marker.embed(image, 0x1234_5678_9ABC)
    assert marker.detect(marked).watermark_id == 0x1234_5678_9ABC
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from provenance.watermark.interface import ImageTooSmallError, WatermarkReading

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["FakeWatermarker"]

_MAGIC = 0xA16C
_TOTAL_BITS = 16 + 64 + 16


class FakeWatermarker:
    name = "fake-lsb"
    id_bits = 64

    def __init__(self, min_side_px: int = 256) -> None:
        self.min_side_px = min_side_px
        self.embedded: list[int] = []  # ids embedded so far, for assertions in tests

    def embed(self, image: Image.Image, watermark_id: int) -> Image.Image:
        if min(image.size) < self.min_side_px:
            raise ImageTooSmallError(f"image below {self.min_side_px} px on a side")
        marked = image.convert("RGB")
        pixels = marked.load()
        assert pixels is not None
        for index, bit in enumerate(_payload_bits(watermark_id)):
            x, y = index % marked.width, index // marked.width
            r, g, b = pixels[x, y]  # type: ignore[misc]  # RGB pixel access yields a tuple
            pixels[x, y] = (r, g, (b & ~1) | bit)
        self.embedded.append(watermark_id)
        return marked

    def detect(self, image: Image.Image) -> WatermarkReading:
        rgb = image.convert("RGB")
        if rgb.width * rgb.height < _TOTAL_BITS:
            return WatermarkReading(present=False, watermark_id=None, confidence=0.0)
        pixels = rgb.load()
        assert pixels is not None
        bits = [
            pixels[i % rgb.width, i // rgb.width][2] & 1  # type: ignore[index]  # RGB tuple
            for i in range(_TOTAL_BITS)
        ]
        value = int("".join(map(str, bits)), 2)
        magic, watermark_id, check = value >> 80, (value >> 16) & (2**64 - 1), value & 0xFFFF
        if magic != _MAGIC or check != _check_value(watermark_id):
            return WatermarkReading(present=False, watermark_id=None, confidence=0.0)
        return WatermarkReading(
            present=True, watermark_id=watermark_id, confidence=1.0, bit_accuracy=1.0
        )


def _check_value(watermark_id: int) -> int:
    return int.from_bytes(hashlib.sha256(watermark_id.to_bytes(8, "big")).digest()[:2], "big")


def _payload_bits(watermark_id: int) -> list[int]:
    value = (_MAGIC << 80) | (watermark_id << 16) | _check_value(watermark_id)
    return [int(c) for c in format(value, f"0{_TOTAL_BITS}b")]
