"""Build the tiny default text model: a locally trained tokenizer and a 2-layer Llama.

No weights can be downloaded here, so the default text generator is built from a config
and trained for a few seconds on the bundled corpus of marketing copy
(``generators/tiny/corpus/*.txt``, written for this project). It memorises much of that
corpus, which is the point: it writes recognisable, if simple, copy::

    directory = build_tiny_text_model(Path("data/models/tiny-text-lm"))  # ~25 s, one core
    AutoModelForCausalLM.from_pretrained(directory, local_files_only=True)

The tokenizer is byte-level BPE with every non-ASCII character pre-tokenised on its own,
so no token spans two Chinese characters and every character of the corpus has a
complete token. That keeps decode → re-encode stable, which the text watermark detector
relies on (RECIPES: text watermark).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generators.model_files import read_build_marker, write_build_marker
from generators.tiny._build import atomic_model_dir, deterministic_torch, quiet_progress_bars
from generators.tiny.bpe import byte_level_alphabet, train_bpe

if TYPE_CHECKING:
    import torch

__all__ = ["CORPUS_DIR", "TEXT_BUILDER_VERSION", "TinyLMRecipe", "build_tiny_text_model"]

CORPUS_DIR = Path(__file__).parent / "corpus"
TEXT_BUILDER_VERSION = 1

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN = "<|pad|>", "<|bos|>", "<|eos|>"
# Every non-ASCII character is its own pre-token: BPE then merges bytes within one
# character only, so no token decodes to a fragment spanning two characters.
NON_ASCII_CHARACTER = r"[^\x00-\x7f]"


@dataclass(frozen=True, slots=True)
class TinyLMRecipe:
    vocab_size: int = 3072
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    max_positions: int = 1024
    context_tokens: int = 64
    batch_size: int = 16
    train_steps: int = 300
    peak_learning_rate: float = 4e-3
    warmup_steps: int = 20
    seed: int = 20261123


def build_tiny_text_model(target: Path, recipe: TinyLMRecipe | None = None) -> Path:
    """Build the tokenizer and model into ``target``; a completed build is left alone."""
    if read_build_marker(target) is not None:
        return target
    recipe = recipe or TinyLMRecipe()
    with (
        atomic_model_dir(target) as work_dir,
        deterministic_torch(recipe.seed),
        quiet_progress_bars(),
    ):
        documents = read_corpus_documents()
        tokenizer = train_tokenizer(documents, recipe.vocab_size)
        model = new_model(tokenizer, recipe)
        train_model(model, token_stream(tokenizer, documents), recipe)
        model.eval()
        model.save_pretrained(work_dir)
        tokenizer.save_pretrained(work_dir)
        write_build_marker(work_dir, name=target.name, builder_version=TEXT_BUILDER_VERSION)
    return target


def read_corpus_documents() -> list[str]:
    """Blank-line separated blocks of the corpus files, in file-name order."""
    documents: list[str] = []
    for path in sorted(CORPUS_DIR.glob("*.txt")):
        blocks = path.read_text("utf-8").split("\n\n")
        documents.extend(block.strip() for block in blocks if block.strip())
    return documents


def train_tokenizer(documents: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``documents``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(NON_ASCII_CHARACTER), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    words = [
        piece for document in documents for piece, _ in pre_tokenizer.pre_tokenize_str(document)
    ]
    special_tokens = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN]
    # Every piece counts (no minimum frequency), so every character of the corpus ends
    # up with a complete token.
    vocab, merges = train_bpe(
        words, vocab_size=vocab_size, alphabet=byte_level_alphabet(), special_tokens=special_tokens
    )
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(special_tokens)
    # transformers leaves this constructor unannotated.
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )


def new_model(tokenizer: Any, recipe: TinyLMRecipe) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.hidden_size * 3,
        num_hidden_layers=recipe.num_layers,
        num_attention_heads=recipe.num_heads,
        num_key_value_heads=recipe.num_heads,
        max_position_embeddings=recipe.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def token_stream(tokenizer: Any, documents: Sequence[str]) -> torch.Tensor:
    """All documents as one id stream, each wrapped in BOS … EOS so the model learns to stop."""
    import torch

    ids: list[int] = []
    for document in documents:
        encoded = tokenizer(document, add_special_tokens=False)["input_ids"]
        ids.extend([tokenizer.bos_token_id, *encoded, tokenizer.eos_token_id])
    return torch.tensor(ids, dtype=torch.long)


def train_model(model: Any, stream: torch.Tensor, recipe: TinyLMRecipe) -> None:
    """Next-token training on random windows of ``stream``; warm-up, then linear decay."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.peak_learning_rate)
    windows = torch.Generator().manual_seed(recipe.seed)
    model.train()
    for step in range(recipe.train_steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, recipe)
        batch = sample_windows(stream, recipe.context_tokens, recipe.batch_size, windows)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def learning_rate(step: int, recipe: TinyLMRecipe) -> float:
    warmup = min(1.0, (step + 1) / recipe.warmup_steps)
    decay = max(0.1, 1.0 - step / recipe.train_steps)
    return recipe.peak_learning_rate * warmup * decay


def sample_windows(
    stream: torch.Tensor, length: int, count: int, generator: torch.Generator
) -> torch.Tensor:
    import torch

    starts = torch.randint(0, len(stream) - length, (count,), generator=generator)
    return torch.stack([stream[start : start + length] for start in starts.tolist()])
