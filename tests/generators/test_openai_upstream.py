"""The openai-upstream generator against a real HTTP server on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

from common.types import ContentKind
from generators.interface import (
    GenerationFailedError,
    GenerationRequest,
    GeneratorNotReadyError,
    InvalidParamsError,
)
from generators.openai_upstream import OpenAIUpstreamGenerator
from generators.settings import GeneratorSettings

API_KEY = "sk-test-upstream"


class ChatHandler(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible chat completions endpoint; the model name picks a behaviour."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            self.answer(404, {"error": {"message": f"no route {self.path}"}})
            return
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            self.answer(401, {"error": {"message": "Incorrect API key provided"}})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatHandler.received.append(body)
        behaviour = body["model"]
        if behaviour == "overloaded":
            self.answer(503, {"error": {"message": "server overloaded"}})
        elif behaviour == "bad-request":
            self.answer(400, {"error": {"message": "max_tokens is too large"}})
        elif behaviour == "garbage":
            self.send_raw(200, b"<html>not json</html>")
        elif behaviour == "no-choices":
            self.answer(200, {"id": "x", "choices": []})
        elif behaviour == "slow":
            time.sleep(1)
            self.answer(200, completion(body, "late"))
        else:
            prompt = body["messages"][-1]["content"]
            self.answer(200, completion(body, f"为「{prompt}」写的文案"))

    def answer(self, status: int, payload: dict[str, Any]) -> None:
        self.send_raw(status, json.dumps(payload, ensure_ascii=False).encode())

    def send_raw(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # The client may have given up waiting: the timeout test wants exactly that.
        with contextlib.suppress(BrokenPipeError):
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


def completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": body["model"],
        "system_fingerprint": "fp_loopback",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 12, "total_tokens": 19},
    }


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def upstream(
    base_url: str | None, model: str = "qwen-test", **overrides: Any
) -> OpenAIUpstreamGenerator:
    settings = GeneratorSettings(
        upstream_base_url=base_url,
        upstream_api_key=SecretStr(overrides.pop("key", API_KEY)),
        upstream_model=model,
        **overrides,
    )
    return OpenAIUpstreamGenerator(settings)


def request(prompt: str = "新品保温杯", **params: Any) -> GenerationRequest:
    return GenerationRequest(kind=ContentKind.TEXT, prompt=prompt, params=params)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_forwards_prompt_and_params(base_url: str) -> None:
    artifact = upstream(base_url).generate(
        request(max_new_tokens=50, temperature=0.2, top_p=0.9, seed=4)
    )

    assert artifact.text == "为「新品保温杯」写的文案"
    assert artifact.generator == "openai-upstream"
    assert artifact.model == "qwen-test"
    assert artifact.model_revision == "fp_loopback"
    assert artifact.usage.prompt_tokens == 7
    assert artifact.usage.completion_tokens == 12
    assert artifact.finish_reason == "stop"
    assert not artifact.text_watermarked
    sent = ChatHandler.received[-1]
    assert sent["messages"] == [{"role": "user", "content": "新品保温杯"}]
    assert sent["max_tokens"] == 50
    assert (sent["temperature"], sent["top_p"], sent["seed"]) == (0.2, 0.9, 4)


def test_wrong_key_is_a_generation_failure_without_the_key(base_url: str) -> None:
    with pytest.raises(GenerationFailedError, match="refused the configured API key") as caught:
        upstream(base_url, key="sk-wrong-secret").generate(request())

    assert "sk-wrong-secret" not in caught.value.message
    assert caught.value.http_status == 502


def test_overloaded_upstream_is_not_ready(base_url: str) -> None:
    with pytest.raises(GeneratorNotReadyError, match=r"HTTP 503\): server overloaded") as caught:
        upstream(base_url, model="overloaded").generate(request())

    assert caught.value.http_status == 503


def test_rejected_request_carries_the_upstream_message(base_url: str) -> None:
    with pytest.raises(GenerationFailedError, match="max_tokens is too large"):
        upstream(base_url, model="bad-request").generate(request())


@pytest.mark.parametrize(
    ("model", "message"), [("garbage", "invalid JSON"), ("no-choices", "no choices")]
)
def test_malformed_answers_are_generation_failures(base_url: str, model: str, message: str) -> None:
    with pytest.raises(GenerationFailedError, match=message):
        upstream(base_url, model=model).generate(request())


def test_timeout_is_not_ready(base_url: str) -> None:
    with pytest.raises(GeneratorNotReadyError, match=r"did not answer within 0\.3 s"):
        upstream(base_url, model="slow", upstream_timeout_s=0.3).generate(request())


def test_unreachable_server_is_not_ready() -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"

    with pytest.raises(GeneratorNotReadyError, match="unreachable"):
        upstream(closed).generate(request())


def test_unconfigured_upstream_reports_a_readiness_problem() -> None:
    generator = upstream(None)

    problem = generator.readiness_problem()

    assert problem is not None
    assert "UPSTREAM_BASE_URL" in problem
    with pytest.raises(GeneratorNotReadyError):
        generator.generate(request())


def test_bad_params_are_rejected_before_any_request(base_url: str) -> None:
    before = len(ChatHandler.received)

    with pytest.raises(InvalidParamsError, match="unknown parameter"):
        upstream(base_url).generate(request(stream=True))
    with pytest.raises(InvalidParamsError, match="max_new_tokens"):
        upstream(base_url).generate(request(max_new_tokens=-5))

    assert len(ChatHandler.received) == before
