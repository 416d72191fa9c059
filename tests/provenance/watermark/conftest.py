"""Images and a keyed watermarker shared by the watermark tests (module-scoped: fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from provenance.watermark import build_watermarker
from provenance.watermark.interface import ImageWatermarker

KEY = b"test-key-0123456789abcdef0123456"
WATERMARK_ID = 0xA1B2_C3D4_E5F6


def sample_photo(name: str) -> Image.Image:
    """A real photo bundled in scikit-image's wheel (no download)."""
    import skimage

    with Image.open(Path(skimage.__file__).parent / "data" / name) as image:
        return image.convert("RGB")


@pytest.fixture(scope="session")
def watermarker() -> ImageWatermarker:
    return build_watermarker("tiled-ss", key=KEY)


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A non-square 1024 x 683 photo (coffee, upscaled as a generator would output)."""
    return sample_photo("coffee.png").resize((1024, 683), Image.Resampling.LANCZOS)


@pytest.fixture(scope="session")
def marked_photo(watermarker: ImageWatermarker, photo: Image.Image) -> Image.Image:
    return watermarker.embed(photo, WATERMARK_ID)
