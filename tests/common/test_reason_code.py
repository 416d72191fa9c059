"""The one ``ReasonCode``: moderation's stored shape and the review queue's inputs."""

from __future__ import annotations

from dataclasses import dataclass

from common.types import ReasonCode


def test_dicts_stored_before_description_read_as_before() -> None:
    stored = {
        "code": "ad_law.absolute_term",
        "clause": "广告法 第九条",
        "zh": "绝对化",
        "en": "Abs",
    }
    reason = ReasonCode.from_dict(stored)
    assert reason == ReasonCode(
        code="ad_law.absolute_term", clause="广告法 第九条", zh="绝对化", en="Abs"
    )
    assert reason.description == ""


def test_to_dict_keeps_every_key_and_round_trips() -> None:
    reason = ReasonCode(code="a", clause="c", zh="中", en="E", description="d")
    assert reason.to_dict() == {
        "code": "a",
        "description": "d",
        "clause": "c",
        "zh": "中",
        "en": "E",
    }
    assert list(reason.to_dict()) == ["code", "description", "clause", "zh", "en"]
    assert ReasonCode.from_dict(reason.to_dict()) == reason
    assert ReasonCode.coerce(reason.to_dict()) == reason


def test_coerce_accepts_strings_mappings_and_objects() -> None:
    @dataclass
    class Other:
        code: str
        clause: str

    same = ReasonCode(code="x")
    assert ReasonCode.coerce(same) is same
    assert ReasonCode.coerce("x") == same
    assert ReasonCode.coerce({"code": "x", "en": None}) == same
    assert ReasonCode.coerce(Other("x", "c")) == ReasonCode(code="x", clause="c")


def test_label_prefers_the_readers_language_then_falls_back() -> None:
    full = ReasonCode(code="a", clause="§9", zh="中文", en="English", description="desc")
    assert full.label("zh") == "中文 (§9)"
    assert full.label("en") == "English (§9)"
    assert ReasonCode(code="a", description="desc").label("zh") == "desc"
    assert ReasonCode(code="a", zh="中文").label("en") == "中文"
    assert ReasonCode(code="a", clause="§9").label("en") == "§9"
    assert ReasonCode(code="a").label("en") == ""
