"""The transformers text generator on the tiny trained LM."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from common.types import ContentKind, MediaType
from generators.interface import (
    GenerationRequest,
    GeneratorNotReadyError,
    InvalidParamsError,
)
from generators.settings import TINY_TEXT_MODEL_DIR, GeneratorSettings, ModelSource
from generators.transformers_text import TransformersTextGenerator, partial_utf8_token_ids

WATERMARK_KEY = 0x5EED_CAFE_F00D


@pytest.fixture(scope="module")
def generator(tiny_settings: GeneratorSettings) -> TransformersTextGenerator:
    text = TransformersTextGenerator(
        tiny_settings.text_model_source(), settings=tiny_settings, watermark_key=WATERMARK_KEY
    )
    text.load()
    return text


def request(prompt: str = "新品上市，", **params: Any) -> GenerationRequest:
    return GenerationRequest(kind=ContentKind.TEXT, prompt=prompt, params=params)


def test_same_seed_gives_the_same_text(generator: TransformersTextGenerator) -> None:
    first = generator.generate(request(seed=11, max_new_tokens=40))
    second = generator.generate(request(seed=11, max_new_tokens=40))
    other = generator.generate(request(seed=12, max_new_tokens=40))

    assert first.data == second.data
    assert first.token_ids == second.token_ids
    assert other.data != first.data


def test_artifact_describes_the_generation(generator: TransformersTextGenerator) -> None:
    artifact = generator.generate(request("Meet the new", seed=3, max_new_tokens=24))

    assert artifact.kind is ContentKind.TEXT
    assert artifact.media_type is MediaType.TEXT
    assert artifact.generator == "transformers-text"
    assert artifact.model == TINY_TEXT_MODEL_DIR
    assert len(artifact.model_revision) == 16
    assert artifact.text_watermarked
    assert artifact.token_ids is not None
    assert 0 < artifact.usage.completion_tokens <= 24
    assert artifact.usage.prompt_tokens >= 3
    assert artifact.finish_reason in {"stop", "length"}
    assert artifact.text == artifact.data.decode("utf-8")


def test_trained_model_writes_recognisable_copy(generator: TransformersTextGenerator) -> None:
    artifact = generator.generate(request("这款", seed=5, max_new_tokens=48, temperature=0.7))
    print(f"\nsample (watermarked): 这款{artifact.text}")

    chinese = [ch for ch in artifact.text if "\u4e00" <= ch <= "\u9fff"]
    assert len(chinese) >= 10
    assert "\ufffd" not in artifact.text
    # Copy is made of short lines ending in full stops or commas, like the corpus.
    assert any(mark in artifact.text for mark in "，。")


def test_max_new_tokens_caps_the_output(generator: TransformersTextGenerator) -> None:
    artifact = generator.generate(request(seed=1, max_new_tokens=5))

    assert artifact.usage.completion_tokens <= 5
    assert len(artifact.token_ids or ()) <= 5


def test_min_new_tokens_forces_length(generator: TransformersTextGenerator) -> None:
    artifact = generator.generate(request(seed=2, max_new_tokens=120, min_new_tokens=120))

    assert artifact.usage.completion_tokens == 120
    assert artifact.finish_reason == "length"


def test_greedy_decoding_ignores_the_seed(generator: TransformersTextGenerator) -> None:
    first = generator.generate(request(seed=1, temperature=0, max_new_tokens=20))
    second = generator.generate(request(seed=2, temperature=0, max_new_tokens=20))

    assert first.data == second.data


@pytest.mark.parametrize("temperature", [5e-324, 1e-300, 1e-5])
def test_a_vanishing_temperature_decodes_greedily(
    generator: TransformersTextGenerator, temperature: float
) -> None:
    # Logits / 5e-324 overflowed and sampling crashed (the gateway answered 502).
    tiny = generator.generate(request(seed=1, temperature=temperature, max_new_tokens=20))
    greedy = generator.generate(request(seed=2, temperature=0, max_new_tokens=20))
    assert tiny.data == greedy.data


def test_text_re_tokenises_to_the_generated_ids(generator: TransformersTextGenerator) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(generator.source.load_from)
    artifact = generator.generate(request(seed=9, max_new_tokens=80, min_new_tokens=80))

    assert tuple(tokenizer(artifact.text, add_special_tokens=False)["input_ids"]) == (
        artifact.token_ids
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_new_tokens": -1}, "max_new_tokens must be between 1"),
        ({"max_new_tokens": 0}, "max_new_tokens must be between 1"),
        ({"max_new_tokens": 10_000}, "max_new_tokens must be between 1 and 1024"),
        ({"max_new_tokens": "5"}, "max_new_tokens must be an integer"),
        ({"max_new_tokens": True}, "max_new_tokens must be an integer"),
        ({"min_new_tokens": 50, "max_new_tokens": 10}, "min_new_tokens must be between 0 and 10"),
        ({"temperature": -0.5}, "temperature must be between"),
        ({"temperature": float("nan")}, "temperature must be between"),
        ({"top_p": 0}, "top_p must be between"),
        ({"seed": -3}, "seed must be between"),
        ({"stop": ["\n"]}, "unknown parameter"),
        ({"width": 64}, "unknown parameter"),
    ],
)
def test_bad_params_are_rejected(
    generator: TransformersTextGenerator, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParamsError, match=message):
        generator.generate(request(**params))


def test_prompt_longer_than_the_context_is_rejected(
    generator: TransformersTextGenerator,
) -> None:
    with pytest.raises(InvalidParamsError, match="exceeds the model's context"):
        generator.generate(request("新品" * 600, max_new_tokens=1000))


def test_wrong_kind_is_rejected(generator: TransformersTextGenerator) -> None:
    with pytest.raises(InvalidParamsError, match="generates text"):
        generator.generate(GenerationRequest(kind=ContentKind.IMAGE, prompt="x"))


def test_without_a_key_text_is_not_watermarked(tiny_settings: GeneratorSettings) -> None:
    plain = TransformersTextGenerator(tiny_settings.text_model_source(), settings=tiny_settings)

    artifact = plain.generate(request(seed=4, max_new_tokens=8))

    assert not artifact.text_watermarked


def test_missing_model_directory_is_a_readiness_problem(tmp_path: Path) -> None:
    settings = GeneratorSettings(models_dir=tmp_path)
    missing = TransformersTextGenerator(settings.text_model_source(), settings=settings)

    problem = missing.readiness_problem()

    assert problem is not None
    assert str(tmp_path / TINY_TEXT_MODEL_DIR) in problem
    assert "aigc-gateway models init" in problem
    with pytest.raises(GeneratorNotReadyError, match="models init") as caught:
        missing.generate(request())
    # Clients see no paths; operators get the full sentence.
    assert str(tmp_path) not in caught.value.message
    assert caught.value.operator_detail == problem


def test_directory_without_config_is_a_readiness_problem(tmp_path: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    source = ModelSource.parse(str(tmp_path / "empty-model"), None)

    problem = TransformersTextGenerator(source, settings=GeneratorSettings()).readiness_problem()

    assert problem is not None
    assert "config.json" in problem


def test_ready_generator_reports_no_problem(generator: TransformersTextGenerator) -> None:
    assert generator.readiness_problem() is None


def test_partial_utf8_tokens_are_never_generated(generator: TransformersTextGenerator) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(generator.source.load_from)
    banned = set(partial_utf8_token_ids(tokenizer, generator.vocab_size))
    artifact = generator.generate(request(seed=21, max_new_tokens=150, min_new_tokens=150))

    # The byte-level vocabulary has fragments of multi-byte characters (lone bytes at least).
    assert len(banned) >= 128
    assert all("\ufffd" in tokenizer.decode([token]) for token in banned)
    assert banned.isdisjoint(artifact.token_ids or ())


def test_concurrent_requests_match_sequential_ones(generator: TransformersTextGenerator) -> None:
    requests = [request(seed=seed, max_new_tokens=24) for seed in range(4)]
    sequential = [generator.generate(r).data for r in requests]

    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = [artifact.data for artifact in pool.map(generator.generate, requests)]

    assert concurrent == sequential


def test_chat_template_formats_the_prompt(tiny_settings: GeneratorSettings, tmp_path: Path) -> None:
    source_dir = tiny_settings.text_model_source().path
    assert source_dir is not None
    chat_dir = tmp_path / "chat-lm"
    shutil.copytree(source_dir, chat_dir)
    config_path = chat_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    # An instruction-tuned model's template: the user turn, then the assistant's cue.
    config["chat_template"] = (
        "{% for m in messages %}<|bos|>user: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    config_path.write_text(json.dumps(config))
    chat = TransformersTextGenerator(ModelSource.parse(str(chat_dir), None), settings=tiny_settings)
    plain = TransformersTextGenerator(tiny_settings.text_model_source(), settings=tiny_settings)

    templated = chat.generate(request("保温杯", seed=1, max_new_tokens=4))
    untemplated = plain.generate(request("保温杯", seed=1, max_new_tokens=4))

    assert templated.usage.prompt_tokens > untemplated.usage.prompt_tokens


def test_special_tokens_other_than_eos_are_never_generated(
    tiny_settings: GeneratorSettings,
) -> None:
    from transformers import AutoTokenizer

    plain = TransformersTextGenerator(tiny_settings.text_model_source(), settings=tiny_settings)
    tokenizer = AutoTokenizer.from_pretrained(plain.source.load_from)
    artifact = plain.generate(request(seed=8, max_new_tokens=120, min_new_tokens=120))

    assert set(tokenizer.all_special_ids).isdisjoint(artifact.token_ids or ())
