"""Lexicon matching on Aho-Corasick (pyahocorasick) after normalisation, with context rules.

Lists are versioned YAML files in ``moderation/lexicons/``, each naming its source and
licence. A file holds sections (category, score, terms) and the context rules that keep
legitimate uses out: exemption phrases (``最佳保质期``), followers that make a term an
ordinal (``第一次``), self-comparison cues (``比上一代``), titles in 《》, and cue words a
term needs nearby (``河南人`` only counts next to ``勿扰``/``不招``)::

    scanner = LexiconScanner("lexicon", [load_lexicon(path) for path in lexicon_paths(dir_)])
    scanner.scan("好评最 佳的选择")
    # [Finding("lexicon", "ad_law.absolute_term", 0.8, (2, 5), "最 佳")]

Spans refer to the original text, so ``最 佳`` with its space is what a reviewer sees.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moderation._yaml import LineDict, load_yaml, raise_at, with_lines
from moderation.interface import Finding, TenantLists
from moderation.normalize import NormalizedText, fold, normalize

__all__ = [
    "Lexicon",
    "LexiconEntry",
    "LexiconMatcher",
    "LexiconScanner",
    "lexicon_paths",
    "lexicons_version",
    "load_lexicon",
    "tenant_lexicon",
]

# Self-comparison cues are looked for in this many normalised characters before a term.
_SELF_COMPARISON_WINDOW = 12
# Titles whose content is a name, not a claim (SAMR 2023 guide: product and work names).
_TITLE_PATTERN = re.compile(r"《[^《》]{0,60}》|「[^「」]{0,60}」|『[^『』]{0,60}』")
_ASCII_WORD = re.compile(r"[0-9a-z]+")
_ExemptSpan = tuple[int, int, frozenset[str]]


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    term: str  # as written in the list
    category: str
    score: float
    word_bounded: bool = False  # ASCII terms must not sit inside a longer word
    exempt_followers: tuple[str, ...] = ()  # folded; "第一" + "次" is an ordinal
    required_cues: tuple[str, ...] = ()  # folded; at least one within cue_window
    cue_window: int = 0  # characters allowed between a term and its cue
    self_comparison_cues: tuple[str, ...] = ()  # folded
    exempt_in_titles: bool = False  # also exempt inside tenant product names
    lexicon: str = ""  # the list it came from; its exemption phrases apply to it


@dataclass(frozen=True, slots=True)
class Lexicon:
    name: str
    version: str
    source: str
    license: str
    entries: tuple[LexiconEntry, ...]
    exempt_phrases: tuple[str, ...] = ()  # exempt this lexicon's own entries
    # Registered product names: entries marked exempt_in_titles are exempt inside them.
    product_names: tuple[str, ...] = ()


# Exemption scope of product names, as opposed to a lexicon's own name.
_PRODUCT_NAMES = "\x00product_names"


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int  # in the normalised text
    end: int
    entry: LexiconEntry


def lexicon_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_lexicon(path: Path) -> Lexicon:
    data = load_yaml(path)
    if not isinstance(data, LineDict):
        raise_at(path, 1, "a lexicon file must be a mapping")
    cue_lists = _string_lists(path, data, "cue_lists")
    name = _required_str(path, data, "name")
    sections = data.get("sections")
    if not isinstance(sections, list) or not sections:
        raise_at(path, data.line_of("sections"), "'sections' must be a non-empty list")
    entries = tuple(
        entry
        for section, line in with_lines(sections, data.line_of("sections"))
        for entry in _section_entries(path, section, line, cue_lists, name)
    )
    return Lexicon(
        name=name,
        version=_required_str(path, data, "version"),
        source=_required_str(path, data, "source"),
        license=_required_str(path, data, "license"),
        entries=entries,
        exempt_phrases=tuple(_str_list(path, data, "exempt_phrases")),
    )


def lexicons_version(lexicons: Sequence[Lexicon]) -> str:
    return ",".join(f"{lexicon.name}@{lexicon.version}" for lexicon in lexicons)


def tenant_lexicon(lists: TenantLists) -> Lexicon:
    """A tenant's brand lists as a lexicon; product names become exemption phrases."""
    banned = (_entry(term, "brand.banned_term", 1.0, "tenant") for term in lists.banned_terms)
    competitors = (
        _entry(term, "brand.competitor", 0.8, "tenant") for term in lists.competitor_names
    )
    return Lexicon(
        name="tenant",
        version=_content_hash(lists),
        source="tenant brand lists",
        license="tenant-owned",
        entries=(*banned, *competitors),
        product_names=lists.product_names,
    )


