"""Explicit (visible) labels: the wording, text placement and the image mark.

GB 45438 / Measures Art. 4: the label has an AI element and a generation element
("AI生成" / "AI-generated"), sits at an edge or corner and its glyph height is at least
5 % of the image's shorter side (secondary source, STANDARDS.md). The mark is white text
on a translucent dark box so it reads on light and dark images alike::

    labelled, geometry = draw_image_label(image, Language.ZH, Corner.BOTTOM_RIGHT)
    geometry.cap_height_px >= 0.05 * min(image.size)
    add_text_label("新品上市", Language.ZH, TextLabelPosition.END)  # "新品上市\n【AI生成】"
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import ConfigurationError
from common.types import Language
from provenance.interface import (
    Corner,
    ExplicitLabelReading,
    TextLabelPosition,
)

if TYPE_CHECKING:
    from PIL import Image, ImageFont

__all__ = [
    "IMAGE_LABELS",
    "TEXT_LABELS",
    "LabelGeometry",
    "add_text_label",
    "check_image_label",
    "check_text_label",
    "default_font_path",
    "draw_image_label",
    "label_geometry",
]

TEXT_LABELS = {Language.ZH: "【AI生成】", Language.EN: "[AI-generated]"}
IMAGE_LABELS = {Language.ZH: "AI生成", Language.EN: "AI-generated"}
DEFAULT_HEIGHT_FRACTION = 0.06
_MIN_CAP_HEIGHT_PX = 6
_BOX_RGBA = (0, 0, 0, 200)  # white on ≤ 22 % of the background: legible on white
_TEXT_RGBA = (255, 255, 255, 255)
_NOTO_CJK_SC_INDEX = 2  # RECIPES: face 2 of the collection is Simplified Chinese


@dataclass(frozen=True, slots=True)
class LabelGeometry:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in image pixels
    baseline_origin: tuple[int, int]  # where the text's left baseline sits
    font_size_px: int
    cap_height_px: int  # measured ink height of "AI" — the glyph height we guarantee


def default_font_path() -> Path:
    import manimgx_fonts_cjk

    return Path(manimgx_fonts_cjk.__file__).parent / "NotoSansCJK-VF.otf.ttc"


# --- text -------------------------------------------------------------------------------


def add_text_label(text: str, language: Language, position: TextLabelPosition) -> str:
    label = TEXT_LABELS[language]
    if position is TextLabelPosition.START:
        return f"{label}\n{text}"
    return f"{text.rstrip(chr(10))}\n{label}\n"


def check_text_label(text: str) -> ExplicitLabelReading:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    edges = {lines[0], lines[-1]} if lines else set()
    hits = [lang for lang, label in TEXT_LABELS.items() if label in edges]
    if hits:
        return ExplicitLabelReading(True, "text_match", f"{hits[0]} label at start or end")
    return ExplicitLabelReading(False, "text_match", "no label line at start or end")


# --- image ------------------------------------------------------------------------------


def label_geometry(
    size_px: tuple[int, int],
    language: Language,
    corner: Corner,
    height_fraction: float = DEFAULT_HEIGHT_FRACTION,
    font_path: Path | None = None,
) -> LabelGeometry:
    """Where the mark goes and how big it is, for an image of ``size_px``."""
    width, height = size_px
    shorter = min(width, height)
    target_cap = max(math.ceil(height_fraction * shorter), _MIN_CAP_HEIGHT_PX)
    font_size, cap = _font_size_for_cap(target_cap, font_path)
    left, top, right, bottom = _font(font_size, font_path).getbbox(
        IMAGE_LABELS[language], anchor="ls"
    )
    pad = max(round(0.35 * cap), 2)
    margin = max(round(0.02 * shorter), 1)
    box_w = int(right - left) + 2 * pad
    box_h = int(bottom - top) + 2 * pad
    x0 = margin if corner in (Corner.TOP_LEFT, Corner.BOTTOM_LEFT) else width - margin - box_w
    y0 = margin if corner in (Corner.TOP_LEFT, Corner.TOP_RIGHT) else height - margin - box_h
    x0, y0 = max(x0, 0), max(y0, 0)
    origin = (x0 + pad - int(left), y0 + pad - int(top))
    return LabelGeometry((x0, y0, x0 + box_w, y0 + box_h), origin, font_size, cap)


def draw_image_label(
    image: Image.Image,
    language: Language,
    corner: Corner,
    height_fraction: float = DEFAULT_HEIGHT_FRACTION,
    font_path: Path | None = None,
) -> tuple[Image.Image, LabelGeometry]:
    """A copy of ``image`` with the mark composited into ``corner``."""
    from PIL import Image, ImageDraw

    geometry = label_geometry(image.size, language, corner, height_fraction, font_path)
    x0, y0, x1, y1 = geometry.box
    # Composite only the box region: a full-size overlay costs ~10x more at 2048².
    region = image.crop((x0, y0, x1, y1)).convert("RGBA")
    overlay = Image.new("RGBA", region.size, _BOX_RGBA)
    draw = ImageDraw.Draw(overlay)
    origin = (geometry.baseline_origin[0] - x0, geometry.baseline_origin[1] - y0)
    font = _font(geometry.font_size_px, font_path)
    draw.text(origin, IMAGE_LABELS[language], font=font, fill=_TEXT_RGBA, anchor="ls")
    composed = Image.alpha_composite(region, overlay)
    result = image.copy()
    result.paste(composed.convert(image.mode), (x0, y0))
    return result, geometry


def check_image_label(
    image: Image.Image,
    height_fraction: float = DEFAULT_HEIGHT_FRACTION,
    font_path: Path | None = None,
) -> ExplicitLabelReading:
    """Best effort: look for our mark where we would have put it (no OCR).

    Works on the image as released; after resizing or cropping it reports not found.
    """
    gray = image.convert("L")
    for corner in Corner:
        for language in Language:
            geometry = label_geometry(image.size, language, corner, height_fraction, font_path)
            if _box_looks_labelled(gray, geometry):
                return ExplicitLabelReading(
                    True, "image_corner_contrast", f"{language} mark at {corner}"
                )
    return ExplicitLabelReading(False, "image_corner_contrast", "no mark at any corner")


def _box_looks_labelled(gray: Image.Image, geometry: LabelGeometry) -> bool:
    box = gray.crop(geometry.box)
    histogram = box.histogram()
    total = max(sum(histogram), 1)
    bright = sum(histogram[230:]) / total  # the white glyphs
    dark = sum(histogram[:100]) / total  # the box: at most 1/3 of the background's light
    return bright > 0.05 and dark > 0.4


def _font_size_for_cap(target_cap_px: int, font_path: Path | None) -> tuple[int, int]:
    size = max(math.ceil(target_cap_px / 0.7), 4)
    for _ in range(20):
        cap = _cap_height(size, font_path)
        if cap >= target_cap_px:
            return size, cap
        size += max(1, (target_cap_px - cap) // 2)
    raise ConfigurationError("the label font cannot reach the required glyph height")


def _cap_height(size: int, font_path: Path | None) -> int:
    _, top, _, bottom = _font(size, font_path).getbbox("AI", anchor="ls")
    return int(bottom - top)


@functools.lru_cache(maxsize=64)
def _font(size: int, font_path: Path | None) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    if font_path is not None:
        return ImageFont.truetype(str(font_path), size)
    font = ImageFont.truetype(str(default_font_path()), size, index=_NOTO_CJK_SC_INDEX)
    font.set_variation_by_name("Bold")
    return font
