"""Bias scanner: protected attributes (Interim Measures Art. 4(2)) in Chinese and English."""

from __future__ import annotations

import pytest

from moderation.scanners.bias import BiasScanner
from moderation.settings import ModerationSettings


@pytest.fixture(scope="module")
def scanner() -> BiasScanner:
    return BiasScanner.from_directory(ModerationSettings().bias_lexicon_dir_resolved)


def categories(scanner: BiasScanner, text: str) -> set[str]:
    return {finding.category for finding in scanner.scan(text) if finding.score >= 0.5}


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("招聘店员，35岁以下", "bias.age"),
        ("只招35岁以下女性", "bias.age"),
        ("诚聘销售，年龄不超过30岁", "bias.age"),
        ("招聘前台 限25-35岁", "bias.age"),
        ("Hiring baristas under 30 only", "bias.age"),
        ("招聘司机，男性优先", "bias.gender"),
        ("仅限男性，女性勿扰", "bias.gender"),
        ("Sales role, men only", "bias.gender"),
        ("河南人勿扰", "bias.region"),
        ("谢绝外地户口", "bias.region"),
        ("乙肝携带者勿扰", "bias.health"),
        ("No foreigners need apply: no foreigners", "bias.country"),
        ("Muslims need not apply", "bias.belief"),
        ("不招少数民族", "bias.ethnicity"),
        ("农民工勿扰", "bias.occupation"),
        ("女性一律不录用", "bias.gender"),  # a three-character cue
        ("乙肝一律不考虑", "bias.health"),
        ("河 南 人 勿 扰", "bias.region"),  # spaced evasion
        ("河南人勿擾", "bias.region"),  # traditional characters
    ],
)
def test_exclusionary_phrasing_reports_the_attribute(
    scanner: BiasScanner, text: str, category: str
) -> None:
    assert category in categories(scanner, text)


@pytest.mark.parametrize(
    "text",
    [
        "适合3岁以上儿童",  # a product age rating, not hiring
        "35岁以下肌肤适用的精华",  # no hiring cue
        "女生们不要错过这款口红",
        "孕妇禁用，儿童慎用",  # a product warning
        "河南人都爱吃的烩面",  # a group word without an exclusion cue
        "男女不限，欢迎应聘",
        "Great gift for women and men.",
        "Our team welcomes applicants of all ages.",
        "拒绝暗沉，女生必备",  # a cue word near, but not next to, a group word
        "孕妇慎用，不考虑的话可以换一款",
        "No women's sizes left in stock",
    ],
)
def test_neutral_text_is_not_flagged(scanner: BiasScanner, text: str) -> None:
    assert categories(scanner, text) == set()


def test_gender_coded_words_are_reported_below_the_review_threshold(scanner: BiasScanner) -> None:
    [finding] = scanner.scan("We want a rockstar developer")
    assert finding.category == "bias.gender"
    assert finding.score < 0.5


def test_spans_point_at_the_original_text(scanner: BiasScanner) -> None:
    text = "招聘店员, 35岁以下, 河南人勿扰"
    found = {(f.category, f.evidence) for f in scanner.scan(text)}
    assert found == {("bias.age", "35岁以下"), ("bias.region", "河南人")}
    for finding in scanner.scan(text):
        assert finding.span is not None
        assert text[finding.span[0] : finding.span[1]] == finding.evidence
