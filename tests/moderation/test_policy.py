"""Policies: the shipped cn-marketing contract, decisions that explain themselves, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation import Action, Direction, Finding, PolicyError, load_policy, shipped_policy_names
from moderation.policy import Policy

VALID_POLICY = """\
name: tiny
scanners:
  input: [pii]
  output: [pii]
reason_codes:
  - {code: personal_data, clause: PIPL Art. 13, zh: 个人信息, en: personal data}
rules:
  - id: pii
    categories: ["pii.*"]
    clause: PIPL Art. 13
    reason_code: personal_data
    thresholds:
      - {min_score: 0.5, action: block}
"""


def finding(category: str, score: float) -> Finding:
    return Finding("test", category, score, (0, 1), "x")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_policies_load() -> None:
    assert {"cn-marketing", "eu-general"} <= set(shipped_policy_names())
    for name in shipped_policy_names():
        policy = load_policy(name)
        assert policy.name == name
        assert len(policy.version) == 64
        assert policy.input_scanners
        assert policy.output_scanners
        assert policy.image_scanners


@pytest.mark.parametrize(
    ("category", "score", "action"),
    [
        ("ad_law.absolute_term", 0.8, Action.REVIEW),
        ("ad_law.medical_claim", 0.8, Action.REVIEW),
        ("bias.age", 0.75, Action.REVIEW),
        ("pii.cn_resident_id", 0.99, Action.BLOCK),
        ("pii.cn_mobile", 0.9, Action.BLOCK),
        ("pii.sensitive_health", 0.7, Action.REVIEW),
        ("toxicity", 0.95, Action.BLOCK),
        ("insult", 0.9, Action.BLOCK),
        ("toxicity", 0.6, Action.REVIEW),
        ("toxicity", 0.3, Action.ALLOW),
        ("brand.banned_term", 1.0, Action.BLOCK),
        ("brand.competitor", 0.8, Action.REVIEW),
        ("image_match.protected", 0.97, Action.REVIEW),
        ("image_match.banned", 0.97, Action.BLOCK),
        ("something.new", 0.9, Action.REVIEW),  # no rule: the policy default, fail closed
    ],
)
def test_cn_marketing_contract(
    cn_policy: Policy, category: str, score: float, action: Action
) -> None:
    decision = cn_policy.decide([finding(category, score)], Direction.OUTPUT)
    assert decision.action is action
    assert decision.double_review is False


def test_decision_explains_itself(cn_policy: Policy) -> None:
    findings = [finding("ad_law.absolute_term", 0.8), finding("pii.cn_mobile", 0.9)]
    decision = cn_policy.decide(findings, Direction.INPUT)
    assert decision.action is Action.BLOCK
    assert decision.review_queue == "privacy"
    assert decision.policy_name == "cn-marketing"
    assert decision.policy_version == cn_policy.version
    assert [(r.category, r.action, r.finding_index) for r in decision.reasons] == [
        ("ad_law.absolute_term", Action.REVIEW, 0),
        ("pii.cn_mobile", Action.BLOCK, 1),
    ]
    assert "第九条第三项" in decision.reasons[0].clause
    assert decision.reasons[0].reason_code == "ad_law_absolute_term"
    assert cn_policy.reason_code("ad_law_absolute_term") is not None


def test_no_findings_allow(cn_policy: Policy) -> None:
    decision = cn_policy.decide([], Direction.INPUT)
    assert decision.action is Action.ALLOW
    assert not decision.flagged
    assert decision.reasons == ()
    assert decision.review_queue == "default"


def test_double_review_only_when_a_tenant_configures_it(cn_policy: Policy) -> None:
    strict = cn_policy.with_double_review(["bias.*"])
    assert strict.version != cn_policy.version
    bias = strict.decide([finding("bias.gender", 0.75)], Direction.OUTPUT)
    assert bias.action is Action.REVIEW
    assert bias.double_review is True
    ad_law = strict.decide([finding("ad_law.absolute_term", 0.8)], Direction.OUTPUT)
    assert ad_law.double_review is False


def test_eu_general_allows_chinese_ad_terms_but_reviews_personal_data(eu_policy: Policy) -> None:
    assert eu_policy.decide([finding("ad_law.absolute_term", 0.8)], Direction.OUTPUT).action is (
        Action.ALLOW
    )
    assert eu_policy.decide([finding("pii.email", 0.9)], Direction.OUTPUT).action is Action.REVIEW


def test_version_ignores_comments_and_layout(tmp_path: Path) -> None:
    first = load_policy(write(tmp_path, VALID_POLICY))
    other = tmp_path / "other.yaml"
    block_style = "      - min_score: 0.5\n        action: block\n"
    relaid = VALID_POLICY.replace("      - {min_score: 0.5, action: block}\n", block_style)
    other.write_text("# a comment\n" + relaid, encoding="utf-8")
    assert load_policy(other).version == first.version


def test_policy_by_name_from_a_search_dir(tmp_path: Path) -> None:
    (tmp_path / "tenant-x.yaml").write_text(VALID_POLICY, encoding="utf-8")
    assert load_policy("tenant-x", search_dir=tmp_path).name == "tiny"


def test_unknown_policy_lists_the_shipped_ones() -> None:
    with pytest.raises(PolicyError, match="cn-marketing"):
        load_policy("no-such-policy")


@pytest.mark.parametrize(
    ("broken", "line", "message"),
    [
        (VALID_POLICY.replace("action: block}", "action: blok}"), 13, "'action' must be one of"),
        (VALID_POLICY.replace("min_score: 0.5", "min_score: 5"), 13, "'min_score'"),
        (
            VALID_POLICY.replace("    clause: PIPL Art. 13\n", "    clause: PIPL\n    claus: x\n"),
            11,
            "unknown key 'claus'",
        ),
        (
            VALID_POLICY.replace("reason_code: personal_data", "reason_code: nope"),
            11,
            "unknown reason_code",
        ),
        (VALID_POLICY.replace("  input: [pii]", "  input: []"), 3, "at least one"),
        (VALID_POLICY.replace("rules:", "rules: [\n"), 9, "malformed YAML"),
        (VALID_POLICY.replace("  - id: pii\n", "  - just a string\n  - id: pii\n"), 8, "mapping"),
        (
            VALID_POLICY.replace('categories: ["pii.*"]', 'categories: ["pii.*"'),
            10,
            "malformed YAML",
        ),
    ],
)
def test_malformed_policy_names_file_and_line(
    tmp_path: Path, broken: str, line: int, message: str
) -> None:
    path = write(tmp_path, broken)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert f"policy.yaml:{line}:" in caught.value.message
    assert message in caught.value.message
    # Clients see the file name and line, never the server path.
    public = caught.value.public_detail()
    assert str(tmp_path) not in str(public)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "ad_law.absolute_term",
                    "pii.email",
                    "toxicity",
                    "bias.age",
                    "brand.competitor",
                    "new",
                ]
            ),
            st.floats(0, 1),
        ),
        max_size=6,
    )
)
def test_the_decision_is_the_most_severe_finding_action(
    cn_policy: Policy, items: list[tuple[str, float]]
) -> None:
    findings = [finding(category, score) for category, score in items]
    decision = cn_policy.decide(findings, Direction.INPUT)
    per_finding = [
        rule.action_for(score) if (rule := cn_policy.rule_for(category)) else Action.REVIEW
        for category, score in items
    ]
    expected = max(per_finding, key=lambda action: action.severity, default=Action.ALLOW)
    assert decision.action is expected
    assert {reason.finding_index for reason in decision.reasons} == {
        index for index, action in enumerate(per_finding) if action is not Action.ALLOW
    }


def test_reason_codes_follow_the_findings_rules() -> None:
    from moderation.policy import load_policy

    policy = load_policy("cn-marketing")
    codes = [r.code for r in policy.reason_codes_for(["ad_law.absolute_term", "pii.cn_phone"])]
    assert codes == ["ad_law_absolute_term", "personal_data", "other"]
    assert [r.code for r in policy.reason_codes_for([])] == ["other"]
