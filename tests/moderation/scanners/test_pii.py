"""Personal-data scanner: checksums on valid and invalid numbers, each type, redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation.scanners.pii import (
    PersonalDataScanner,
    is_valid_cn_resident_id,
    luhn_valid,
    mask,
    redact,
)

VALID_IDS = ["11010519491231002X", "440304199001011233", "310101198512304560"]
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.fixture(scope="module")
def scanner() -> PersonalDataScanner:
    return PersonalDataScanner()


def kinds(scanner: PersonalDataScanner, text: str) -> list[str]:
    return [finding.category for finding in scanner.scan(text)]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_resident_ids_pass_the_gb11643_check(number: str) -> None:
    assert is_valid_cn_resident_id(number)
    assert is_valid_cn_resident_id(number.lower())


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check digit
        "440304199001011234",  # wrong check digit
        "440304199002301233",  # 30 February
        "44030419900101123",  # 17 characters
    ],
)
def test_invalid_resident_ids_fail(number: str) -> None:
    assert not is_valid_cn_resident_id(number)


def check_char(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


@given(
    area=st.integers(110000, 829999),
    birth=st.dates(min_value=__import__("datetime").date(1900, 1, 1)),
    sequence=st.integers(0, 999),
)
def test_any_id_with_its_check_char_is_valid_and_any_other_is_not(
    area: int, birth: object, sequence: int
) -> None:
    first17 = f"{area}{birth:%Y%m%d}{sequence:03d}"
    assert is_valid_cn_resident_id(first17 + check_char(first17))
    wrong = next(c for c in "0123456789X" if c != check_char(first17))
    assert not is_valid_cn_resident_id(first17 + wrong)


@pytest.mark.parametrize("number", ["4111111111111111", "6222021234567890128", "6228480012345671"])
def test_luhn_accepts_valid_cards(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "6222021234567890123", "abc"])
def test_luhn_rejects_invalid_cards(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("身份证号11010519491231002X请核对", "pii.cn_resident_id"),
        ("ID: 440304199001011233.", "pii.cn_resident_id"),
        ("联系电话13812345678", "pii.cn_mobile"),
        ("call +86 138-1234-5678 now", "pii.cn_mobile"),
        ("手机 138 1234 5678", "pii.cn_mobile"),
        ("卡号6222 0212 3456 7890 128", "pii.bank_card"),
        ("card 4111-1111-1111-1111", "pii.bank_card"),
        ("邮箱 zhang.san+ads@example.com.cn", "pii.email"),
        ("server at 192.168.10.1 is down", "pii.ip_address"),
        ("IPv6 2001:db8::8a2e:370:7334 here", "pii.ip_address"),
        ("护照号码E12345678", "pii.passport"),
        ("Passport no. G12345678", "pii.passport"),
    ],
)
def test_each_type_is_found_with_its_category(
    scanner: PersonalDataScanner, text: str, category: str
) -> None:
    [finding] = scanner.scan(text)
    assert finding.category == category
    assert finding.span is not None
    assert finding.evidence is not None
    assert "*" in finding.evidence  # masked, so findings can be logged


@pytest.mark.parametrize(
    "text",
    [
        "身份证号110105194912310021",  # bad check digit
        "卡号4111111111111112",  # bad Luhn
        "订单号 1234567890123456",  # no issuer prefix, not a card
        "型号G12345678",  # product code, no passport keyword
        "价格12:30:45开始",  # a time, not IPv6
        "版本 999.1.2.3",  # not an IPv4 address
        "热线 400-820-8820",  # service number, not a mobile
    ],
)
def test_look_alikes_are_not_personal_data(scanner: PersonalDataScanner, text: str) -> None:
    assert scanner.scan(text) == []


def test_resident_id_is_not_also_reported_as_card_or_phone(scanner: PersonalDataScanner) -> None:
    assert kinds(scanner, "440304199001011233") == ["pii.cn_resident_id"]


def test_redact_replaces_every_span() -> None:
    text = "张三，电话13812345678，身份证11010519491231002X，邮箱 a@b.cn"
    assert redact(text) == (
        "张三，电话[REDACTED:cn_mobile]，身份证[REDACTED:cn_resident_id]，邮箱 [REDACTED:email]"
    )


def test_mask_keeps_only_the_ends() -> None:
    assert mask("13812345678") == "138****5678"
    assert mask("abc") == "***"
