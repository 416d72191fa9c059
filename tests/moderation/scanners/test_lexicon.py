"""Lexicon scanner: advertising-law terms with exemptions, abusive language, tenant lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation import PolicyError, TenantLists
from moderation.scanners.lexicon import LexiconScanner, lexicon_paths, load_lexicon, tenant_lexicon
from moderation.settings import ModerationSettings


@pytest.fixture(scope="module")
def scanner() -> LexiconScanner:
    return shipped_scanner()


@pytest.fixture(scope="module")
def lexicon_scanner() -> LexiconScanner:
    return shipped_scanner()


def shipped_scanner() -> LexiconScanner:
    directory = ModerationSettings().lexicon_dir_resolved
    return LexiconScanner("lexicon", [load_lexicon(path) for path in lexicon_paths(directory)])


def categories(scanner: LexiconScanner, text: str) -> list[str]:
    return [finding.category for finding in scanner.scan(text)]


@pytest.mark.parametrize(
    ("text", "evidence"),
    [
        ("这是全网最好的面膜", "最好"),
        ("国家级品质，值得信赖", "国家级"),
        ("顶级工艺打造", "顶级"),
        ("销量第一的洗发水", "销量第一"),
        ("本店独家配方", "独家"),
        ("最 佳选择", "最 佳"),
        ("最\u200b佳选择", "最\u200b佳"),
        ("最佳選擇", "最佳"),
        ("頂級面霜", "頂級"),
        ("全网ＮＯ．１", "ＮＯ．１"),
        ("A miracle cure with no side effects", "miracle cure"),
        ("Guaranteed returns of 20% a year", "Guaranteed returns"),
    ],
)
def test_ad_law_terms_and_their_evasions_are_found_with_original_spans(
    scanner: LexiconScanner, text: str, evidence: str
) -> None:
    findings = [f for f in scanner.scan(text) if f.category.startswith("ad_law.")]
    assert findings, text
    assert any(evidence in (f.evidence or "") for f in findings)
    for finding in findings:
        assert finding.span is not None
        assert text[finding.span[0] : finding.span[1]] == finding.evidence


@pytest.mark.parametrize(
    "text",
    [
        "本品最佳保质期为18个月",  # usage note (SAMR 2023)
        "开封后最佳食用期为7天",
        "我第一次用就爱上了",  # ordinal in a narrative
        "第一步：洁面；第二步：涂抹精华",
        "收到后第一时间联系客服",
        "比上一代最轻的一款",  # self-comparison
        "相比老款，这是我们史上最安静的吸尘器",
        "电影《最好的我们》同款",  # a work's title
        "这款面霜温和不刺激，适合敏感肌",
        "去死皮效果明显",  # everyday word containing an abusive term
        "废物利用的环保设计",
        "The resin cures in 24 hours.",
        "Invest in comfort: our sofa is guaranteed for ten years.",
    ],
)
def test_exemptions_and_clean_copy_are_not_flagged(scanner: LexiconScanner, text: str) -> None:
    assert scanner.scan(text) == []


def test_overlapping_terms_merge_into_one_finding(scanner: LexiconScanner) -> None:
    [finding] = scanner.scan("最高级的享受")
    assert finding.evidence == "最高级"
    [finding] = scanner.scan("这是全网最好的面膜")
    assert finding.evidence == "全网最好"


@pytest.mark.parametrize(
    ("text", "category", "score"),
    [
        ("你是傻逼吗", "insult", 0.95),
        ("你這個傻逼", "insult", 0.95),
        ("傻 逼", "insult", 0.95),
        ("真是个脑残设计", "insult", 0.7),
        ("信不信我弄死你", "threat", 0.95),
        ("you are an idiot", "insult", 0.7),
        ("F.U.C.K this brand", "obscene", 0.95),
        ("\uff26\uff35\uff23\uff2b", "obscene", 0.95),
        ("I will kill you", "threat", 0.95),
        ("nmsl", "insult", 0.95),  # pinyin initials
        ("Ｎ Ｍ Ｓ Ｌ", "insult", 0.95),
        ("tmd又涨价", "insult", 0.7),
    ],
)
def test_abusive_language_in_both_languages(
    scanner: LexiconScanner, text: str, category: str, score: float
) -> None:
    findings = scanner.scan(text)
    assert (category, score) in {(f.category, f.score) for f in findings}


@pytest.mark.parametrize(
    "text",
    [
        "A classic class assignment",
        "Scunthorpe United",
        "shiitake mushrooms",
        "cocktail",
        "USB接口",
        "型号SB-100",
        "somebody",
    ],
)
def test_english_terms_need_word_boundaries(scanner: LexiconScanner, text: str) -> None:
    assert scanner.scan(text) == []


def test_tenant_lists_add_banned_terms_and_competitors() -> None:
    lists = TenantLists(banned_terms=("山寨",), competitor_names=("Acme",))
    scanner = LexiconScanner("lexicon", [tenant_lexicon(lists)])
    found = {(f.category, f.evidence) for f in scanner.scan("比ACME好，不是山寨货")}
    assert found == {("brand.competitor", "ACME"), ("brand.banned_term", "山寨")}
    assert scanner.scan("acmeish") == []


def test_tenant_product_names_exempt_ad_law_terms_only(scanner: LexiconScanner) -> None:
    lists = TenantLists(banned_terms=("至尊",), product_names=("至尊宝面霜",))
    combined = LexiconScanner("lexicon", [*scanner.lexicons, tenant_lexicon(lists)])
    found = {(f.category, f.evidence) for f in combined.scan("新款至尊宝面霜")}
    # The ad-law hit inside the product name is exempt; the tenant's own ban still holds.
    assert found == {("brand.banned_term", "至尊")}


def test_every_shipped_list_names_its_source_and_version() -> None:
    directory = ModerationSettings().lexicon_dir_resolved
    for path in [*lexicon_paths(directory), *lexicon_paths(directory / "bias")]:
        lexicon = load_lexicon(path)
        assert lexicon.source
        assert lexicon.license
        assert lexicon.version
        assert lexicon.entries


def test_malformed_lexicon_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: broken\nversion: '1'\nsource: test\nlicense: none\nsections:\n"
        "  - category: insult\n    score: 7\n    terms: [x]\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError, match=r"broken\.yaml:7: 'score'"):
        load_lexicon(path)


SEPARATORS = [" ", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "*", "-", "·", "\u3000"]


@given(
    st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=3),
    st.sampled_from(["最佳", "顶级", "傻逼"]),
)
@settings(max_examples=60, deadline=None)
def test_any_separator_inside_a_term_still_matches_with_its_original_span(
    lexicon_scanner: LexiconScanner, separators: list[str], term: str
) -> None:
    evasion = term[0] + "".join(separators) + term[1:]
    text = f"这是{evasion}的"
    spans = {finding.span for finding in lexicon_scanner.scan(text)}
    assert (2, 2 + len(evasion)) in spans
