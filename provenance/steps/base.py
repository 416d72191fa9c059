"""The contract between the stamper and its steps, and the work item they share.

A step is one object with a ``name``, a ``phase`` and ``apply(work)``; it mutates the
:class:`StampWork` and says what it did. Phases enforce the only safe order: pixels
(label, watermark) before metadata, metadata before the C2PA signature whose hard
binding covers the final bytes::

    class Noop:
        name = StepName.EXPLICIT_LABEL
        phase = StepPhase.PIXELS
        def apply(self, work: StampWork) -> StepOutcome:
            return StepOutcome.skipped("nothing to do")
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from common.types import MediaType
from provenance.glb import GlbDocument, serialize_glb
from provenance.interface import StampingError, StampRequest, StepName
from provenance.media import IMAGE_TYPES
from provenance.settings import ProvenanceSettings

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["StampStep", "StampWork", "StepOutcome", "StepPhase"]


class StepPhase(IntEnum):
    PIXELS = 1
    METADATA = 2
    SIGNING = 3


@dataclass(frozen=True, slots=True)
class StepOutcome:
    applied: bool
    detail: str

    @classmethod
    def done(cls, detail: str) -> StepOutcome:
        return cls(True, detail)

    @classmethod
    def skipped(cls, reason: str) -> StepOutcome:
        return cls(False, reason)


class StampStep(Protocol):
    name: StepName
    phase: StepPhase

    def apply(self, work: StampWork) -> StepOutcome: ...


@dataclass(slots=True)
class StampWork:
    """One artifact on its way through the steps; exactly one of the payloads is set."""

    request: StampRequest
    settings: ProvenanceSettings
    media_type: MediaType  # the output type
    image: Image.Image | None = None
    text: str | None = None
    glb: GlbDocument | None = None
    # Set once the image is encoded; pixel steps may no longer run after that.
    encoded: bytes | None = None
    watermark_id: int | None = None
    watermark_reason: str | None = "watermark step not run"
    implicit_label: str | None = None
    manifest_bytes: bytes | None = None
    manifest_label: str | None = None
    manifest_embedded: bool = False

    @property
    def is_image(self) -> bool:
        return self.media_type in IMAGE_TYPES

    def require_image(self) -> Image.Image:
        if self.image is None:
            raise StampingError("no image to work on")
        if self.encoded is not None:
            raise StampingError("a pixel step ran after the image was encoded")
        return self.image

    def require_text(self) -> str:
        if self.text is None:
            raise StampingError("no text to work on")
        return self.text

    def require_glb(self) -> GlbDocument:
        if self.glb is None:
            raise StampingError("no GLB to work on")
        return self.glb

    def image_bytes(self) -> bytes:
        """Encode the pixels once, without metadata; later steps edit these bytes."""
        if self.encoded is None:
            self.encoded = encode_image(self.require_image(), self.media_type, self.settings)
        return self.encoded

    def output_bytes(self) -> bytes:
        if self.is_image:
            return self.image_bytes()
        if self.media_type is MediaType.GLB:
            return serialize_glb(self.require_glb())
        return self.require_text().encode("utf-8")


def encode_image(image: Image.Image, media_type: MediaType, settings: ProvenanceSettings) -> bytes:
    if media_type is MediaType.PNG:
        return _encode_png(image, settings.png_compress_level)
    buffer = io.BytesIO()
    if media_type is MediaType.JPEG:
        image.convert("RGB").save(buffer, "JPEG", quality=settings.jpeg_quality)
    elif media_type is MediaType.WEBP:
        image.save(buffer, "WEBP", quality=settings.webp_quality)
    else:
        raise StampingError(f"cannot encode an image as {media_type}")
    return buffer.getvalue()


def _encode_png(image: Image.Image, compress_level: int) -> bytes:
    # OpenCV's libpng path is 2-3x faster than Pillow's encoder at the same zlib level
    # (measured at 1024²: ~80 ms vs ~190 ms) and lossless all the same. Z_RLE: "almost as
    # fast as Z_HUFFMAN_ONLY, but better compression for PNG image data" (zlib manual).
    import cv2
    import numpy as np

    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    pixels = np.asarray(image)
    conversion = cv2.COLOR_RGBA2BGRA if image.mode == "RGBA" else cv2.COLOR_RGB2BGR
    ok, buffer = cv2.imencode(
        ".png",
        cv2.cvtColor(pixels, conversion),
        [
            cv2.IMWRITE_PNG_COMPRESSION,
            compress_level,
            cv2.IMWRITE_PNG_STRATEGY,
            cv2.IMWRITE_PNG_STRATEGY_RLE,
        ],
    )
    if not ok:
        raise StampingError("PNG encoding failed")
    return bytes(buffer.tobytes())
