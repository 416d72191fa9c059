"""Bias scanner: exclusionary and stereotyped phrasing, reported by protected attribute.

《生成式人工智能服务管理暂行办法》 Art. 4(2) forbids discrimination by ethnicity, belief,
country, region, gender, age, occupation or health; categories are ``bias.<attribute>``.
Three kinds of rule: the phrase lexicon ``lexicons/bias/bias.yaml`` (direct phrases, and
group words that count only beside an exclusion cue such as 勿扰), age limits in hiring
(``35岁以下``, ``under 35``), and English group exclusions (``no foreigners``)::

    BiasScanner.from_directory(lexicon_dir).scan("招聘店员, 35岁以下, 河南人勿扰")
    # [Finding("bias", "bias.age", 0.75, (6, 11), "35岁以下"),
    #  Finding("bias", "bias.region", 0.75, (13, 16), "河南人")]

A detoxify ``identity_attack`` score is a separate finding from the toxicity scanner.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from moderation.interface import Finding
from moderation.scanners.lexicon import (
    Lexicon,
    LexiconMatcher,
    lexicon_paths,
    lexicons_version,
    load_lexicon,
)

__all__ = ["BiasScanner"]

RULES_VERSION = "2026.11.2"  # the regular expressions below; bump when they change
_SCORE = 0.75
# Upper age limits of working age (not product age ratings such as 3岁以上).
_ZH_AGE_LIMIT = re.compile(
    r"(?:年龄\s*(?:要求|限制|限|在|须|需|不超过|不得超过|不高于)?\s*)?"
    r"(?:[2-5]\d|60)\s*(?:周?岁)\s*(?:以下|以内|之内|之下|及以下|以前|前)"
    r"|年龄\s*(?:不超过|不得超过|不高于|限)\s*(?:[2-5]\d|60)\s*周?岁?"
    r"|(?:[2-5]\d|60)\s*(?:周?岁)?\s*[-~\uff5e到至]\s*(?:[2-5]\d|60)\s*周?岁"
)
_EN_AGE_LIMIT = re.compile(
    r"\b(?:under|below|younger than|no older than|not older than|not over|aged? under|"
    r"aged? below|max(?:imum)? age(?: of)?)\s+(?:[2-5]\d|60)\b|\bage limit\b",
    re.IGNORECASE,
)
_HIRING_CUE = re.compile(
    r"招聘|招人|招募|诚聘|急聘|只招|仅招|限招|招收|岗位|职位|应聘|求职|入职|简历|员工|店员|面试|"
    r"hiring|hire|job|position|applicants?|candidates?|vacanc|recruit|role|employ|resume",
    re.IGNORECASE,
)
_EN_GROUPS = {
    "ethnicity": r"blacks|black people|whites|asians|hispanics|latinos|arabs",
    "belief": r"muslims|christians|jews|hindus|atheists|buddhists",
    "country": r"foreigners|immigrants|indians|africans|mexicans|chinese|non-natives",
    "gender": r"women|woman|females|girls|men|males|pregnant women|mothers|mums|moms",
    "age": r"older workers|over[- ]?(?:40|50)s|elderly|seniors|boomers|old people",
    "health": r"disabled(?: people)?|the disabled|wheelchair users|hiv[- ]positive|obese people",
    "occupation": r"farmers|migrant workers|cleaners|laborers|labourers|delivery drivers",
    "region": r"locals|outsiders|southerners|northerners|country folk",
}
_ANY_GROUP = "|".join(f"(?:{group})" for group in _EN_GROUPS.values())
# One pass for every attribute; the attribute is looked up only for a match (rare).
_EN_EXCLUSION = re.compile(
    r"\b(?:no|not hiring|never hire|don'?t hire|we do not hire|not for)"
    rf"\s+(?P<after>{_ANY_GROUP})\b(?!['\u2019]s)"
    rf"|\b(?P<before>{_ANY_GROUP})\s+(?:need not apply|are not welcome|not welcome|not allowed|"
    rf"should stay home|can'?t (?:lead|drive|code|manage))\b",
    re.IGNORECASE,
)
_GROUP_ATTRIBUTE = {
    attribute: re.compile(group, re.IGNORECASE) for attribute, group in _EN_GROUPS.items()
}
_ASCII_LETTER = re.compile(r"[A-Za-z]")


class BiasScanner:
    """The ``bias`` scanner."""

    name = "bias"

    def __init__(self, lexicons: Sequence[Lexicon]) -> None:
        self._matcher = LexiconMatcher(lexicons)
        self.version = f"{lexicons_version(lexicons)},rules@{RULES_VERSION}"

    @classmethod
    def from_directory(cls, directory: Path) -> BiasScanner:
        return cls([load_lexicon(path) for path in lexicon_paths(directory)])

    def scan(self, text: str) -> list[Finding]:
        findings = self._matcher.find(text, self.name)
        findings.extend(_age_limits(text))
        findings.extend(_english_exclusions(text))
        return _without_duplicates(findings)

    def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        return [self.scan(text) for text in texts]


def _age_limits(text: str) -> list[Finding]:
    # Age limits are only discriminatory in hiring (就业促进法 Art. 3); a cosmetic "for
    # under 35s" or a toy's "3岁以上" is not, so a hiring cue must appear in the text.
    matches = [*_ZH_AGE_LIMIT.finditer(text)]
    if _ASCII_LETTER.search(text) is not None:
        matches.extend(_EN_AGE_LIMIT.finditer(text))
    if not matches or _HIRING_CUE.search(text) is None:
        return []
    return [_finding("bias.age", match) for match in matches]


def _english_exclusions(text: str) -> list[Finding]:
    if _ASCII_LETTER.search(text) is None:
        return []
    return [
        _finding(f"bias.{_attribute_of(match.group('after') or match.group('before'))}", match)
        for match in _EN_EXCLUSION.finditer(text)
    ]


def _attribute_of(group_word: str) -> str:
    return next(
        attribute
        for attribute, pattern in _GROUP_ATTRIBUTE.items()
        if pattern.fullmatch(group_word)
    )


def _finding(category: str, match: re.Match[str]) -> Finding:
    return Finding(
        scanner="bias",
        category=category,
        score=_SCORE,
        span=match.span(),
        evidence=match.group(),
    )


def _without_duplicates(findings: list[Finding]) -> list[Finding]:
    """One finding per (category, overlapping span): a lexicon and a regex may both fire."""
    kept: list[Finding] = []
    last_end: dict[str, int] = {}  # per category, the end of the last kept span
    for finding in sorted(findings, key=lambda f: (f.span or (0, 0), -f.score)):
        span = finding.span or (0, 0)
        if span[0] < last_end.get(finding.category, -1):
            continue
        kept.append(finding)
        last_end[finding.category] = max(span[1], last_end.get(finding.category, -1))
    return sorted(kept, key=lambda f: f.span or (0, 0))
