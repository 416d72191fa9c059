"""Label geometry holds the GB 45438 5 % rule for any image size and corner."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from common.types import Language
from provenance.interface import Corner, TextLabelPosition
from provenance.labels import add_text_label, check_text_label, label_geometry


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(min_value=120, max_value=8000),
    height=st.integers(min_value=120, max_value=8000),
    corner=st.sampled_from(list(Corner)),
    language=st.sampled_from(list(Language)),
)
def test_glyphs_reach_five_percent_and_the_box_stays_inside(
    width: int, height: int, corner: Corner, language: Language
) -> None:
    geometry = label_geometry((width, height), language, corner)

    assert geometry.cap_height_px >= 0.05 * min(width, height)
    x0, y0, x1, y1 = geometry.box
    assert 0 <= x0 < x1 <= width
    assert 0 <= y0 < y1 <= height
    at_left = corner in (Corner.TOP_LEFT, Corner.BOTTOM_LEFT)
    at_top = corner in (Corner.TOP_LEFT, Corner.TOP_RIGHT)
    assert (x0 < width - x1) is at_left or x0 == width - x1
    assert (y0 < height - y1) is at_top or y0 == height - y1


@given(st.text(max_size=80), st.sampled_from(list(Language)))
def test_text_label_is_found_at_either_end(text: str, language: Language) -> None:
    for position in TextLabelPosition:
        assert check_text_label(add_text_label(text, language, position)).found


def test_text_without_label_is_not_found() -> None:
    assert not check_text_label("新品上市，AI生成的文案在中间也不算标识。\n第二行").found
