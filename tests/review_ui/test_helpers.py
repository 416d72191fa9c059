"""Pure helpers of the reviewer pages: span segmentation, sessions, language choice."""

from __future__ import annotations

import pytest

from common.i18n import pick_language
from common.types import Language
from review_ui.highlight import segment_text
from review_ui.i18n import STRINGS
from review_ui.interface import Reviewer, ReviewFinding
from review_ui.session import SessionCodec


def finding(start: int, end: int) -> ReviewFinding:
    return ReviewFinding(scanner="s", category="c", score=0.5, span=(start, end))


def test_segments_cover_the_text_and_mark_overlaps() -> None:
    text = "全网最佳销量第一"
    segments = segment_text(text, [(1, finding(2, 4)), (2, finding(2, 8)), (3, finding(6, 8))])
    assert "".join(s.text for s in segments) == text
    assert [(s.text, s.covering, s.ending) for s in segments] == [
        ("全网", (), ()),
        ("最佳", (1, 2), (1,)),
        ("销量", (2,), ()),
        ("第一", (2, 3), (2, 3)),
    ]


def test_segments_ignore_spans_outside_the_text() -> None:
    segments = segment_text("abc", [(1, finding(5, 9)), (2, ReviewFinding("s", "c", 0.1))])
    assert [(s.text, s.covering) for s in segments] == [("abc", ())]
    assert segment_text("", [(1, finding(0, 1))]) == []


def test_session_round_trip_and_tamper_detection() -> None:
    codec = SessionCodec(b"k" * 32, ttl_s=60)
    session = codec.new_session(Reviewer("alice", "acme", "Alice 张"), now=1000.0)
    cookie = codec.encode(session)
    assert codec.decode(cookie, now=1059.0) == session
    assert codec.decode(cookie, now=1061.0) is None  # expired
    assert SessionCodec(b"x" * 32, ttl_s=60).decode(cookie, now=1000.0) is None  # other key
    body, mac = cookie.split(".")
    assert codec.decode(body + "." + mac[:-2] + "AA", now=1000.0) is None
    assert codec.decode("garbage", now=1000.0) is None
    assert codec.decode("a.b.c", now=1000.0) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    codec = SessionCodec(b"k" * 32, ttl_s=60)
    first = codec.new_session(None, now=0)
    second = codec.new_session(None, now=0)
    assert codec.csrf_ok(first, codec.csrf_token(first))
    assert not codec.csrf_ok(second, codec.csrf_token(first))
    assert not codec.csrf_ok(first, "")
    assert not codec.csrf_ok(None, codec.csrf_token(first))


def test_short_session_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SessionCodec(b"short", ttl_s=60)


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", Language.ZH),
        (None, "en-US,en;q=0.9,zh;q=0.8", Language.EN),
        (None, "fr-FR,zh-TW;q=0.5", Language.ZH),
        (None, "zh;q=0, en;q=0.1", Language.EN),
        (None, None, Language.ZH),  # one default for every page: the verify page's
        ("zh", "en", Language.ZH),
        ("xx", "zh", Language.ZH),
    ],
)
def test_language_choice(cookie: str | None, header: str | None, expected: Language) -> None:
    assert pick_language(cookie, header) is expected


def test_every_string_has_both_languages() -> None:
    assert all(set(texts) == {Language.ZH, Language.EN} for texts in STRINGS.values())


@pytest.mark.parametrize("cookie", ["é.é", "x" * 5000, ".", "e30.", "not-base64!.sig"])
def test_malformed_cookie_is_no_session(cookie: str) -> None:
    assert SessionCodec(b"k" * 32, ttl_s=60).decode(cookie, now=0) is None


def test_categories_are_named_in_the_reviewers_language() -> None:
    from common.types import Language
    from review_ui.categories import category_name

    assert category_name("ad_law.absolute_term", Language.ZH) == "广告法 · 绝对化用语"
    assert category_name("pii.cn_mobile", Language.EN) == "Personal data · mobile number"
    assert category_name("pii.future_kind", Language.ZH) == "个人信息 · future_kind"
    assert category_name("insult", Language.ZH) == "侮辱"


def test_every_content_kind_has_a_name_on_the_queue() -> None:
    from common.types import ContentKind, Language
    from review_ui.i18n import translate

    for kind in ContentKind:
        for lang in Language:
            assert translate(lang, f"kind_{kind.value}")
