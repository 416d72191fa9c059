"""Classifier scanners: alt-profanity-check (shipped, trained) and detoxify (tiny checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation import (
    DetoxifySettings,
    Direction,
    ModerationSettings,
    ScannerNotReadyError,
    build_engine,
    load_policy,
)
from moderation.scanners.toxicity import (
    DETOXIFY_CATEGORIES,
    DETOXIFY_CHECKPOINT_FILES,
    DetoxifyScanner,
    ProfanityCheckScanner,
    sentence_spans,
)


@pytest.fixture(scope="module")
def profanity() -> ProfanityCheckScanner:
    return ProfanityCheckScanner(min_score=0.5)


def test_sentence_spans_split_chinese_and_western_punctuation() -> None:
    text = "新品上市。Buy now! 限时优惠"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["新品上市。", "Buy now!", "限时优惠"]


@pytest.mark.parametrize(
    "text",
    ["You are a stupid idiot", "shut the fuck up", "what a piece of shit"],
)
def test_profanity_check_flags_real_toxic_english(
    profanity: ProfanityCheckScanner, text: str
) -> None:
    [finding] = profanity.scan(text)
    assert finding.category == "toxicity"
    assert finding.score >= 0.8


@pytest.mark.parametrize(
    "text",
    ["This serum keeps skin soft all day.", "Free shipping on orders over $50.", "新品上市"],
)
def test_profanity_check_passes_clean_copy(profanity: ProfanityCheckScanner, text: str) -> None:
    assert profanity.scan(text) == []


def test_profanity_check_reports_the_worst_sentence_span(profanity: ProfanityCheckScanner) -> None:
    text = "Our lotion is light and fresh. You are a fucking idiot. Order today."
    [finding] = profanity.scan(text)
    assert finding.span is not None
    assert text[finding.span[0] : finding.span[1]].strip() == "You are a fucking idiot."


def test_profanity_check_batches_like_single_calls(profanity: ProfanityCheckScanner) -> None:
    texts = ["Lovely colours.", "you stupid moron", "", "Buy two, get one free."]
    assert profanity.scan_many(texts) == [profanity.scan(text) for text in texts]


def test_detoxify_loads_a_local_checkpoint_and_reports_its_categories(
    detoxify_checkpoint: Path,
) -> None:
    # Random weights score ~0.5 everywhere (RECIPES): assert categories and shapes only.
    settings = DetoxifySettings(model=str(detoxify_checkpoint))
    scanner = DetoxifyScanner(settings, min_score=0.0)
    assert scanner.readiness_problem() is None
    results = scanner.scan_many(["you are an idiot. buy now", "great product"])
    assert len(results) == 2
    first_categories = {finding.category for finding in results[0]}
    assert first_categories == DETOXIFY_CATEGORIES
    assert all(0.0 <= finding.score <= 1.0 for result in results for finding in result)
    assert all(finding.span is not None for result in results for finding in result)


def test_detoxify_inside_the_engine_toxicity_scanner(detoxify_checkpoint: Path) -> None:
    settings = ModerationSettings(
        detoxify=DetoxifySettings(model=str(detoxify_checkpoint)), classifier_min_score=0.0
    )
    engine = build_engine(settings)
    assert engine.readiness_problem() is None
    decision = engine.moderate_text(
        "you are an idiot", Direction.INPUT, load_policy("cn-marketing")
    )
    scanners = {finding.scanner for finding in decision.findings}
    assert "detoxify" in scanners


def test_named_detoxify_model_missing_is_explained_not_downloaded(tmp_path: Path) -> None:
    settings = ModerationSettings(
        detoxify=DetoxifySettings(model="unbiased", checkpoint_dir=tmp_path)
    )
    engine = build_engine(settings)
    problem = engine.readiness_problem()
    assert problem is not None
    assert DETOXIFY_CHECKPOINT_FILES["unbiased"] in problem
    assert "never downloaded" in problem
    with pytest.raises(ScannerNotReadyError):
        engine.moderate_text("hello", Direction.INPUT, load_policy("cn-marketing"))


def test_missing_checkpoint_path_is_a_readiness_problem(tmp_path: Path) -> None:
    scanner = DetoxifyScanner(DetoxifySettings(model=str(tmp_path / "absent.ckpt")))
    assert scanner.readiness_problem() is not None
    with pytest.raises(ScannerNotReadyError):
        scanner.scan("hello")
