"""Hostile and malformed requests: each a 4xx in the error shape; the service lives on."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

from gateway.models import Role
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


@pytest.fixture
def key(runtime: Runtime) -> str:
    return issue_key(runtime, "acme", Role.GENERATE)


@pytest.fixture(autouse=True)
def still_healthy_after(client: TestClient) -> Iterator[None]:
    yield
    assert client.get("/healthz").status_code == 200


def assert_error(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "details", "request_id"}
    if code:
        assert error["code"] == code


def post_raw(client: TestClient, key: str, body: bytes) -> Any:
    headers = {**bearer(key), "Content-Type": "application/json"}
    return client.post("/v1/generations", content=body, headers=headers)


def test_malformed_json_is_422(client: TestClient, key: str) -> None:
    assert_error(post_raw(client, key, b'{"kind": "text", "prompt": '), 422, "invalid_request")


def test_invalid_utf8_is_422(client: TestClient, key: str) -> None:
    assert_error(post_raw(client, key, b'{"kind": "text", "prompt": "\xff\xfe"}'), 422)


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "text", "prompt": 5},
        {"kind": "video", "prompt": "x"},
        {"kind": "text", "prompt": "x", "params": []},
        {"kind": "text"},
        {"kind": "text", "prompt": "x", "surprise": 1},
        {"kind": "text", "prompt": "x", "callback_url": "file:///etc/passwd"},
        [1, 2, 3],
    ],
    ids=["prompt-int", "bad-kind", "params-list", "no-prompt", "extra-field", "bad-url", "array"],
)
def test_schema_violations_are_422(client: TestClient, key: str, payload: object) -> None:
    response = client.post("/v1/generations", json=payload, headers=bearer(key))
    assert_error(response, 422, "invalid_request")


@pytest.mark.parametrize("prompt", ["", "   \n "], ids=["empty", "blank"])
def test_empty_prompt_is_422(client: TestClient, key: str, prompt: str) -> None:
    response = client.post(
        "/v1/generations", json={"kind": "text", "prompt": prompt}, headers=bearer(key)
    )
    assert_error(response, 422)


def test_ten_megabyte_body_is_413(client: TestClient, key: str) -> None:
    body = b'{"kind": "text", "prompt": "' + b"a" * 10_000_000 + b'"}'
    assert_error(post_raw(client, key, body), 413, "payload_too_large")


def test_chunked_oversized_body_is_413(client: TestClient, key: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"kind": "text", "prompt": "'
        for _ in range(20):
            yield b"a" * 100_000
        yield b'"}'

    headers = {**bearer(key), "Content-Type": "application/json"}
    response = client.post("/v1/generations", content=chunks(), headers=headers)
    assert_error(response, 413, "payload_too_large")


def test_prompt_over_the_length_limit_is_413(
    client: TestClient, key: str, runtime: Runtime
) -> None:
    prompt = "好" * (runtime.settings.limits.max_prompt_chars + 1)
    response = client.post(
        "/v1/generations", json={"kind": "text", "prompt": prompt}, headers=bearer(key)
    )
    assert_error(response, 413, "payload_too_large")


def test_unknown_generator_is_422_listing_known(client: TestClient, key: str) -> None:
    response = client.post(
        "/v1/generations",
        json={"kind": "text", "prompt": "x", "generator": "gpt-17"},
        headers=bearer(key),
    )
    assert_error(response, 422, "unknown_generator")
    assert response.json()["error"]["details"]["known"] == ["echo-text"]


def test_negative_max_new_tokens_is_422(client: TestClient, key: str) -> None:
    response = client.post(
        "/v1/generations",
        json={"kind": "text", "prompt": "x", "params": {"max_new_tokens": -5}},
        headers=bearer(key),
    )
    assert_error(response, 422, "invalid_params")


def test_unknown_route_is_404_in_error_shape(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_in_error_shape(client: TestClient) -> None:
    assert_error(client.delete("/healthz"), 405)


def test_deeply_nested_json_is_422_not_a_crash(client: TestClient, key: str) -> None:
    # py_ecc (loaded with the embedded EVM) raises the recursion limit to 100,000, so
    # without the guard this body would overflow the C stack inside json.loads.
    body = (
        b'{"kind": "text", "prompt": "x", "params": {"a": '
        + b"[" * 200_000
        + b"]" * 200_000
        + b"}}"
    )
    assert_error(post_raw(client, key, body), 422, "json_too_deep")


@pytest.mark.parametrize("content_type", ["application/json", "application/problem+json"])
def test_deep_json_is_refused_whatever_its_json_media_type(
    client: TestClient, key: str, content_type: str
) -> None:
    headers = {**bearer(key), "Content-Type": content_type}
    body = b"[" * 100 + b"]" * 100
    assert_error(client.post("/v1/generations", content=body, headers=headers), 422)


def test_a_binary_body_full_of_brackets_is_not_taken_for_deep_json(client: TestClient) -> None:
    # An image's bytes may hold any number of "[" and "{": only JSON bodies are checked.
    image = Image.new("RGB", (64, 64), "white")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=_text_chunk(b"{" * 500))
    response = client.post(
        "/v1/matches/byContent", content=buffer.getvalue(), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"matches": []}


def _text_chunk(value: bytes) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", value.decode())
    return info


@pytest.mark.parametrize(
    "content_type",
    ["application/jsonl", "application/json-seq", "text/plain", "application/octet-stream", ""],
)
def test_deep_nesting_is_refused_whatever_the_declared_type(
    client: TestClient, content_type: str
) -> None:
    # The verify route took anything starting "application/json" for JSON, while the
    # guard checked only application/json and +json: jsonl crashed the process.
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/verify", content=b"[" * 100_000, headers=headers)
    assert_error(response, 422, "json_too_deep")


def test_json_lines_is_not_taken_for_json(client: TestClient) -> None:
    headers = {"Content-Type": "application/jsonl"}
    response = client.post("/v1/verify", content=b'{"text": "hi"}\n', headers=headers)
    assert_error(response, 415)


def test_recursion_limit_is_sane_after_the_evm_loads() -> None:
    import sys

    from ledger.anchor.web3_anchor import embedded_anchor

    embedded_anchor()
    assert sys.getrecursionlimit() <= 10_000


@pytest.mark.parametrize(
    "path",
    [
        "/v1/ledger/entries/9223372036854775808",
        "/v1/ledger/proofs/inclusion?index=9223372036854775808",
        "/v1/ledger/proofs/inclusion?index=0&tree_size=9223372036854775808",
        "/v1/ledger/proofs/consistency?first=9223372036854775808",
        "/v1/ledger/proofs/consistency?first=1&second=99999999999999999999999",
    ],
)
def test_integers_beyond_64_bits_are_422(client: TestClient, runtime: Runtime, path: str) -> None:
    admin = issue_key(runtime, "acme", Role.ADMIN)
    assert_error(client.get(path, headers=bearer(admin)), 422)


@pytest.mark.parametrize("row_id", ["2147483648", "9223372036854775807", "9223372036854775808"])
@pytest.mark.parametrize("kind", ["terms", "images"])
def test_deleting_a_row_id_beyond_its_column_is_422(
    client: TestClient, runtime: Runtime, kind: str, row_id: str
) -> None:
    # Row ids are 32-bit on PostgreSQL: INT64_MAX was a 500 there (found by schemathesis).
    admin = issue_key(runtime, "acme", Role.ADMIN)
    response = client.delete(f"/v1/moderation/{kind}/{row_id}", headers=bearer(admin))
    assert_error(response, 422)


@pytest.mark.parametrize("kind", ["terms", "images"])
def test_deleting_the_largest_row_id_is_404(
    client: TestClient, runtime: Runtime, kind: str
) -> None:
    admin = issue_key(runtime, "acme", Role.ADMIN)
    response = client.delete(f"/v1/moderation/{kind}/2147483647", headers=bearer(admin))
    assert_error(response, 404)


def test_lone_surrogates_in_chat_content_are_422(client: TestClient, key: str) -> None:
    body = b'{"model": "default", "messages": [{"role": "user", "content": "hi \\ud800"}]}'
    headers = {**bearer(key), "Content-Type": "application/json"}
    response = client.post("/v1/chat/completions", content=body, headers=headers)
    assert_error(response, 422)


def test_lone_surrogates_in_a_prompt_are_422(client: TestClient, key: str) -> None:
    assert_error(post_raw(client, key, b'{"kind": "text", "prompt": "hi \\udfff"}'), 422)


def _admin(runtime: Runtime) -> dict[str, str]:
    return bearer(issue_key(runtime, "acme", Role.ADMIN))


@pytest.mark.parametrize(
    "term",
    [b'"\\u0000x"', b'"a\\u0000"', b'"\\ud816\\u00e7"', b'"x\\uDFFF"'],
    ids=["leading-nul", "trailing-nul", "high-surrogate-alone", "low-surrogate-alone"],
)
def test_text_no_store_can_keep_is_422_before_the_database(
    client: TestClient, runtime: Runtime, term: bytes
) -> None:
    # PostgreSQL refuses NUL in text: this was a 500 there (found by schemathesis).
    body = b'{"kind": "product_name", "term": ' + term + b"}"
    headers = {**_admin(runtime), "Content-Type": "application/json"}
    response = client.post("/v1/moderation/terms", content=body, headers=headers)
    assert_error(response, 422, "unstorable_text")
    assert response.json()["error"]["details"]["reason"] in {"nul", "lone_surrogate"}


def test_a_nul_in_a_json_key_is_422(client: TestClient, key: str) -> None:
    response = post_raw(client, key, b'{"kind": "text", "prompt": "x", "p\\u0000": 1}')
    assert_error(response, 422, "unstorable_text")


@pytest.mark.parametrize(
    "term",
    ['"\\\\u0000 is how JSON writes NUL"', '"\\ud83d\\ude00 smile"'],
    ids=["escaped-backslash", "surrogate-pair"],
)
def test_text_that_only_looks_suspect_is_accepted(
    client: TestClient, runtime: Runtime, term: str
) -> None:
    body = '{"kind": "product_name", "term": ' + term + "}"
    headers = {**_admin(runtime), "Content-Type": "application/json"}
    response = client.post("/v1/moderation/terms", content=body.encode(), headers=headers)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "url", ["/v1/reviews?queue=%00", "/v1/generations?status=a%00b", "/v1/generations/%00"]
)
def test_a_nul_in_the_path_or_query_is_422(client: TestClient, key: str, url: str) -> None:
    assert_error(client.get(url, headers=bearer(key)), 422, "invalid_input")


def test_a_nul_in_stamp_meta_is_422(client: TestClient, key: str) -> None:
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(png, format="PNG")
    response = client.post(
        "/v1/stamp",
        files={"file": ("a.png", png.getvalue(), "image/png")},
        data={"meta": '{"source": "cam\\u0000era"}'},
        headers=bearer(key),
    )
    assert_error(response, 422, "unstorable_text")


def test_a_nul_in_a_urlencoded_form_is_422(client: TestClient) -> None:
    response = client.post("/review/login", data={"api_key": "a\x00b", "csrf_token": "x"})
    assert_error(response, 422, "invalid_input")
