"""Fixtures for the moderation tests: one engine per session (the classifier loads once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation import ModerationEngine, ModerationSettings, Policy, build_engine, load_policy

DETOXIFY_CLASSES = (
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
    "sexual_explicit",
)


@pytest.fixture(scope="session")
def engine() -> ModerationEngine:
    return build_engine(ModerationSettings())


@pytest.fixture(scope="session")
def cn_policy() -> Policy:
    return load_policy("cn-marketing")


@pytest.fixture(scope="session")
def eu_policy() -> Policy:
    return load_policy("eu-general")


@pytest.fixture(scope="session")
def detoxify_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT saved the way Detoxify loads checkpoints (RECIPES: detoxify).

    ``model_type`` names a local directory holding the config and vocabulary, so
    Detoxify's ``from_pretrained(model_type)`` never reaches the hub.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    base = tmp_path_factory.mktemp("tiny-bert")
    words = ["you", "are", "an", "idiot", "great", "product", "buy", "now", "the", "is"]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (base / "vocab.txt").write_text("\n".join(specials + words) + "\n", encoding="utf-8")
    config = BertConfig(
        vocab_size=len(specials) + len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    config.num_labels = len(DETOXIFY_CLASSES)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    config.save_pretrained(base)
    BertTokenizer(str(base / "vocab.txt")).save_pretrained(base)
    checkpoint = base / "tiny-detoxify.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": str(base),
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(DETOXIFY_CLASSES),
                    }
                },
                "dataset": {"args": {"classes": list(DETOXIFY_CLASSES)}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint
