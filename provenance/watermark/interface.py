"""What the stamper and the verifier need from an invisible image watermark.

marked = watermarker.embed(image, watermark_id=0x1234_5678_9ABC)
reading = watermarker.detect(marked)
assert reading.watermark_id == 0x1234_5678_9ABC
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from common.errors import ConfigurationError, InvalidInputError

__all__ = [
    "ImageTooSmallError",
    "ImageWatermarker",
    "UnknownWatermarkerError",
    "WatermarkReading",
]


class ImageTooSmallError(InvalidInputError):
    """The image cannot carry the watermark; the stamper records this as the reason."""

    code = "image_too_small_for_watermark"


class UnknownWatermarkerError(ConfigurationError):
    """The configured watermarker name is not registered, or its key is unusable."""

    code = "unknown_watermarker"


@dataclass(frozen=True, slots=True)
class WatermarkReading:
    present: bool
    watermark_id: int | None  # None unless the check value verified
    confidence: float  # 0..1
    bit_accuracy: float | None = None  # against the decoded codeword, when known


class ImageWatermarker(Protocol):
    name: str
    id_bits: int  # payload size; at least 48

    def embed(self, image: Image.Image, watermark_id: int) -> Image.Image: ...

    def detect(self, image: Image.Image) -> WatermarkReading: ...
