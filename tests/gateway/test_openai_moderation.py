"""The OpenAI moderation shape: flagged for any review/block, OpenAI names, our findings."""

from __future__ import annotations

import pytest

from gateway.openai_moderation import OPENAI_CATEGORIES, to_openai_moderation
from moderation import Direction, Finding
from moderation.policy import Policy, load_policy


@pytest.fixture(scope="module")
def cn_policy() -> Policy:
    return load_policy("cn-marketing")


def test_ad_law_review_flags_without_an_openai_category(cn_policy: Policy) -> None:
    finding = Finding("lexicon", "ad_law.absolute_term", 0.8, (2, 4), "最佳")
    decision = cn_policy.decide([finding], Direction.INPUT)
    result = to_openai_moderation(decision, cn_policy.decide([], Direction.OUTPUT))
    assert result["flagged"] is True
    assert set(result["categories"]) == set(OPENAI_CATEGORIES)
    assert not any(result["categories"].values())
    assert result["findings"] == [
        {
            "direction": "input",
            "scanner": "lexicon",
            "category": "ad_law.absolute_term",
            "score": 0.8,
            "span": [2, 4],
            "evidence": "最佳",
            "action": "review",
            "clause": decision.reasons[0].clause,
        }
    ]
    assert result["decision"] == {
        "input": "review",
        "output": "allow",
        "policy": "cn-marketing",
        "policy_version": cn_policy.version,
    }


def test_toxicity_maps_to_openai_names_and_output_flags_too(cn_policy: Policy) -> None:
    clean = cn_policy.decide([], Direction.INPUT)
    output = cn_policy.decide(
        [Finding("detoxify", "threat", 0.95), Finding("detoxify", "insult", 0.3)], Direction.OUTPUT
    )
    result = to_openai_moderation(clean, output)
    assert result["flagged"] is True
    assert result["categories"]["harassment/threatening"] is True
    assert result["categories"]["violence"] is True
    assert result["categories"]["harassment"] is False  # the insult stayed below threshold
    assert result["category_scores"]["harassment"] == 0.3
    assert result["category_scores"]["violence"] == 0.95


def test_nothing_found_is_not_flagged(cn_policy: Policy) -> None:
    result = to_openai_moderation(cn_policy.decide([], Direction.INPUT))
    assert result["flagged"] is False
    assert result["findings"] == []
    assert result["decision"]["output"] is None
