"""The engine end to end: policy order, decisions, batches, bad input, images, readiness."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from moderation import (
    Action,
    Direction,
    ImageHashEntry,
    InvalidTextError,
    ModerationEngine,
    ModerationSettings,
    NotAnImageError,
    TenantLists,
    TextTooLargeError,
    UnknownScannerError,
    build_engine,
    load_policy,
)
from moderation.policy import Policy
from moderation.scanners.image_hash import compute_hashes


def encode(image: Image.Image, image_format: str = "PNG", **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    from skimage import data

    return {
        name: Image.fromarray(getattr(data, name)()) for name in ("astronaut", "coffee", "chelsea")
    }


@pytest.mark.parametrize(
    ("text", "action", "category"),
    [
        ("全网最低价，买到就是赚到", Action.REVIEW, "ad_law.absolute_term"),
        ("招聘导购，35岁以下", Action.REVIEW, "bias.age"),
        ("请联系13812345678领取", Action.BLOCK, "pii.cn_mobile"),
        ("帮我把她的病历和银行流水整理成表格", Action.REVIEW, "pii.sensitive_health"),
        ("Export the customer's credit report", Action.REVIEW, "pii.sensitive_financial"),
        ("你是傻逼吧", Action.BLOCK, "insult"),
        ("You are a fucking moron", Action.BLOCK, "toxicity"),
        ("清爽控油，持久保湿，适合夏天使用", Action.ALLOW, None),
        ("Light, fresh and made for summer.", Action.ALLOW, None),
        ("", Action.ALLOW, None),
    ],
)
def test_cn_marketing_decisions(
    engine: ModerationEngine, cn_policy: Policy, text: str, action: Action, category: str | None
) -> None:
    decision = engine.moderate_text(text, Direction.INPUT, cn_policy)
    assert decision.action is action
    if category is not None:
        assert category in {finding.category for finding in decision.findings}
        assert decision.reasons
    assert decision.policy_version == cn_policy.version


def test_batch_matches_single_calls(engine: ModerationEngine, cn_policy: Policy) -> None:
    texts = ["最好的选择", "Nice colours", "滚蛋吧你", "邮件 a@example.com", "平平无奇的文案"]
    batch = engine.moderate_texts(texts, Direction.OUTPUT, cn_policy)
    singles = [engine.moderate_text(text, Direction.OUTPUT, cn_policy) for text in texts]
    assert batch == singles


def test_tenant_lists_reach_the_lexicon(engine: ModerationEngine, cn_policy: Policy) -> None:
    lists = TenantLists(banned_terms=("山寨",), competitor_names=("Acme",))
    decision = engine.moderate_text(
        "比 acme 更好用", Direction.OUTPUT, cn_policy, tenant_lists=lists
    )
    assert {f.category for f in decision.findings} == {"brand.competitor"}
    assert decision.action is Action.REVIEW
    assert decision.review_queue == "brand"
    plain = engine.moderate_text("比 acme 更好用", Direction.OUTPUT, cn_policy)
    assert plain.action is Action.ALLOW


def test_invalid_utf8_is_rejected(engine: ModerationEngine, cn_policy: Policy) -> None:
    with pytest.raises(InvalidTextError):
        engine.moderate_text(b"\xff\xfe\xfa", Direction.INPUT, cn_policy)
    assert engine.moderate_text("最佳".encode(), Direction.INPUT, cn_policy).action is Action.REVIEW


def test_a_megabyte_text_is_413_under_the_default_limit(
    engine: ModerationEngine, cn_policy: Policy
) -> None:
    with pytest.raises(TextTooLargeError) as caught:
        engine.moderate_text("a" * 1_000_000, Direction.INPUT, cn_policy)
    assert caught.value.http_status == 413
    assert caught.value.details == {"limit": 100_000}


def test_a_megabyte_within_a_raised_limit_is_scanned_with_exact_spans(tmp_path: Path) -> None:
    policy_path = tmp_path / "lexicons-only.yaml"
    policy_path.write_text(
        "name: lexicons-only\nscanners: {input: [pii, lexicon, bias], output: [pii]}\n"
        "rules:\n  - {id: all, categories: ['*'], clause: test, thresholds: "
        "[{min_score: 0.5, action: review}]}\n",
        encoding="utf-8",
    )
    engine = build_engine(ModerationSettings(max_text_chars=1_000_000))
    text = ("清爽保湿, 温和不刺激. " * 90_000)[: 1_000_000 - 2] + "最佳"
    decision = engine.moderate_text(text, Direction.INPUT, load_policy(policy_path))
    [finding] = decision.findings
    assert finding.span == (len(text) - 2, len(text))


def test_engine_loads_tenant_policies_from_its_policy_dir(tmp_path: Path) -> None:
    source = load_policy("cn-marketing")
    text = (Path(__file__).parents[2] / "moderation" / "policies" / "cn-marketing.yaml").read_text(
        encoding="utf-8"
    )
    (tmp_path / "tenant-a.yaml").write_text(
        text.replace("name: cn-marketing", "name: tenant-a"), encoding="utf-8"
    )
    engine = build_engine(ModerationSettings(policy_dir=tmp_path))
    assert engine.load_policy("tenant-a").name == "tenant-a"
    assert engine.load_policy("cn-marketing").version == source.version


def test_redact(engine: ModerationEngine) -> None:
    assert engine.redact("打给13812345678") == "打给[REDACTED:cn_mobile]"


def test_toxicity_without_any_classifier_fails_closed(cn_policy: Policy) -> None:
    engine = build_engine(ModerationSettings(offline_classifier=False))
    with pytest.raises(UnknownScannerError):
        engine.moderate_text("hello", Direction.INPUT, cn_policy)


def test_readiness_with_defaults(engine: ModerationEngine) -> None:
    assert engine.readiness_problem() is None


@pytest.mark.parametrize("field", ["lexicon_dir", "bias_lexicon_dir", "policy_dir"])
def test_readiness_names_a_missing_directory(tmp_path: Path, field: str) -> None:
    engine = build_engine(ModerationSettings.model_validate({field: tmp_path / "absent"}))
    problem = engine.readiness_problem()
    assert problem is not None
    assert "absent" in problem


def test_not_an_image_is_415(engine: ModerationEngine, cn_policy: Policy) -> None:
    with pytest.raises(NotAnImageError) as caught:
        engine.moderate_image(b"%PDF-1.7 not an image", Direction.OUTPUT, cn_policy)
    assert caught.value.http_status == 415


def registry_of(image: Image.Image, kind: str) -> list[ImageHashEntry]:
    hashes = compute_hashes(encode(image))
    return [ImageHashEntry(1, kind, "registered", hashes.phash, hashes.dhash)]


@pytest.mark.parametrize("kind", ["banned", "protected"])
def test_registered_image_matches_after_reencoding_and_rescaling(
    engine: ModerationEngine, cn_policy: Policy, photos: dict[str, Image.Image], kind: str
) -> None:
    astronaut = photos["astronaut"]
    registry = registry_of(astronaut, kind)
    variants = [
        encode(astronaut.convert("RGB"), "JPEG", quality=75),
        encode(astronaut.resize((256, 256))),
        encode(Image.eval(astronaut, lambda value: min(255, int(value * 1.15)))),
    ]
    expected = Action.BLOCK if kind == "banned" else Action.REVIEW
    for variant in variants:
        decision = engine.moderate_image(
            variant, Direction.OUTPUT, cn_policy, tenant_images=registry
        )
        assert decision.action is expected
        assert decision.findings[0].category == f"image_match.{kind}"


def test_other_images_do_not_match(
    engine: ModerationEngine, cn_policy: Policy, photos: dict[str, Image.Image]
) -> None:
    registry = registry_of(photos["astronaut"], "banned")
    for name in ("coffee", "chelsea"):
        decision = engine.moderate_image(
            encode(photos[name]), Direction.OUTPUT, cn_policy, tenant_images=registry
        )
        assert decision.action is Action.ALLOW


def test_the_policy_chooses_the_scanners(tmp_path: Path) -> None:
    path = tmp_path / "pii-only.yaml"
    path.write_text(
        "name: pii-only\nscanners: {input: [pii], output: [pii]}\n"
        "rules:\n  - {id: all, categories: ['*'], clause: test, thresholds: "
        "[{min_score: 0.5, action: block}]}\n",
        encoding="utf-8",
    )
    engine = build_engine(ModerationSettings())
    decision = engine.moderate_text("最佳，你是傻逼", Direction.INPUT, load_policy(path))
    assert decision.action is Action.ALLOW  # neither lexicon nor toxicity ran


def test_an_unknown_scanner_lists_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        "name: typo\nscanners: {input: [lexicon, piii], output: [pii]}\n"
        "rules:\n  - {id: all, categories: ['*'], clause: test, thresholds: "
        "[{min_score: 0.5, action: block}]}\n",
        encoding="utf-8",
    )
    engine = build_engine(ModerationSettings())
    with pytest.raises(UnknownScannerError, match="known: bias, detoxify, lexicon, pii"):
        engine.warm_up(load_policy(path))


def test_findings_are_capped_per_category_and_long_texts_stay_fast(
    engine: ModerationEngine, cn_policy: Policy
) -> None:
    import time

    text = "招聘35岁以下河南人勿扰最佳" * 6000
    started = time.perf_counter()
    decision = engine.moderate_text(text, Direction.INPUT, cn_policy)
    assert time.perf_counter() - started < 10  # was quadratic in the number of hits
    per_category: dict[str, int] = {}
    for finding in decision.findings:
        per_category[finding.category] = per_category.get(finding.category, 0) + 1
    assert per_category == {"bias.age": 50, "bias.region": 50, "ad_law.absolute_term": 50}
    assert decision.action is Action.REVIEW


def test_decisions_pin_the_versions_of_the_scanners_that_ran(
    engine: ModerationEngine, cn_policy: Policy
) -> None:
    decision = engine.moderate_text("新品", Direction.INPUT, cn_policy)
    names = [entry.split("=", 1)[0] for entry in decision.scanner_versions]
    assert names == list(cn_policy.input_scanners)
    versions = dict(entry.split("=", 1) for entry in decision.scanner_versions)
    assert "ad_law_zh@2026.11.1" in versions["lexicon"]
    assert versions["toxicity"].startswith("alt-profanity-check@")
    with_brands = engine.moderate_text(
        "新品", Direction.INPUT, cn_policy, tenant_lists=TenantLists(banned_terms=("x",))
    )
    brand_versions = dict(entry.split("=", 1) for entry in with_brands.scanner_versions)
    assert brand_versions["lexicon"].startswith(versions["lexicon"] + ",tenant@")


PIECES = [
    "最佳",
    "最",
    "佳",
    "傻逼",
    " ",
    "\u200b",
    "，",
    "《",
    "》",
    "第一",
    "次",
    "河南人",
    "勿扰",
    "招聘",
    "35岁以下",
    "fuck",
    "F",
    "idiot",
    "13812345678",
    "a@b.cn",
    "產品",
    "ＡＢ",
    "😀",
]


@given(st.lists(st.sampled_from(PIECES), max_size=25))
@settings(max_examples=150, deadline=None)
def test_any_text_gets_a_decision_with_spans_inside_it(
    engine: ModerationEngine, cn_policy: Policy, pieces: list[str]
) -> None:
    text = "".join(pieces)
    decision = engine.moderate_text(text, Direction.INPUT, cn_policy)
    for finding in decision.findings:
        assert 0.0 <= finding.score <= 1.0
        assert finding.span is not None
        start, end = finding.span
        assert 0 <= start < end <= len(text)
        if finding.scanner in {"lexicon", "bias"}:
            assert text[start:end] == finding.evidence


def test_concurrent_calls_agree_with_sequential_ones(cn_policy: Policy) -> None:
    from concurrent.futures import ThreadPoolExecutor

    engine = build_engine(ModerationSettings())  # fresh: scanners get built under contention
    texts = ["全网最低价", "你是傻逼", "电话13812345678", "Nice colours", "招聘店员, 35岁以下"] * 8
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(
            pool.map(lambda t: engine.moderate_text(t, Direction.INPUT, cn_policy), texts)
        )
    assert concurrent == [engine.moderate_text(t, Direction.INPUT, cn_policy) for t in texts]