class LexiconMatcher:
    """One Aho-Corasick automaton over every entry and exemption phrase of some lexicons."""

    def __init__(self, lexicons: Iterable[Lexicon]) -> None:
        import ahocorasick

        keyed: dict[str, list[LexiconEntry]] = {}
        exempt: dict[str, set[str]] = {}  # folded phrase -> scopes it exempts
        for lexicon in lexicons:
            for entry in lexicon.entries:
                keyed.setdefault(fold(entry.term), []).append(entry)
            for phrase in lexicon.exempt_phrases:
                exempt.setdefault(fold(phrase), set()).add(lexicon.name)
            for phrase in lexicon.product_names:
                exempt.setdefault(fold(phrase), set()).add(_PRODUCT_NAMES)
        automaton = ahocorasick.Automaton()
        for key in keyed.keys() | exempt.keys():
            if key:
                value = (len(key), tuple(keyed.get(key, ())), frozenset(exempt.get(key, ())))
                automaton.add_word(key, value)
        self._empty = len(automaton) == 0
        if not self._empty:
            automaton.make_automaton()
        self._automaton = automaton

    def find(self, text: str, scanner: str) -> list[Finding]:
        if self._empty or not text:
            return []
        normalized = normalize(text)
        hits, exempt_spans = self._raw_hits(normalized.text)
        if not hits:
            return []
        context = _TextContext(normalized, exempt_spans)
        kept = [hit for hit in hits if not _exempt(hit, context)]
        return [_finding(hit, normalized, scanner) for hit in _merged_per_category(kept)]

    def _raw_hits(self, folded: str) -> tuple[list[_Hit], list[_ExemptSpan]]:
        hits: list[_Hit] = []
        exempt_spans: list[_ExemptSpan] = []
        for last, (length, entries, scopes) in self._automaton.iter(folded):
            start, end = last - length + 1, last + 1
            if scopes:
                exempt_spans.append((start, end, scopes))
            hits.extend(_Hit(start, end, entry) for entry in entries)
        return hits, exempt_spans


class LexiconScanner:
    """The ``lexicon`` scanner: shipped lists, optionally plus one tenant's brand lists."""

    def __init__(self, name: str, lexicons: Sequence[Lexicon]) -> None:
        self.name = name
        self.lexicons = tuple(lexicons)
        self.version = lexicons_version(self.lexicons)
        self._matcher = LexiconMatcher(self.lexicons)

    def scan(self, text: str) -> list[Finding]:
        return self._matcher.find(text, self.name)

    def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        return [self._matcher.find(text, self.name) for text in texts]


class _TextContext:
    """What the exemption checks need about one text, indexed so that each hit costs O(1)."""

    def __init__(self, normalized: NormalizedText, exempt_spans: list[_ExemptSpan]) -> None:
        self.normalized = normalized
        self._exempt_ends: dict[int, list[tuple[int, frozenset[str]]]] = {}
        for start, end, scopes in exempt_spans:
            self._exempt_ends.setdefault(start, []).append((end, scopes))
        self._longest_exempt = max((end - start for start, end, _ in exempt_spans), default=0)
        self._title_spans: list[tuple[int, int]] | None = None

    def covered_by_exemption(self, hit: _Hit) -> bool:
        first_start = max(0, hit.start - self._longest_exempt)
        return any(
            hit.end <= end and _in_scope(hit.entry, scopes)
            for start in range(first_start, hit.start + 1)
            for end, scopes in self._exempt_ends.get(start, ())
        )

    def inside_title(self, span: tuple[int, int]) -> bool:
        if self._title_spans is None:
            original = self.normalized.original
            self._title_spans = [match.span() for match in _TITLE_PATTERN.finditer(original)]
        # Titles do not overlap: only the last one starting before the span can hold it.
        index = bisect.bisect_left(self._title_spans, (span[0], 0)) - 1
        if index < 0:
            return False
        start, end = self._title_spans[index]
        return start < span[0] and span[1] < end


def _exempt(hit: _Hit, context: _TextContext) -> bool:
    entry, normalized = hit.entry, context.normalized
    folded = normalized.text
    if context.covered_by_exemption(hit):
        return True
    if any(folded.startswith(follower, hit.end) for follower in entry.exempt_followers):
        return True
    if entry.required_cues and not _cue_nearby(hit, folded):
        return True
    before = folded[max(0, hit.start - _SELF_COMPARISON_WINDOW) : hit.start]
    if any(cue in before for cue in entry.self_comparison_cues):
        return True
    span = normalized.original_span(hit.start, hit.end)
    if entry.word_bounded and not _on_word_boundaries(normalized.original, span):
        return True
    return entry.exempt_in_titles and context.inside_title(span)


