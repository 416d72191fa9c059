"""Forward text generation to any OpenAI-compatible server (chat completions).

For deployments that generate with a hosted or self-hosted LLM (vLLM, llama.cpp server,
a cloud API) and use the gateway for moderation, labelling and the ledger::

    settings = GeneratorSettings(upstream_base_url="http://127.0.0.1:8001/v1",
                                 upstream_api_key="sk-...", upstream_model="qwen2.5")
    artifact = OpenAIUpstreamGenerator(settings).generate(
        GenerationRequest(ContentKind.TEXT, "写一句新品文案", {"max_new_tokens": 64}))

Parameters map onto the chat completions request: ``max_new_tokens`` → ``max_tokens``,
``temperature``, ``top_p``, ``seed``. Unreachable servers, timeouts and 5xx/429 answers
raise ``GeneratorNotReadyError`` (503, retry later); a refused key, other 4xx answers and
malformed bodies raise ``GenerationFailedError`` (502). Messages never carry the key.
The upstream's text carries no watermark of ours (``text_watermarked`` is false).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
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
from generators.params import MAX_SEED, read_float, read_int, reject_unknown_params
from generators.settings import GeneratorSettings

__all__ = ["OpenAIUpstreamGenerator"]

UPSTREAM_PARAMS = frozenset({"max_new_tokens", "temperature", "top_p", "seed"})
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_ERROR_CHARS = 300


class OpenAIUpstreamGenerator:
    """A ``Generator`` for text that calls ``POST {base_url}/chat/completions``."""

    kind = ContentKind.TEXT

    def __init__(self, settings: GeneratorSettings, name: str = "openai-upstream") -> None:
        self.name = name
        self._settings = settings
        self._client: Any = None
        self._client_lock = threading.Lock()

    def readiness_problem(self) -> str | None:
        if not self._settings.upstream_base_url:
            return (
                "No upstream server is configured for openai-upstream; set "
                "AIGC_GENERATORS__UPSTREAM_BASE_URL (and UPSTREAM_API_KEY, UPSTREAM_MODEL)."
            )
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        if request.kind is not ContentKind.TEXT:
            raise InvalidParamsError(f"{self.name} generates text, not {request.kind}")
        body = self._request_body(request.prompt, request.params)
        problem = self.readiness_problem()
        if problem is not None:
            raise GeneratorNotReadyError(problem)
        answer = self._post(body)
        return self._artifact(answer)

    def _request_body(self, prompt: str, params: Mapping[str, Any]) -> dict[str, Any]:
        reject_unknown_params(params, UPSTREAM_PARAMS)
        body: dict[str, Any] = {
            "model": self._settings.upstream_model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": read_int(
                params,
                "max_new_tokens",
                default=self._settings.text_default_max_new_tokens,
                minimum=1,
                maximum=self._settings.text_max_new_tokens_limit,
            ),
        }
        if "temperature" in params:
            body["temperature"] = read_float(
                params, "temperature", default=1.0, minimum=0.0, maximum=2.0
            )
        if "top_p" in params:
            body["top_p"] = read_float(params, "top_p", default=1.0, minimum=0.01, maximum=1.0)
        if params.get("seed") is not None:
            body["seed"] = read_int(params, "seed", default=0, minimum=0, maximum=MAX_SEED)
        return body

    def _http(self) -> Any:
        import httpx

        with self._client_lock:
            if self._client is None:
                headers = {}
                if self._settings.upstream_api_key is not None:
                    key = self._settings.upstream_api_key.get_secret_value()
                    headers["Authorization"] = f"Bearer {key}"
                self._client = httpx.Client(
                    base_url=str(self._settings.upstream_base_url).rstrip("/") + "/",
                    headers=headers,
                    timeout=self._settings.upstream_timeout_s,
                )
            return self._client

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            response = self._http().post("chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise GeneratorNotReadyError(
                f"the upstream server did not answer within {self._settings.upstream_timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise GeneratorNotReadyError(
                f"the upstream server is unreachable ({type(exc).__name__})"
            ) from exc
        if response.status_code >= 400:
            raise upstream_status_error(response.status_code, upstream_message(response))
        try:
            answer = response.json()
        except ValueError as exc:
            raise GenerationFailedError("the upstream server answered with invalid JSON") from exc
        if not isinstance(answer, dict):
            raise GenerationFailedError("the upstream server answered with a non-object")
        return answer

    def _artifact(self, answer: dict[str, Any]) -> GeneratedArtifact:
        try:
            choice = answer["choices"][0]
            content = choice["message"]["content"] or ""
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (KeyError, IndexError, TypeError) as exc:
            raise GenerationFailedError(
                "the upstream answer has no choices[0].message.content"
            ) from exc
        usage = answer.get("usage") or {}
        return GeneratedArtifact(
            kind=ContentKind.TEXT,
            media_type=MediaType.TEXT,
            data=content.encode("utf-8"),
            generator=self.name,
            model=str(answer.get("model") or self._settings.upstream_model),
            model_revision=str(answer.get("system_fingerprint") or answer.get("model") or ""),
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            ),
            finish_reason=str(choice.get("finish_reason") or "stop"),
        )


def upstream_message(response: Any) -> str:
    """The upstream's own error message (OpenAI shape ``{"error": {"message"}}``), trimmed."""
    try:
        payload = response.json()
        message = (
            payload["error"]["message"] if isinstance(payload["error"], dict) else payload["error"]
        )
    except (ValueError, KeyError, TypeError):
        message = response.text
    return str(message)[:MAX_ERROR_CHARS]


def upstream_status_error(
    status: int, message: str
) -> GenerationFailedError | GeneratorNotReadyError:
    if status in RETRYABLE_STATUSES:
        return GeneratorNotReadyError(
            f"the upstream server is unavailable (HTTP {status}): {message}",
            details={"upstream_status": status},
        )
    if status in {401, 403}:
        return GenerationFailedError(
            f"the upstream server refused the configured API key (HTTP {status})",
            details={"upstream_status": status},
        )
    return GenerationFailedError(
        f"the upstream server rejected the request (HTTP {status}): {message}",
        details={"upstream_status": status},
    )
