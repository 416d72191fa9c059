"""Image watermarker registry: configured name → factory.

    marker = build_watermarker("tiled-ss", key=secret)
    build_watermarker("nope", key=secret)  # UnknownWatermarkerError: ... known: fake, tiled-ss

``tiled-ss`` is the production watermark (``provenance.watermark.tiled``); ``fake`` is the
LSB fake of ``provenance.fake`` for other packages' tests.
"""

from __future__ import annotations

from collections.abc import Callable

from provenance.watermark.interface import ImageWatermarker, UnknownWatermarkerError
from provenance.watermark.settings import WatermarkSettings

__all__ = ["WATERMARKERS", "build_watermarker"]

# A PSNR in dB as the RMS of an additive luminance residual: PSNR = 20 log10(255 / RMS).
_PEAK = 255.0


def _tiled(settings: WatermarkSettings, key: bytes) -> ImageWatermarker:
    from provenance.watermark.tiled import TiledWatermarker, TiledWatermarkParams

    params = TiledWatermarkParams(
        target_rms=_PEAK / 10 ** (settings.target_psnr_db / 20), informed=settings.informed
    )
    return TiledWatermarker(key=key, params=params)


def _fake(settings: WatermarkSettings, key: bytes) -> ImageWatermarker:
    from provenance.fake import FakeWatermarker

    return FakeWatermarker()


WATERMARKERS: dict[str, Callable[[WatermarkSettings, bytes], ImageWatermarker]] = {
    "fake": _fake,
    "tiled-ss": _tiled,
}


def build_watermarker(
    name: str = "tiled-ss", *, key: bytes, settings: WatermarkSettings | None = None
) -> ImageWatermarker:
    """The watermarker registered as ``name``, keyed with the gateway's secret ``key``."""
    factory = WATERMARKERS.get(name)
    if factory is None:
        known = ", ".join(sorted(WATERMARKERS))
        raise UnknownWatermarkerError(f"unknown image watermarker {name!r}; known: {known}")
    if len(key) < 16:
        raise UnknownWatermarkerError("the image watermark key needs at least 16 bytes")
    return factory(settings or WatermarkSettings(), key)
