"""A deterministic text generator for gateway tests (no model, no torch)."""

from __future__ import annotations

import hashlib

from common.types import ContentKind, MediaType
from generators.interface import GeneratedArtifact, GenerationRequest, InvalidParamsError, Usage

_ALLOWED = {"max_new_tokens", "temperature", "top_p", "seed"}


class EchoTextGenerator:
    """Writes a fixed sentence about the prompt; honours max_new_tokens and seed."""

    name = "echo-text"
    kind = ContentKind.TEXT

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        unknown = set(request.params) - _ALLOWED
        if unknown:
            raise InvalidParamsError(f"unknown parameters: {sorted(unknown)}")
        max_new_tokens = request.params.get("max_new_tokens", 32)
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise InvalidParamsError("max_new_tokens must be a positive integer")
        seed = request.params.get("seed", 0)
        words = f"精选好物 {request.prompt} 新品上市 seed {seed}".split()[:max_new_tokens]
        text = " ".join(words)
        return GeneratedArtifact(
            kind=ContentKind.TEXT,
            media_type=MediaType.TEXT,
            data=text.encode(),
            generator=self.name,
            model="echo",
            model_revision=hashlib.sha256(b"echo").hexdigest()[:12],
            usage=Usage(prompt_tokens=len(request.prompt.split()), completion_tokens=len(words)),
        )

    def readiness_problem(self) -> str | None:
        return None
