"""The stamper with the project's real image watermarker (``provenance/watermark/``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.types import MediaType
from provenance.interface import C2paState, StampOptions, StampRequest
from provenance.keys import KeyProvider
from provenance.readback import read_c2pa, read_watermark
from provenance.settings import ProvenanceSettings
from provenance.stamper import build_stamper
from tests.provenance.conftest import WATERMARK_ID, encode, gradient_image


@pytest.mark.parametrize("output", [MediaType.PNG, MediaType.JPEG])
def test_real_watermark_survives_the_whole_chain(
    settings: ProvenanceSettings,
    key_provider: KeyProvider,
    anchors: str,
    make_request: Callable[..., StampRequest],
    output: MediaType,
) -> None:
    watermark = pytest.importorskip(
        "provenance.watermark", reason="the image watermark package is not in this checkout"
    )
    if not hasattr(watermark, "build_watermarker"):
        pytest.skip("provenance.watermark has no build_watermarker yet")
    watermarker = watermark.build_watermarker(key=b"test-key-for-the-stamper-tests!!")
    watermark_id = WATERMARK_ID & ((1 << watermarker.id_bits) - 1)
    source = encode(gradient_image(512, 512), "PNG")
    stamper = build_stamper(settings, watermarker, key_provider)

    result = stamper.stamp(
        make_request(
            source,
            MediaType.PNG,
            watermark_id=watermark_id,
            options=StampOptions(output_media_type=output),
        )
    )

    assert result.watermark_id == watermark_id
    assert read_watermark(result.data, output, watermarker).watermark_id == watermark_id
    reading = read_c2pa(result.data, output, None, anchors)
    assert reading.state is C2paState.TRUSTED
    assert reading.soft_binding_ids == (watermark_id,)
