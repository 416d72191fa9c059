"""The JSON nesting guard: cheap on normal payloads, refuses bombs, ignores strings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.jsonsafe import JsonTooDeepError, check_json_depth, json_depth_exceeds


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_shallow_payloads_pass() -> None:
    check_json_depth(
        json.dumps({"kind": "text", "prompt": "[[[[{{{{", "params": {"a": [1]}}).encode()
    )
    assert not json_depth_exceeds(nested(64))


def test_deep_payloads_are_refused() -> None:
    assert json_depth_exceeds(nested(65))
    with pytest.raises(JsonTooDeepError):
        check_json_depth(nested(500_000))


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"prompt": "[" * 1000 + '\\"' + "{" * 1000}).encode()
    assert not json_depth_exceeds(text)


@given(
    st.recursive(
        st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=40,
    )
)
def test_agrees_with_the_real_depth(value: object) -> None:
    def depth(v: object) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    data = json.dumps(value).encode()
    assert json_depth_exceeds(data, 3) == (depth(value) > 3)
