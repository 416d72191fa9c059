"""Text normalisation for matching, with a map back to the original characters.

Evasions such as ``最 佳``, ``最\u200b佳``, full-width ``\uff26\uff35\uff23\uff2b`` or
``最佳產品`` must match the same entries as the plain text. Normalisation folds, per
character: NFKC (which also turns full-width forms into half-width), case folding,
traditional → simplified Chinese (zhconv's single-character table), and it drops
separators: white space, format characters (zero-width spaces and joiners),
punctuation and symbols. Digits and letters stay::

    folded = normalize("最 佳\u200b產品")
    folded.text                      # "最佳产品"
    folded.original_span(0, 2)       # (0, 3): "最 佳" in the original

The fold is one ``str.translate`` over a table built once per process, so it runs at
C speed; the index map back to the original is only computed when something matched.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache

__all__ = ["NormalizedText", "fold", "normalize"]

# Unicode general categories removed before matching: separators (Z*), controls and
# format characters such as U+200B ZERO WIDTH SPACE (C*), punctuation (P*), symbols (S*).
_DROPPED_CATEGORY_PREFIXES = ("Z", "C", "P", "S")
_BMP_END = 0x10000


@dataclass(frozen=True, slots=True)
class NormalizedText:
    original: str
    text: str
    _origins: list[int] = field(default_factory=list, repr=False, compare=False)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The [start, end) span of the original text that produced text[start:end]."""
        origins = self._origin_index()
        return origins[start], origins[end - 1] + 1

    def _origin_index(self) -> list[int]:
        if not self._origins:
            table = _fold_table()
            for index, char in enumerate(self.original):
                self._origins.extend([index] * len(char.translate(table)))
        return self._origins


def normalize(text: str) -> NormalizedText:
    return NormalizedText(original=text, text=text.translate(_fold_table()))


def fold(text: str) -> str:
    """The normalised form alone (for lexicon entries and exemption phrases)."""
    return text.translate(_fold_table())


@cache
def _fold_table() -> dict[int, str | None]:
    simplified = _traditional_to_simplified()
    table: dict[int, str | None] = {}
    for codepoint in range(_BMP_END):
        if 0xD800 <= codepoint <= 0xDFFF:  # surrogates are not characters
            continue
        char = chr(codepoint)
        folded = _fold_char(char, simplified)
        if folded != char:
            table[codepoint] = folded or None
    return table


def _fold_char(char: str, simplified: dict[str, str]) -> str:
    folded = unicodedata.normalize("NFKC", char).casefold()
    kept = (c for c in folded if not unicodedata.category(c).startswith(_DROPPED_CATEGORY_PREFIXES))
    return "".join(simplified.get(c, c) for c in kept)


def _traditional_to_simplified() -> dict[str, str]:
    """zhconv's zh-cn table restricted to one ideograph → one ideograph."""
    from zhconv import zhconv as zhconv_module

    table: dict[str, str] = zhconv_module.getdict("zh-cn")
    return {
        source: target
        for source, target in table.items()
        if len(source) == 1 and len(target) == 1 and unicodedata.category(source) == "Lo"
    }
