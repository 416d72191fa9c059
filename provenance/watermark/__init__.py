"""Invisible image watermarks: a 48-bit id that survives re-encoding, resizing and crops.

The stamper embeds, the verifier detects; both get the watermarker from the registry,
keyed with the gateway's secret (see ``docs/watermark.md`` for the design and numbers)::

    from provenance.watermark import build_watermarker

    marker = build_watermarker("tiled-ss", key=secret_32_bytes)
    marked = marker.embed(image, watermark_id=0x1234_5678_9ABC)
    reading = marker.detect(marked)  # WatermarkReading(present, watermark_id, confidence)
"""

from __future__ import annotations

from provenance.watermark.interface import (
    ImageTooSmallError,
    ImageWatermarker,
    UnknownWatermarkerError,
    WatermarkReading,
)
from provenance.watermark.registry import WATERMARKERS, build_watermarker
from provenance.watermark.settings import WatermarkSettings

__all__ = [
    "WATERMARKERS",
    "ImageTooSmallError",
    "ImageWatermarker",
    "UnknownWatermarkerError",
    "WatermarkReading",
    "WatermarkSettings",
    "build_watermarker",
]
