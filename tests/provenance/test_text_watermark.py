"""Detecting the green-list text watermark on the tiny LM's output and on human text."""

from __future__ import annotations

from pathlib import Path

import pytest

import generators.transformers_text as text_generator
import provenance.text_watermark as detector
from common.types import ContentKind
from generators.interface import GeneratedArtifact, GenerationRequest
from generators.settings import TINY_TEXT_MODEL_DIR, GeneratorSettings
from generators.tiny.text_lm import read_corpus_documents
from generators.transformers_text import TransformersTextGenerator
from provenance.text_watermark import (
    TextWatermarkReading,
    derive_text_watermark_key,
    detect_text_watermark,
    detect_text_watermark_in_text,
)

KEY = derive_text_watermark_key(b"\x01\x02\x03\x04\x05\x06\x07\x08")

HUMAN_TEXT = (
    "周末的早晨，我们沿着河边慢慢散步，看见几位老人在树下下棋，孩子们追着风筝跑。"
    "路边的小店刚刚开门，老板把新鲜出炉的包子摆在窗口，热气在冷空气里升起来。"
    "The river was quiet that morning. A man on a bench read yesterday's paper while his dog "
    "watched the ducks, and somewhere behind us a bicycle bell rang twice before the street "
    "filled with the usual noise of buses, vendors and people hurrying to work."
)


@pytest.fixture(scope="module")
def model_dir(tiny_models_dir: Path) -> Path:
    return tiny_models_dir / TINY_TEXT_MODEL_DIR


@pytest.fixture(scope="module")
def generator(model_dir: Path) -> TransformersTextGenerator:
    settings = GeneratorSettings(models_dir=model_dir.parent)
    return TransformersTextGenerator(
        settings.text_model_source(), settings=settings, watermark_key=KEY
    )


@pytest.fixture(scope="module")
def marked(generator: TransformersTextGenerator) -> list[GeneratedArtifact]:
    """Three watermarked completions of 200 tokens."""
    return [
        generator.generate(
            GenerationRequest(
                ContentKind.TEXT,
                prompt,
                {"max_new_tokens": 200, "min_new_tokens": 200, "seed": seed},
            )
        )
        for seed, prompt in enumerate(["新品上市，", "Meet the new", "这款"])
    ]


def test_detected_on_generated_token_ids(
    generator: TransformersTextGenerator, marked: list[GeneratedArtifact]
) -> None:
    for artifact in marked:
        assert artifact.token_ids is not None
        reading = detect_text_watermark(
            artifact.token_ids, vocab_size=generator.vocab_size, key=KEY
        )
        print(f"\nids: z={reading.z_score:.2f} p={reading.p_value:.1e} n={reading.num_tokens}")
        assert reading.detected
        assert reading.z_score >= 4
        assert reading.p_value < 1e-4
        assert reading.num_tokens >= 100


def test_detected_in_plain_text(model_dir: Path, marked: list[GeneratedArtifact]) -> None:
    for artifact in marked:
        reading = detect_text_watermark_in_text(artifact.text, model_dir, KEY)
        print(f"\ntext: z={reading.z_score:.2f} n={reading.num_tokens}")
        assert reading.detected
        assert reading.z_score >= 4


def test_survives_a_label_added_around_the_text(
    model_dir: Path, marked: list[GeneratedArtifact]
) -> None:
    labelled = f"【AI生成】{marked[0].text}\n（本内容由人工智能生成）"

    assert detect_text_watermark_in_text(labelled, model_dir, KEY).detected


def test_not_detected_with_another_key(model_dir: Path, marked: list[GeneratedArtifact]) -> None:
    other_key = derive_text_watermark_key(b"another gateway")

    for artifact in marked:
        reading = detect_text_watermark_in_text(artifact.text, model_dir, other_key)
        assert not reading.detected
        assert abs(reading.z_score) < 4


def test_not_detected_on_human_text(model_dir: Path) -> None:
    reading = detect_text_watermark_in_text(HUMAN_TEXT, model_dir, KEY)

    assert reading.num_tokens >= 100
    assert not reading.detected
    assert reading.z_score < 3


def test_not_detected_on_the_human_written_corpus(model_dir: Path) -> None:
    for document in read_corpus_documents()[:40:4]:
        assert not detect_text_watermark_in_text(document, model_dir, KEY).detected


def test_not_detected_on_unwatermarked_generation(model_dir: Path) -> None:
    settings = GeneratorSettings(models_dir=model_dir.parent)
    plain = TransformersTextGenerator(settings.text_model_source(), settings=settings)
    artifact = plain.generate(
        GenerationRequest(ContentKind.TEXT, "这款", {"max_new_tokens": 200, "seed": 1})
    )

    reading = detect_text_watermark_in_text(artifact.text, model_dir, KEY)

    assert not reading.detected
    assert reading.z_score < 3


def test_too_short_to_score() -> None:
    assert detect_text_watermark([5], vocab_size=100, key=KEY) == TextWatermarkReading(
        0.0, 1.0, 0, 0.0, False
    )


def test_leading_bos_is_not_scored() -> None:
    with_bos = detect_text_watermark([1, 7, 8, 9], vocab_size=100, key=KEY, bos_token_id=1)
    without = detect_text_watermark([7, 8, 9], vocab_size=100, key=KEY)

    assert with_bos == without
    assert without.num_tokens == 2


def test_repeated_pairs_count_once_by_default() -> None:
    repetitive = [3, 4] * 50

    assert detect_text_watermark(repetitive, vocab_size=100, key=KEY).num_tokens == 2
    counted = detect_text_watermark(
        repetitive, vocab_size=100, key=KEY, ignore_repeated_ngrams=False
    )
    assert counted.num_tokens == 99


def test_key_derivation_is_stable_and_fits_a_torch_seed() -> None:
    key = derive_text_watermark_key(b"secret")

    assert key == derive_text_watermark_key(b"secret")
    assert key != derive_text_watermark_key(b"secret2")
    assert 0 < key < 2**63


def test_detector_replays_the_generator_settings() -> None:
    assert detector.TEXT_WATERMARK_GREENLIST_RATIO == text_generator.TEXT_WATERMARK_GREENLIST_RATIO
    assert detector.TEXT_WATERMARK_BIAS == text_generator.TEXT_WATERMARK_BIAS
    assert detector.TEXT_WATERMARK_SEEDING_SCHEME == text_generator.TEXT_WATERMARK_SEEDING_SCHEME
