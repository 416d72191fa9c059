"""Building watermarkers by name, with the gateway's key and settings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from provenance.watermark import (
    UnknownWatermarkerError,
    WatermarkSettings,
    build_watermarker,
)
from tests.provenance.watermark.conftest import KEY, WATERMARK_ID


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownWatermarkerError, match="known: fake, tiled-ss") as caught:
        build_watermarker("dwtDct", key=KEY)
    assert caught.value.http_status == 500


def test_short_keys_are_refused() -> None:
    with pytest.raises(UnknownWatermarkerError, match="16 bytes"):
        build_watermarker("tiled-ss", key=b"short")


def test_settings_reject_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        WatermarkSettings.model_validate({"strength": 3})


def test_the_default_is_the_tiled_watermark() -> None:
    marker = build_watermarker(key=KEY)
    assert marker.name == "tiled-ss"
    assert marker.id_bits == 48


def test_the_fake_embeds_and_detects() -> None:
    marker = build_watermarker("fake", key=KEY)
    marked = marker.embed(Image.new("RGB", (300, 300), "gray"), WATERMARK_ID)
    assert marker.detect(marked).watermark_id == WATERMARK_ID


@pytest.mark.parametrize("target_psnr_db", [36.0, 44.0])
def test_target_psnr_sets_the_strength(photo: Image.Image, target_psnr_db: float) -> None:
    settings = WatermarkSettings(target_psnr_db=target_psnr_db)
    marker = build_watermarker("tiled-ss", key=KEY, settings=settings)
    marked = marker.embed(photo, WATERMARK_ID)
    error = np.asarray(marked, dtype=np.float64) - np.asarray(photo, dtype=np.float64)
    measured = 10 * np.log10(255.0**2 / np.mean(error**2))
    # Rounding to 8 bits adds a little noise; clipping removes a little.
    assert measured == pytest.approx(target_psnr_db, abs=0.5)
    assert marker.detect(marked).watermark_id == WATERMARK_ID
