"""The default readers: ``provenance.readback`` bound to the gateway's anchors and keys.

The image watermarker and the text detector are optional; without them a file's
watermark is reported as not checked::

    readers = ProvenanceSignalReaders(anchors_pem, watermarker, GreenListTextDetector(dir, key))
    readers.read_signals(data, media, sidecar=None, response_label=None).c2pa.state
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from common.types import MediaType
from gateway.verification.interface import TextWatermarkDetector, TextWatermarkReading
from provenance.interface import C2paReading
from provenance.media import OpenedMedia
from provenance.readback import ProvenanceSignals, read_c2pa, read_manifest_store, read_signals
from provenance.text_watermark import detect_text_watermark_in_text
from provenance.watermark.interface import ImageWatermarker, WatermarkReading

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "GreenListTextDetector", "ProvenanceSignalReaders"]

log = logging.getLogger(__name__)

DEFAULT_MAX_IMAGE_PIXELS = 40_000_000


class ProvenanceSignalReaders:
    """``SignalReaders`` over ``provenance.readback`` with our trust anchors and keys."""

    def __init__(
        self,
        trust_anchors_pem: str | None,
        watermarker: ImageWatermarker | None,
        text_detector: TextWatermarkDetector | None = None,
        *,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        self.trust_anchors_pem = trust_anchors_pem or None
        self.watermarker = watermarker
        self.text_detector = text_detector
        self.max_image_pixels = max_image_pixels

    @property
    def watermark_id_bits(self) -> int | None:
        return None if self.watermarker is None else self.watermarker.id_bits

    def read_signals(
        self,
        data: bytes,
        media: OpenedMedia,
        *,
        sidecar: bytes | None,
        response_label: str | None,
    ) -> ProvenanceSignals:
        return read_signals(
            data,
            media,
            self.watermarker,
            sidecar=sidecar,
            trust_anchors_pem=self.trust_anchors_pem,
            response_label=response_label,
            max_image_pixels=self.max_image_pixels,
        )

    def read_c2pa(self, data: bytes, media_type: MediaType, sidecar: bytes | None) -> C2paReading:
        return read_c2pa(data, media_type, sidecar, trust_anchors_pem=self.trust_anchors_pem)

    def read_manifest_store(self, manifest_bytes: bytes) -> C2paReading:
        return read_manifest_store(manifest_bytes, self.trust_anchors_pem)

    def read_watermark(self, image: Image.Image) -> WatermarkReading | None:
        if self.watermarker is None:
            return None
        return self.watermarker.detect(image.convert("RGB"))

    def read_text_watermark(self, text: str) -> TextWatermarkReading | None:
        return None if self.text_detector is None else self.text_detector.detect(text)


class GreenListTextDetector:
    """``TextWatermarkDetector`` over ``provenance.text_watermark`` and the text model."""

    def __init__(self, tokenizer_dir: Path, key: int, min_chars: int = 20) -> None:
        self.tokenizer_dir = tokenizer_dir
        self.key = key
        self.min_chars = min_chars

    def detect(self, text: str) -> TextWatermarkReading | None:
        if len(text.strip()) < self.min_chars or not self.tokenizer_dir.is_dir():
            return None
        try:
            return detect_text_watermark_in_text(text, self.tokenizer_dir, self.key)
        except Exception:  # a best-effort signal: a broken model dir must not fail verify
            log.warning("text watermark detection failed", exc_info=True)
            return None
