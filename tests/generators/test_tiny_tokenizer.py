"""Properties of the tiny LM's tokenizer that the text watermark relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generators.settings import TINY_TEXT_MODEL_DIR

# Chinese, fullwidth punctuation, Latin, digits, emoji and whitespace.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.sampled_from("，。！？、：；（）【】“”"),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from("😀🎉\n\t é"),
    ),
    max_size=60,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_models_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_models_dir / TINY_TEXT_MODEL_DIR)


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_any_text_round_trips(tokenizer: Any, text: str) -> None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]

    decoded = tokenizer.decode(ids, clean_up_tokenization_spaces=False)

    assert decoded == text
    assert tokenizer(decoded, add_special_tokens=False)["input_ids"] == ids


def test_every_corpus_character_has_a_whole_token(tokenizer: Any) -> None:
    from generators.tiny.text_lm import read_corpus_documents

    characters = {ch for document in read_corpus_documents() for ch in document}

    for character in sorted(characters - {" ", "\n"}):
        ids = tokenizer(character, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, character
