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
from difflib import SequenceMatcher
from itertools import pairwise

from review_ui.interface import FindingSource, ReviewFinding

__all__ = [
    "DiffPiece",
    "Segment",
    "Snippet",
    "segment_text",
    "snippet",
    "text_diff",
    "top_finding",
]


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


@dataclass(frozen=True, slots=True)
class Snippet:
    """A queue row's view of a text: the top finding's span with a little on each side."""

    before: str
    flagged: str
    after: str


def snippet(text: str | None, finding: ReviewFinding | None, context: int = 24) -> Snippet | None:
    """The flagged span of the output in context; the text's start without a span."""
    if not text:
        return None
    span = finding.span if finding is not None and finding.source is FindingSource.OUTPUT else None
    if span is None or not 0 <= span[0] < span[1] <= len(text):
        return Snippet(text[: 2 * context], "", "…" if len(text) > 2 * context else "")
    start, end = span
    lead = "…" if start > context else ""
    tail = "…" if end + context < len(text) else ""
    return Snippet(
        lead + text[max(0, start - context) : start],
        text[start:end],
        text[end : end + context] + tail,
    )


def top_finding(findings: Sequence[ReviewFinding]) -> ReviewFinding | None:
    """The finding a reviewer looks at first: the highest score (the first of equals)."""
    return max(findings, key=lambda finding: finding.score, default=None)


@dataclass(frozen=True, slots=True)
class DiffPiece:
    kind: str  # "same", "removed" or "added"
    text: str


def text_diff(original: str, edited: str) -> list[DiffPiece]:
    """What an edit changed, character by character (Chinese has no word breaks)."""
    pieces = []
    matcher = SequenceMatcher(None, original, edited, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(DiffPiece("same", original[a0:a1]))
            continue
        if a1 > a0:
            pieces.append(DiffPiece("removed", original[a0:a1]))
        if b1 > b0:
            pieces.append(DiffPiece("added", edited[b0:b1]))
    return pieces
