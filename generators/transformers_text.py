"""Text generation with a Hugging Face causal LM, green-list watermarked as it samples.

The model is a local directory (loaded with ``local_files_only``) or a hub id; it is
loaded once, on first use or on :meth:`TransformersTextGenerator.load`, and kept in
memory. One generation runs at a time per model (a lock): torch already uses every
core for one request, and the seed must govern the global sampling RNG alone::

    generator = TransformersTextGenerator(settings.text_model_source(), settings=settings,
                                          watermark_key=key)
    artifact = generator.generate(GenerationRequest(ContentKind.TEXT, "新品上市，",
                                                    {"max_new_tokens": 64, "seed": 7}))
    artifact.text, artifact.token_ids, artifact.text_watermarked

Watermark: transformers' ``WatermarkingConfig`` (Kirchenbauer et al. 2023, green list
γ = 0.25, δ = 2.5, left-hash seeding; RECIPES: text watermark) keyed by the gateway's
secret. Tokens that decode to a partial UTF-8 sequence are banned so that the released
text re-tokenises to the ids that were scored, and ``provenance.text_watermark`` can
detect the watermark in plain text.

Parameters (all optional): ``max_new_tokens``, ``min_new_tokens``, ``temperature``
(0 = greedy), ``top_p``, ``seed``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.types import ContentKind, MediaType
from generators.interface import (
    GeneratedArtifact,
    GenerationFailedError,
    GenerationRequest,
    GeneratorNotReadyError,
    InvalidParamsError,
    Usage,
)
from generators.model_files import LazyModel, apply_torch_threads, model_revision
from generators.params import read_float, read_int, read_seed, reject_unknown_params
from generators.settings import GeneratorSettings, ModelSource

__all__ = [
    "TEXT_WATERMARK_BIAS",
    "TEXT_WATERMARK_GREENLIST_RATIO",
    "TEXT_WATERMARK_SEEDING_SCHEME",
    "TextParams",
    "TransformersTextGenerator",
]

# Must equal provenance.text_watermark's detector settings (a test checks they agree).
TEXT_WATERMARK_GREENLIST_RATIO = 0.25
TEXT_WATERMARK_BIAS = 2.5
TEXT_WATERMARK_SEEDING_SCHEME = "lefthash"

logger = logging.getLogger(__name__)

_MIN_SAMPLING_TEMPERATURE = 1e-2
TEXT_PARAMS = frozenset({"max_new_tokens", "min_new_tokens", "temperature", "top_p", "seed"})
REPLACEMENT_CHARACTER = "\ufffd"  # what a partial UTF-8 sequence decodes to


@dataclass(frozen=True, slots=True)
class TextParams:
    max_new_tokens: int
    min_new_tokens: int
    temperature: float
    top_p: float
    seed: int

    @classmethod
    def from_request(cls, params: Mapping[str, Any], settings: GeneratorSettings) -> TextParams:
        reject_unknown_params(params, TEXT_PARAMS)
        max_new = read_int(
            params,
            "max_new_tokens",
            default=settings.text_default_max_new_tokens,
            minimum=1,
            maximum=settings.text_max_new_tokens_limit,
        )
        return cls(
            max_new_tokens=max_new,
            min_new_tokens=read_int(
                params, "min_new_tokens", default=0, minimum=0, maximum=max_new
            ),
            temperature=read_float(params, "temperature", default=1.0, minimum=0.0, maximum=2.0),
            top_p=read_float(params, "top_p", default=1.0, minimum=0.01, maximum=1.0),
            seed=read_seed(params),
        )


@dataclass(frozen=True, slots=True)
class _LoadedModel:
    model: Any
    tokenizer: Any
    revision: str
    max_positions: int | None
    banned_token_ids: tuple[int, ...]


class TransformersTextGenerator:
    """A ``Generator`` for text over ``AutoModelForCausalLM``."""

    kind = ContentKind.TEXT

    def __init__(
        self,
        source: ModelSource,
        *,
        settings: GeneratorSettings,
        watermark_key: int | None = None,
        name: str = "transformers-text",
    ) -> None:
        self.name = name
        self.source = source
        self._settings = settings
        # Watermark only with a key: a well-known default key would let anyone forge it.
        self._watermark_key = watermark_key if settings.text_watermark else None
        self._lock = threading.Lock()
        self._model: LazyModel[_LoadedModel] = LazyModel(
            self._lock,
            self._load,
            self._files_problem,
            f"the {name} model is not installed; an operator must run "
            "`aigc-gateway models init` or configure AIGC_GENERATORS__TEXT_MODEL",
        )

    @property
    def watermarks(self) -> bool:
        return self._watermark_key is not None

    @property
    def vocab_size(self) -> int:
        """The vocabulary size the watermark's green lists are drawn from (loads the model)."""
        return int(self._model.get().model.config.get_text_config().vocab_size)

    def readiness_problem(self) -> str | None:
        return self._model.readiness_problem()

    def _files_problem(self) -> str | None:
        path = self.source.path
        if path is None:
            return None  # a hub id: only loading can tell
        if not path.is_dir():
            return (
                f"The text model directory {path} does not exist; run "
                "`aigc-gateway models init` to build the default models, or set "
                "AIGC_GENERATORS__TEXT_MODEL to a model directory or hub id."
            )
        if not (path / "config.json").is_file():
            return (
                f"The text model directory {path} has no config.json; run "
                "`aigc-gateway models init` or point AIGC_GENERATORS__TEXT_MODEL elsewhere."
            )
        return None

    def load(self) -> None:
        """Load the model now rather than on the first request."""
        self._model.get()

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        if request.kind is not ContentKind.TEXT:
            raise InvalidParamsError(f"{self.name} generates text, not {request.kind}")
        params = TextParams.from_request(request.params, self._settings)
        loaded = self._model.get()
        prompt_ids = self._encode_prompt(loaded, request.prompt)
        check_context_fits(len(prompt_ids), params.max_new_tokens, loaded.max_positions)
        with self._lock:
            # OpenMP's thread count is per OS thread: a server's worker thread would
            # otherwise run with the default (all cores) however the model was loaded.
            apply_torch_threads(self._settings.torch_threads)
            try:
                new_ids = self._sample(loaded, prompt_ids, params)
            except (RuntimeError, ValueError, IndexError) as exc:
                logger.exception("text generation failed in %s", self.name)
                raise GenerationFailedError(
                    f"the text model failed to generate ({type(exc).__name__})"
                ) from exc
        return self._artifact(loaded, prompt_ids, new_ids)

    def _load(self) -> _LoadedModel:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        apply_torch_threads(self._settings.torch_threads)
        local = {"local_files_only": True} if self.source.is_local else {}
        try:
            tokenizer: Any = AutoTokenizer.from_pretrained(self.source.load_from, **local)
            model: Any = AutoModelForCausalLM.from_pretrained(self.source.load_from, **local)
        except (OSError, ValueError) as exc:
            raise GeneratorNotReadyError(
                f"the {self.name} model could not be loaded",
                operator_detail=f"The text model {self.source.name} could not be loaded: {exc}",
            ) from exc
        model.to(self._settings.device).eval()
        text_config = model.config.get_text_config()
        return _LoadedModel(
            model=model,
            tokenizer=tokenizer,
            revision=model_revision(self.source, getattr(model.config, "_commit_hash", None)),
            max_positions=getattr(text_config, "max_position_embeddings", None),
            banned_token_ids=self._banned_ids(tokenizer, text_config.vocab_size),
        )

    def _banned_ids(self, tokenizer: Any, vocab_size: int) -> tuple[int, ...]:
        # Special tokens other than EOS never belong in released text.
        banned = set(tokenizer.all_special_ids) - {tokenizer.eos_token_id}
        if self.watermarks:
            # Partial UTF-8 tokens break decode → re-encode, and with it watermark
            # detection from plain text (RECIPES: text watermark).
            banned.update(partial_utf8_token_ids(tokenizer, vocab_size))
        return tuple(sorted(banned))

    def _encode_prompt(self, loaded: _LoadedModel, prompt: str) -> list[int]:
        tokenizer = loaded.tokenizer
        if getattr(tokenizer, "chat_template", None):
            # Instruction-tuned models expect their chat format.
            messages = [{"role": "user", "content": prompt}]
            encoded = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True
            )
            return list(encoded["input_ids"])
        ids: list[int] = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if tokenizer.bos_token_id is not None:
            ids = [tokenizer.bos_token_id, *ids]
        if not ids:
            raise InvalidParamsError("the prompt is empty and the model has no BOS token")
        return ids

    def _sample(self, loaded: _LoadedModel, prompt_ids: list[int], params: TextParams) -> list[int]:
        import torch

        input_ids = torch.tensor([prompt_ids], device=self._settings.device)
        torch.manual_seed(params.seed)  # generate() samples from the global RNG
        with torch.inference_mode():
            output = loaded.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                **self._generate_kwargs(loaded, params),
            )
        generated: list[int] = output[0, len(prompt_ids) :].tolist()
        return generated

    def _generate_kwargs(self, loaded: _LoadedModel, params: TextParams) -> dict[str, Any]:
        tokenizer = loaded.tokenizer
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "min_new_tokens": params.min_new_tokens or None,
            "pad_token_id": (
                tokenizer.pad_token_id
                if tokenizer.pad_token_id is not None
                else tokenizer.eos_token_id
            ),
            "eos_token_id": tokenizer.eos_token_id,
            "suppress_tokens": list(loaded.banned_token_ids) or None,
        }
        # Logits divided by a temperature near zero overflow to inf and the softmax turns
        # NaN (5e-324 crashed sampling); greedy decoding is the limit those values mean.
        if params.temperature >= _MIN_SAMPLING_TEMPERATURE:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self._watermark_key is not None:
            kwargs["watermarking_config"] = self._watermarking_config(self._watermark_key)
        return kwargs

    @staticmethod
    def _watermarking_config(key: int) -> Any:
        from transformers import WatermarkingConfig

        return WatermarkingConfig(
            greenlist_ratio=TEXT_WATERMARK_GREENLIST_RATIO,
            bias=TEXT_WATERMARK_BIAS,
            hashing_key=key,
            seeding_scheme=TEXT_WATERMARK_SEEDING_SCHEME,
        )

    def _artifact(
        self, loaded: _LoadedModel, prompt_ids: Sequence[int], new_ids: list[int]
    ) -> GeneratedArtifact:
        eos = loaded.tokenizer.eos_token_id
        stopped = bool(new_ids) and new_ids[-1] == eos
        content_ids = new_ids[:-1] if stopped else new_ids
        text = loaded.tokenizer.decode(
            content_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return GeneratedArtifact(
            kind=ContentKind.TEXT,
            media_type=MediaType.TEXT,
            data=text.encode("utf-8"),
            generator=self.name,
            model=self.source.name,
            model_revision=loaded.revision,
            usage=Usage(prompt_tokens=len(prompt_ids), completion_tokens=len(new_ids)),
            token_ids=tuple(content_ids),
            text_watermarked=self.watermarks,
            finish_reason="stop" if stopped else "length",
        )


def partial_utf8_token_ids(tokenizer: Any, vocab_size: int) -> list[int]:
    """Ids whose text on their own is an incomplete UTF-8 sequence."""
    known = min(vocab_size, len(tokenizer))
    banned = [i for i in range(known) if REPLACEMENT_CHARACTER in tokenizer.decode([i])]
    # Ids beyond the tokenizer (models pad their embedding matrix) decode to nothing.
    banned.extend(range(known, vocab_size))
    return banned


def check_context_fits(prompt_tokens: int, max_new_tokens: int, max_positions: int | None) -> None:
    if max_positions is not None and prompt_tokens + max_new_tokens > max_positions:
        raise InvalidParamsError(
            f"the prompt ({prompt_tokens} tokens) plus max_new_tokens ({max_new_tokens}) "
            f"exceeds the model's context of {max_positions} tokens",
            details={"prompt_tokens": prompt_tokens, "max_positions": max_positions},
        )
