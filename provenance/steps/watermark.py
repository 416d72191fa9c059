"""Step ``watermark``: the invisible image watermark carrying the request's watermark id.

The watermarker is a plugin (``provenance.watermark.interface.ImageWatermarker``) handed
to the stamper; images smaller than ``watermark_min_side_px`` on either side keep every
other stamp and get a recorded reason instead::

    step = WatermarkStep(watermarker, min_side_px=256)
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from provenance.interface import StampingError, StepName
from provenance.steps.base import StampWork, StepOutcome, StepPhase
from provenance.watermark.interface import ImageTooSmallError, ImageWatermarker

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["WatermarkStep", "derive_watermark_id"]


class WatermarkStep:
    name = StepName.WATERMARK
    phase = StepPhase.PIXELS

    def __init__(self, watermarker: ImageWatermarker | None, min_side_px: int) -> None:
        self._watermarker = watermarker
        self._min_side_px = min_side_px

    def apply(self, work: StampWork) -> StepOutcome:
        if not work.is_image:
            return self._not_embedded(work, f"no image watermark for {work.media_type}")
        if self._watermarker is None:
            return self._not_embedded(work, "no image watermarker configured")
        image = work.require_image()
        if min(image.size) < self._min_side_px:
            return self._not_embedded(
                work, f"image {image.width}x{image.height} is below {self._min_side_px} px"
            )
        id_bits = self._watermarker.id_bits
        watermark_id = work.request.watermark_id
        if watermark_id is None:
            watermark_id = derive_watermark_id(work.request.artifact_id, id_bits)
        self._check_id(watermark_id, id_bits)
        try:
            work.image = _embed_keeping_alpha(self._watermarker, image, watermark_id)
        except ImageTooSmallError as exc:
            return self._not_embedded(work, exc.message)
        work.watermark_id, work.watermark_reason = watermark_id, None
        return StepOutcome.done(
            f"{self._watermarker.name}: id {watermark_id:#x} ({self._watermarker.id_bits} bits)"
        )

    @staticmethod
    def _not_embedded(work: StampWork, reason: str) -> StepOutcome:
        work.watermark_id, work.watermark_reason = None, reason
        return StepOutcome.skipped(reason)

    @staticmethod
    def _check_id(watermark_id: int, id_bits: int) -> None:
        if not 0 <= watermark_id < 1 << id_bits:
            raise StampingError(f"watermark id does not fit in {id_bits} bits")


def derive_watermark_id(artifact_id: str, id_bits: int) -> int:
    """A stable id from the artifact id: the top ``id_bits`` of SHA-256.

    Collisions become likely after about 2^(id_bits/2) artifacts (16 M at 48 bits); a
    deployment at that scale should pass ids allocated by its database instead.
    """
    digest = hashlib.sha256(b"aigc-gateway/watermark-id\n" + artifact_id.encode()).digest()
    return int.from_bytes(digest, "big") >> (256 - id_bits)


def _embed_keeping_alpha(
    watermarker: ImageWatermarker, image: Image.Image, watermark_id: int
) -> Image.Image:
    if image.mode != "RGBA":
        return watermarker.embed(image, watermark_id)
    alpha = image.getchannel("A")
    marked = watermarker.embed(image.convert("RGB"), watermark_id).convert("RGBA")
    marked.putalpha(alpha)
    return marked
