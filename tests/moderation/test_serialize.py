"""Decision serialisation round-trips; the ledger form carries no content."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from moderation import Direction, Finding, ModerationEngine
from moderation.policy import Policy
from moderation.serialize import decision_from_dict, decision_to_dict

CATEGORIES = ["ad_law.absolute_term", "pii.cn_mobile", "toxicity", "bias.age", "unknown.thing"]


def test_round_trip_through_json(engine: ModerationEngine, cn_policy: Policy) -> None:
    decision = engine.moderate_text(
        "全网最低价，电话13812345678，你是傻逼", Direction.OUTPUT, cn_policy
    )
    restored = decision_from_dict(json.loads(json.dumps(decision_to_dict(decision))))
    assert restored == decision


def test_ledger_form_has_no_evidence(engine: ModerationEngine, cn_policy: Policy) -> None:
    decision = engine.moderate_text("电话13812345678", Direction.INPUT, cn_policy)
    record = decision_to_dict(decision, with_evidence=False)
    assert all(finding["evidence"] is None for finding in record["findings"])
    assert "5678" not in json.dumps(record)
    assert record["findings"][0]["category"] == "pii.cn_mobile"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(CATEGORIES),
            st.floats(0, 1),
            st.none() | st.tuples(st.integers(0, 50), st.integers(51, 100)),
            st.none() | st.text(max_size=10),
        ),
        max_size=5,
    ),
    st.sampled_from(list(Direction)),
)
def test_any_decision_round_trips(
    cn_policy: Policy,
    items: list[tuple[str, float, tuple[int, int] | None, str | None]],
    direction: Direction,
) -> None:
    findings = [Finding("s", category, score, span, ev) for category, score, span, ev in items]
    decision = cn_policy.decide(findings, direction)
    assert decision_from_dict(json.loads(json.dumps(decision_to_dict(decision)))) == decision
