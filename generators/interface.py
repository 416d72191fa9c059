"""The ``Generator`` protocol: anything that turns a prompt into one artifact.

A generator knows nothing about moderation, labels or ledgers; the gateway's
pipeline calls it between input and output moderation::

    generator = build_generator("tiny-text", settings)
    artifact = generator.generate(GenerationRequest(kind=ContentKind.TEXT, prompt="新品上市"))
    artifact.text, artifact.usage.completion_tokens
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from common.errors import InvalidInputError, UnavailableError, UpstreamError
from common.types import ContentKind, MediaType

__all__ = [
    "GeneratedArtifact",
    "GenerationFailedError",
    "GenerationRequest",
    "Generator",
    "GeneratorNotReadyError",
    "InvalidParamsError",
    "UnknownGeneratorError",
    "Usage",
]


class GenerationFailedError(UpstreamError):
    """The model or upstream server failed while generating (502)."""

    code = "generation_failed"


class GeneratorNotReadyError(UnavailableError):
    """The configured model is missing or the upstream is unreachable (503).

    ``message`` goes to clients and names no paths; ``operator_detail`` (for logs and
    ``/readyz``, same as ``readiness_problem()``) may.
    """

    code = "generator_unavailable"

    def __init__(
        self, message: str, *, details: Any = None, operator_detail: str | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.operator_detail = operator_detail or message


class InvalidParamsError(InvalidInputError):
    """A generation parameter is out of range or of the wrong type (422)."""

    code = "invalid_params"


class UnknownGeneratorError(InvalidInputError):
    """A request or setting names a generator the registry does not know (422)."""

    code = "unknown_generator"


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    kind: ContentKind
    prompt: str
    # Generator-specific knobs, validated by the generator: max_new_tokens, temperature,
    # top_p, seed, width, height, steps, guidance ... Unknown keys are an error.
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class GeneratedArtifact:
    """One generated output, as bytes plus what a stamper and a verifier need to know."""

    kind: ContentKind
    media_type: MediaType
    data: bytes
    generator: str  # registry name, e.g. "tiny-text"
    model: str  # model name or path as configured
    model_revision: str  # a hash or version that pins the weights
    usage: Usage = field(default_factory=Usage)
    # For text from our transformers generator: the generated token ids, so the
    # green-list watermark can be detected without re-tokenising (RECIPES: text watermark).
    token_ids: tuple[int, ...] | None = None
    text_watermarked: bool = False
    finish_reason: str = "stop"

    @property
    def text(self) -> str:
        if self.kind is not ContentKind.TEXT:
            raise TypeError(f"a {self.kind} artifact has no text")
        return self.data.decode("utf-8")


@runtime_checkable
class Generator(Protocol):
    """Turns a prompt into one artifact of its kind."""

    name: str
    kind: ContentKind

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        """Generate synchronously; raise the errors above, never a library's own."""
        ...

    def readiness_problem(self) -> str | None:
        """``None`` when ready to serve, else a sentence saying what is missing."""
        ...