def _in_scope(entry: LexiconEntry, scopes: frozenset[str]) -> bool:
    return entry.lexicon in scopes or (entry.exempt_in_titles and _PRODUCT_NAMES in scopes)


def _cue_nearby(hit: _Hit, folded: str) -> bool:
    """A cue ends at most ``cue_window`` characters before the term or starts as far after."""
    gap = hit.entry.cue_window
    return any(
        cue in folded[max(0, hit.start - gap - len(cue)) : hit.start]
        or cue in folded[hit.end : hit.end + gap + len(cue)]
        for cue in hit.entry.required_cues
    )


def _on_word_boundaries(original: str, span: tuple[int, int]) -> bool:
    start, end = span
    before = original[start - 1] if start > 0 else " "
    after = original[end] if end < len(original) else " "
    return not (_is_ascii_word_char(before) or _is_ascii_word_char(after))


def _is_ascii_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _merged_per_category(hits: list[_Hit]) -> list[_Hit]:
    """Overlapping hits of one category merge into one span (全网最 + 最好 → 全网最好)."""
    merged: dict[str, list[_Hit]] = {}
    for hit in sorted(hits, key=lambda hit: (hit.start, -hit.end)):
        same = merged.setdefault(hit.entry.category, [])
        last = same[-1] if same else None
        if last is not None and hit.start < last.end:
            entry = last.entry if last.entry.score >= hit.entry.score else hit.entry
            same[-1] = _Hit(last.start, max(last.end, hit.end), entry)
        else:
            same.append(hit)
    return sorted((hit for same in merged.values() for hit in same), key=lambda h: h.start)


def _finding(hit: _Hit, normalized: NormalizedText, scanner: str) -> Finding:
    start, end = normalized.original_span(hit.start, hit.end)
    return Finding(
        scanner=scanner,
        category=hit.entry.category,
        score=hit.entry.score,
        span=(start, end),
        evidence=normalized.original[start:end],
    )


def _content_hash(lists: TenantLists) -> str:
    content = json.dumps(
        [lists.banned_terms, lists.competitor_names, lists.product_names], ensure_ascii=False
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]


def _entry(term: str, category: str, score: float, lexicon: str, **rules: Any) -> LexiconEntry:
    return LexiconEntry(
        term=term,
        category=category,
        score=score,
        lexicon=lexicon,
        word_bounded=_ASCII_WORD.fullmatch(fold(term)) is not None,
        **rules,
    )


def _section_entries(
    path: Path, section: Any, line: int, cue_lists: dict[str, list[str]], lexicon: str
) -> list[LexiconEntry]:
    if not isinstance(section, LineDict):
        raise_at(path, line, "each section must be a mapping")
    category = _required_str(path, section, "category")
    score = section.get("score")
    if not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
        raise_at(path, section.line_of("score"), "'score' must be a number in 0..1")
    rules = {
        "exempt_followers": tuple(fold(f) for f in _str_list(path, section, "exempt_followers")),
        "required_cues": _named_cues(path, section, "requires_nearby", cue_lists),
        "cue_window": int(section.get("window", 0)),
        "self_comparison_cues": _named_cues(path, section, "self_comparison_cues", cue_lists),
        "exempt_in_titles": bool(section.get("exempt_in_titles", False)),
    }
    terms = _str_list(path, section, "terms")
    if not terms:
        raise_at(path, section.line_of("terms"), f"section {category!r} has no terms")
    return [_entry(term, category, float(score), lexicon, **rules) for term in terms]


def _named_cues(
    path: Path, section: LineDict, key: str, cue_lists: dict[str, list[str]]
) -> tuple[str, ...]:
    name = section.get(key)
    if name is None:
        return ()
    if name not in cue_lists:
        raise_at(path, section.line_of(key), f"unknown cue list {name!r}")
    return tuple(fold(cue) for cue in cue_lists[name])


def _string_lists(path: Path, data: LineDict, key: str) -> dict[str, list[str]]:
    value = data.get(key, LineDict())
    if not isinstance(value, LineDict):
        raise_at(path, data.line_of(key), f"{key!r} must be a mapping of name to list")
    return {name: _str_list(path, value, name) for name in value}


def _str_list(path: Path, data: LineDict, key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise_at(path, data.line_of(key), f"{key!r} must be a list of strings")
    return value


def _required_str(path: Path, data: LineDict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise_at(path, data.line_of(key), f"{key!r} must be a non-empty string")
    return value
