"""Detect the green-list text watermark our transformers text generator applies.

The generator biases a keyed, context-dependent "green" quarter of the vocabulary at
every step (Kirchenbauer et al. 2023, "A Watermark for Large Language Models";
transformers' ``WatermarkingConfig``). Unmarked text hits the green list about 25 % of
the time; marked text far more often, so a one-proportion z-test detects it. This
module is pure detection: no model weights, only the vocabulary size (and the tokenizer
when starting from text)::

    key = derive_text_watermark_key(secret_bytes)       # the same int the generator got
    reading = detect_text_watermark(artifact.token_ids, vocab_size=3072, key=key)
    reading.detected, reading.z_score, reading.p_value

    reading = detect_text_watermark_in_text(text, tokenizer_dir, key)   # re-tokenises

A z threshold of 4 (one-sided p ≈ 3·10⁻⁵) is the default: STANDARDS puts 3.0 at
≈ 1.3·10⁻³ false positives, too many for a provenance claim. About 100+ tokens are
needed; paraphrasing weakens the signal.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_Z_THRESHOLD",
    "TEXT_WATERMARK_BIAS",
    "TEXT_WATERMARK_GREENLIST_RATIO",
    "TEXT_WATERMARK_SEEDING_SCHEME",
    "TextWatermarkReading",
    "derive_text_watermark_key",
    "detect_text_watermark",
    "detect_text_watermark_in_text",
]

# The generator's settings (generators.transformers_text); the detector must replay them.
TEXT_WATERMARK_GREENLIST_RATIO = 0.25
TEXT_WATERMARK_BIAS = 2.5
TEXT_WATERMARK_SEEDING_SCHEME = "lefthash"
DEFAULT_Z_THRESHOLD = 4.0

# torch.Generator.manual_seed takes at most 64 bits; keep the key a positive int63.
_KEY_BITS = 63
_KEY_CONTEXT = b"aigc-gateway/text-watermark/v1"
_SENTINEL_BOS = 0


@dataclass(frozen=True, slots=True)
class TextWatermarkReading:
    z_score: float
    p_value: float  # one-sided: P(at least this many green tokens | unmarked text)
    num_tokens: int  # tokens scored (each needs the token before it)
    green_fraction: float
    detected: bool


def derive_text_watermark_key(secret: bytes) -> int:
    """The watermark's hashing key from a gateway secret (HMAC-SHA256, 63 bits, never 0)."""
    digest = hmac.new(secret, _KEY_CONTEXT, hashlib.sha256).digest()
    return (int.from_bytes(digest[:8], "big") >> (64 - _KEY_BITS)) or 1


def detect_text_watermark(
    token_ids: Sequence[int],
    *,
    vocab_size: int,
    key: int,
    bos_token_id: int | None = None,
    model_config: Any | None = None,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    ignore_repeated_ngrams: bool = True,
) -> TextWatermarkReading:
    """Score ``token_ids`` (the completion only, without the prompt) for the watermark.

    ``model_config`` (a transformers ``PretrainedConfig``) may be passed instead of
    building a minimal one; its ``vocab_size`` must be the generator's. With
    ``ignore_repeated_ngrams`` each (previous, current) token pair counts once, so that
    boilerplate repeated many times cannot push unmarked text over the threshold.
    """
    ids = [int(i) for i in token_ids]
    if bos_token_id is not None and ids[:1] == [bos_token_id]:
        ids = ids[1:]
    if len(ids) < 2:  # left-hash needs one token of context before the first scored one
        return TextWatermarkReading(0.0, 1.0, 0, 0.0, False)
    if model_config is not None:
        vocab_size = int(model_config.vocab_size)
    scored, green = _count_green(ids, vocab_size, key, ignore_repeated_ngrams)
    z_score = z_score_for(green, scored, TEXT_WATERMARK_GREENLIST_RATIO)
    return TextWatermarkReading(
        z_score=z_score,
        p_value=one_sided_p_value(z_score),
        num_tokens=scored,
        green_fraction=green / scored if scored else 0.0,
        detected=z_score >= z_threshold,
    )


def detect_text_watermark_in_text(
    text: str,
    tokenizer_dir: Path | str,
    key: int,
    *,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    ignore_repeated_ngrams: bool = True,
) -> TextWatermarkReading:
    """Re-tokenise ``text`` with the generator's tokenizer and score it.

    ``tokenizer_dir`` is the text model's directory: its ``config.json`` gives the
    vocabulary size the green lists were drawn from.
    """
    tokenizer, vocab_size = _tokenizer_and_vocab(str(tokenizer_dir))
    ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
    return detect_text_watermark(
        ids,
        vocab_size=vocab_size,
        key=key,
        z_threshold=z_threshold,
        ignore_repeated_ngrams=ignore_repeated_ngrams,
    )


def z_score_for(green: int, scored: int, ratio: float) -> float:
    """Kirchenbauer et al. 2023, §3 eq. (2): z = (|s|_G − γT) / √(T γ (1 − γ))."""
    if scored == 0:
        return 0.0
    return (green - ratio * scored) / math.sqrt(scored * ratio * (1 - ratio))


def one_sided_p_value(z_score: float) -> float:
    return 0.5 * math.erfc(z_score / math.sqrt(2))


def _count_green(
    ids: Sequence[int], vocab_size: int, key: int, ignore_repeated_ngrams: bool
) -> tuple[int, int]:
    """Tokens scored and green tokens, from transformers' ``WatermarkDetector``."""
    import torch

    detector, lock = _detector(vocab_size, key, ignore_repeated_ngrams)
    # The detector drops a leading BOS (id 0 in the minimal config): prepend one so that
    # exactly that is dropped and every id of ours is scored.
    batch = torch.tensor([[_SENTINEL_BOS, *ids]], dtype=torch.long)
    # The detector reseeds one shared torch.Generator per green-list lookup: serialise.
    with lock:
        output = detector(batch, return_dict=True)
    return int(output.num_tokens_scored[0]), int(output.num_green_tokens[0])


@functools.lru_cache(maxsize=16)
def _detector(
    vocab_size: int, key: int, ignore_repeated_ngrams: bool
) -> tuple[Any, threading.Lock]:
    from transformers import PretrainedConfig, WatermarkDetector, WatermarkingConfig

    # The detector reads only vocab_size, bos_token_id and is_encoder_decoder from the
    # model config.
    config = PretrainedConfig(vocab_size=vocab_size, bos_token_id=_SENTINEL_BOS)  # type: ignore[call-arg]  # takes **kwargs at runtime
    watermarking = WatermarkingConfig(
        greenlist_ratio=TEXT_WATERMARK_GREENLIST_RATIO,
        bias=TEXT_WATERMARK_BIAS,
        hashing_key=key,
        seeding_scheme=TEXT_WATERMARK_SEEDING_SCHEME,
    )
    detector = WatermarkDetector(
        config, "cpu", watermarking, ignore_repeated_ngrams=ignore_repeated_ngrams
    )
    return detector, threading.Lock()


@functools.lru_cache(maxsize=4)
def _tokenizer_and_vocab(tokenizer_dir: str) -> tuple[Any, int]:
    from transformers import AutoTokenizer

    config = json.loads((Path(tokenizer_dir) / "config.json").read_text("utf-8"))
    vocab_size = int(config.get("text_config", config)["vocab_size"])
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    return tokenizer, vocab_size
