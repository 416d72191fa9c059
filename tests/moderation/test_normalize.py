"""Normalisation folds evasions and maps spans back to the original text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from moderation.normalize import fold, normalize


def test_separators_zero_width_full_width_case_and_traditional_fold_away() -> None:
    assert fold("最 佳") == "最佳"
    assert fold("最\u200b佳") == "最佳"
    assert fold("最\u200d*佳") == "最佳"
    assert fold("\uff26\uff35\uff23\uff2b") == "fuck"
    assert fold("FuCk") == "fuck"
    assert fold("最佳產品") == "最佳产品"
    assert fold("頂級") == "顶级"


def test_digits_and_letters_survive() -> None:
    assert fold("NO.1 第1") == "no1第1"


def test_original_span_covers_the_evasion() -> None:
    text = "全网最 佳\u200b產品"
    folded = normalize(text)
    start = folded.text.index("最佳")
    assert folded.original_span(start, start + 2) == (2, 5)
    assert text[2:5] == "最 佳"


@given(st.text(max_size=40))
def test_every_folded_character_maps_to_an_original_index(text: str) -> None:
    folded = normalize(text)
    for index in range(len(folded.text)):
        start, end = folded.original_span(index, index + 1)
        assert 0 <= start < end <= len(text)
