"""Cut a text into segments so that each finding's span can be marked and labelled.

Spans may overlap; the text is cut at every span boundary and each segment knows which
findings cover it and which end right after it (that is where a finding's label goes).
The template escapes every segment; nothing here produces markup::

    segments = segment_text("全网最佳", [(1, finding)])
    [(s.text, s.covering) for s in segments]   # [("全网", ()), ("最佳", (1,))] ...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from review_ui.interface import ReviewFinding

__all__ = ["Segment", "segment_text"]


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    covering: tuple[int, ...]  # numbers of the findings whose span covers this segment
    ending: tuple[int, ...]  # numbers of the findings whose span ends with this segment


def segment_text(text: str, numbered: Sequence[tuple[int, ReviewFinding]]) -> list[Segment]:
    """Segments of ``text`` for findings numbered by the caller (1-based in the UI)."""
    spans = [(n, f.span) for n, f in numbered if f.span and 0 <= f.span[0] < f.span[1]]
    spans = [(n, (start, min(end, len(text)))) for n, (start, end) in spans if start < len(text)]
    cuts = sorted({0, len(text), *(p for _, span in spans for p in span)})
    segments = []
    for start, end in pairwise(cuts):
        covering = tuple(n for n, (s, e) in spans if s <= start and end <= e)
        ending = tuple(n for n, (_, e) in spans if e == end and n in covering)
        segments.append(Segment(text[start:end], covering, ending))
    return segments
