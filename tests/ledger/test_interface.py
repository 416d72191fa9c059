"""Event records: the leaf schema, its validation and its JSON round trip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from common.errors import InvalidInputError, NotFoundError
from ledger.interface import (
    EntryNotFoundError,
    EventRecord,
    EventType,
    InvalidEventError,
    MalformedBundleError,
    TreeSizeError,
)
from ledger.verify import leaf_data


def test_leaf_round_trip(make_record: Callable[..., EventRecord]) -> None:
    record = make_record(5, attrs={"moderation.findings": 2, "c2pa.state": "valid", "ok": True})
    assert EventRecord.from_leaf(record.to_leaf()) == record


def test_leaf_data_is_rfc8785_canonical(make_record: Callable[..., EventRecord]) -> None:
    data = leaf_data(make_record(1, attrs={"z": 1, "a": None}).to_leaf())
    assert data.startswith(b'{"actor":"pipeline","artifact_sha256":"')
    assert b'"attrs":{"a":null,"z":1}' in data
    assert b" " not in data


@pytest.mark.parametrize(
    "change",
    [
        {"type": "launch"},
        {"time": "2026-11-23 11:00:00"},
        {"time": "2026-11-23T11:00:00+08:00"},
        {"artifact_sha256": "AB" * 32},
        {"manifest_hash": "ab"},
        {"previous_leaf_hash": "g" * 64},
        {"tenant": ""},
        {"actor": "x" * 129},
        {"attrs": {"Bad Key": 1}},
        {"attrs": {"score": 0.5}},
        {"attrs": {"prompt": "x" * 257}},
    ],
)
def test_invalid_records_are_refused(
    make_record: Callable[..., EventRecord], change: dict[str, Any]
) -> None:
    with pytest.raises(InvalidEventError):
        make_record(1, **change)


def test_unknown_leaf_fields_and_versions_are_refused(
    make_record: Callable[..., EventRecord],
) -> None:
    leaf = make_record(1).to_leaf()
    with pytest.raises(InvalidEventError):
        EventRecord.from_leaf({**leaf, "prompt": "hi"})
    with pytest.raises(InvalidEventError):
        EventRecord.from_leaf({**leaf, "v": 3})
    with pytest.raises(InvalidEventError):
        EventRecord.from_leaf({**leaf, "event": "not-" + leaf["type"]})


def test_leaves_name_their_event_and_version_1_leaves_stay_readable(
    make_record: Callable[..., EventRecord],
) -> None:
    record = make_record(1)
    leaf = record.to_leaf()
    assert leaf["v"] == 2
    assert leaf["event"] == leaf["type"] == str(record.type)
    old = {key: value for key, value in leaf.items() if key != "event"}
    assert EventRecord.from_leaf({**old, "v": 1}) == record


def test_errors_map_to_the_contracts_statuses() -> None:
    assert issubclass(EntryNotFoundError, NotFoundError)
    assert EntryNotFoundError.http_status == 404
    assert issubclass(TreeSizeError, InvalidInputError)
    assert TreeSizeError.http_status == 400
    assert MalformedBundleError.http_status == 400
    assert EventType("review_decision") is EventType.REVIEW_DECISION


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()  # any Unicode, controls and non-BMP included
)
_keys = st.text(alphabet=st.characters(max_codepoint=127), max_size=8)


def assert_rfc8785(leaf: dict[str, Any]) -> None:
    """``leaf_data`` gives RFC 8785's bytes for ``leaf``, or refuses it as RFC 8785 does."""
    try:
        expected = bytes(rfc8785.dumps(leaf))
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            leaf_data(leaf)
        return
    assert leaf_data(leaf) == expected


@settings(max_examples=300, deadline=None, database=None)
@given(leaf=st.dictionaries(_keys, _scalars | st.dictionaries(_keys, _scalars, max_size=4)))
@example(leaf={"s": '\x00\x08\x1f\x7f"\\/\u2028\u2029\U0001f600é中', "n": -(2**53) + 1})
def test_fast_leaf_serialisation_is_rfc8785(leaf: dict[str, Any]) -> None:
    assert_rfc8785(leaf)


@pytest.mark.parametrize(
    "leaf",
    [{"big": 2**60}, {"f": 1.5}, {"k": "\ud800"}, {"é": 1, "z": 2}, {"a": {"b": {"c": 1}}}],
)
def test_leaves_outside_the_fast_path_still_follow_rfc8785(leaf: dict[str, Any]) -> None:
    assert_rfc8785(leaf)


def test_from_mapping_accepts_the_pipeline_dict_and_refuses_strays() -> None:
    fields = {
        "type": "review_decision",
        "generation_id": "gen_1",
        "tenant": "acme",
        "actor": "reviewer-7",
        "time": "2026-11-23T11:00:00.123456Z",
        "artifact_sha256": "ab" * 32,
        "manifest_hash": None,
        "watermark_id": None,
        "decision": "approve",
        "policy_version": "cn-marketing@1",
        "previous_leaf_hash": "cd" * 32,
        "attrs": {"reason_code": "", "reviewers": "reviewer-7"},
    }
    record = EventRecord.from_mapping(fields)
    assert record.type is EventType.REVIEW_DECISION
    with pytest.raises(InvalidEventError, match="prompt"):
        EventRecord.from_mapping({**fields, "prompt": "新品上市"})
    with pytest.raises(InvalidEventError, match="incomplete"):
        EventRecord.from_mapping({"type": "stamp"})
