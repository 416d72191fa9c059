"""Idempotency-Key on POST /v1/generations and /v1/stamp: a retry gets the first answer."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.idempotency import IdempotencyKeyInProgressError, IdempotencyKeys
from gateway.models import Role
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db

BODY = {"kind": "text", "prompt": "春季新款连衣裙"}


def _post(client: TestClient, key: str, body: dict[str, Any], idem: str | None) -> Any:
    headers = {**bearer(key), **({"Idempotency-Key": idem} if idem else {})}
    return client.post("/v1/generations", json=body, headers=headers)


@pytest.fixture
def key(runtime: Runtime) -> str:
    return issue_key(runtime, "acme", Role.GENERATE)


def test_the_same_key_and_body_answer_with_the_first_generation(
    client: TestClient, key: str
) -> None:
    first = _post(client, key, BODY, "order-42")
    again = _post(client, key, BODY, "order-42")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    listed = client.get("/v1/generations", headers=bearer(key)).json()["items"]
    assert [g["id"] for g in listed] == [first.json()["id"]]  # one generation, not two


def test_the_same_key_with_another_body_is_422(client: TestClient, key: str) -> None:
    assert _post(client, key, BODY, "k-1").status_code == 201
    reused = _post(client, key, {**BODY, "prompt": "另一款"}, "k-1")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


def test_without_a_key_every_request_is_new(client: TestClient, key: str) -> None:
    ids = {_post(client, key, BODY, None).json()["id"] for _ in range(2)}
    assert len(ids) == 2


def test_keys_are_per_tenant(client: TestClient, runtime: Runtime, key: str) -> None:
    other = issue_key(runtime, "globex", Role.GENERATE)
    mine, theirs = _post(client, key, BODY, "shared"), _post(client, other, BODY, "shared")
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.parametrize("bad", ["", "a" * 256, "空格 key"])
def test_a_malformed_key_is_422(client: TestClient, key: str, bad: str) -> None:
    response = client.post(
        "/v1/generations",
        json=BODY,
        headers={**bearer(key), "Idempotency-Key": bad.encode()},  # bytes: sent as they are
    )
    assert response.status_code == 422


def test_a_request_still_running_is_409_and_a_failed_one_frees_the_key(
    runtime: Runtime,
) -> None:
    keys = IdempotencyKeys(runtime.engine)
    assert keys.claim("acme", "generations", "k", "h1") is None
    with pytest.raises(IdempotencyKeyInProgressError):
        keys.claim("acme", "generations", "k", "h1")
    keys.abandon("acme", "generations", "k")
    assert keys.claim("acme", "generations", "k", "h1") is None


def test_a_key_expires_after_its_window(runtime: Runtime) -> None:
    now = [1_000_000.0]
    keys = IdempotencyKeys(runtime.engine, ttl_s=60, clock=lambda: now[0])
    assert keys.claim("acme", "generations", "k", "h1") is None
    keys.complete("acme", "generations", "k", "gen_1")
    assert keys.claim("acme", "generations", "k", "h1") == "gen_1"
    now[0] += 61
    assert keys.claim("acme", "generations", "k", "h2") is None  # free again, any body


def test_a_claim_left_by_a_dead_process_is_freed(runtime: Runtime) -> None:
    now = [1_000_000.0]
    keys = IdempotencyKeys(runtime.engine, clock=lambda: now[0], in_progress_ttl_s=600)
    assert keys.claim("acme", "generations", "k", "h1") is None  # then the process dies
    now[0] += 30
    with pytest.raises(IdempotencyKeyInProgressError):
        keys.claim("acme", "generations", "k", "h1")
    now[0] += 600
    assert keys.claim("acme", "generations", "k", "h1") is None  # the retry runs it
    keys.complete("acme", "generations", "k", "gen_1")
    now[0] += 3600  # a finished key keeps its window (24 h)
    assert keys.claim("acme", "generations", "k", "h1") == "gen_1"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_stamp_replays_the_first_upload(client: TestClient, key: str) -> None:
    def upload(data: bytes) -> Any:
        return client.post(
            "/v1/stamp",
            files={"file": ("a.png", data, "image/png")},
            headers={**bearer(key), "Idempotency-Key": "upload-1"},
        )

    png = _png()
    first, again = upload(png), upload(png)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    other = io.BytesIO()
    Image.new("RGB", (64, 64), "black").save(other, format="PNG")
    assert upload(other.getvalue()).json()["error"]["code"] == "idempotency_key_reused"
