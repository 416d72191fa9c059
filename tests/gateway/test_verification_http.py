"""``POST /v1/verify``, the soft-binding resolution API and the ``/verify`` page over HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.types import MediaType
from gateway.app import create_app
from gateway.models import Role
from gateway.runtime import Runtime
from provenance.manifest import SOFT_BINDING_ALG, encode_soft_binding_value
from tests.gateway.test_verification_openapi import REPORT_FIELDS
from tests.gateway.test_verification_world import (
    World,
    encode,
    sample_photo,
    strip_metadata,
)
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


def app_with_verifier(runtime: Runtime, world: World) -> FastAPI:
    """The gateway app, verifying against this world's ledger and catalog."""
    runtime.verifier = world.verifier  # replaces the runtime's own (a cached property)
    return create_app(runtime=runtime)


@pytest.fixture
def http(runtime: Runtime, world: World) -> Iterator[TestClient]:
    with TestClient(app_with_verifier(runtime, world), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def stamped_png(world: World) -> tuple[str, bytes]:
    published = world.publish(encode(sample_photo("astronaut", 384), "PNG"), MediaType.PNG)
    return published.generation_id, published.data


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"code", "message", "details", "request_id"}
    if code:
        assert error["code"] == code
    return error


# --- POST /v1/verify ---------------------------------------------------------------------


def test_verify_file_answers_the_contract(http: TestClient, stamped_png: tuple[str, bytes]) -> None:
    generation_id, data = stamped_png
    response = http.post("/v1/verify", files={"file": ("x.png", data, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= set(REPORT_FIELDS)
    assert body["verdict"] == "verified"
    assert body["generation_id"] == generation_id
    assert set(body["explanation"]) == {"zh", "en"}
    assert set(body["c2pa"]) >= {"present", "state", "recovered", "validation_status", "manifest"}
    assert set(body["watermark"]) >= {"present", "watermark_id", "confidence"}
    assert set(body["ledger"]) >= {
        "found",
        "index",
        "leaf_hash",
        "inclusion_proof",
        "checkpoint",
        "anchor",
    }
    assert [event["type"] for event in body["custody"]] == ["generation", "moderation", "stamp"]


def test_verify_stripped_file_without_extension_or_type(
    http: TestClient, stamped_png: tuple[str, bytes]
) -> None:
    generation_id, data = stamped_png
    stripped = strip_metadata(data, "JPEG", quality=75)
    response = http.post(
        "/v1/verify", files={"file": ("upload", stripped, "application/octet-stream")}
    )
    body = response.json()
    assert body["verdict"] == "verified_via_watermark"
    assert body["generation_id"] == generation_id
    assert body["c2pa"]["recovered"] is True


def test_verify_text_as_json(http: TestClient, world: World) -> None:
    published = world.publish("春季新品，欢迎选购。".encode(), MediaType.TEXT)
    response = http.post("/v1/verify", json={"text": published.data.decode("utf-8")})
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "verified"
    assert http.post("/v1/verify", json={"text": "你好"}).json()["verdict"] == "unknown"


@pytest.mark.parametrize(
    ("content", "filename", "content_type", "status", "code"),
    [
        (b"", "empty.png", "image/png", 422, "invalid_media"),
        (bytes(range(256)) * 64, "random.png", "image/png", 415, "unsupported_media_type"),
        (
            encode(sample_photo("astronaut", 300), "JPEG")[:2500],
            "cut.jpg",
            "image/jpeg",
            422,
            "invalid_media",
        ),
    ],
    ids=["empty", "random-bytes-png", "truncated-jpeg"],
)
def test_bad_files_are_4xx_with_reasons(
    http: TestClient, content: bytes, filename: str, content_type: str, status: int, code: str
) -> None:
    response = http.post("/v1/verify", files={"file": (filename, content, content_type)})
    assert_error(response, status, code)
    assert http.get("/healthz").status_code == 200


def test_decompression_bomb_is_413(http: TestClient) -> None:
    from PIL import Image

    bomb = encode(Image.new("1", (20_000, 20_000)), "PNG")
    response = http.post("/v1/verify", files={"file": ("bomb.png", bomb, "image/png")})
    assert_error(response, 413, "media_too_large")


def test_missing_file_part_and_wrong_content_type(http: TestClient) -> None:
    assert_error(http.post("/v1/verify", files={"other": ("a", b"x", "text/plain")}), 422)
    assert_error(http.post("/v1/verify", content=b"abc", headers={"Content-Type": "x/y"}), 415)
    assert_error(http.post("/v1/verify", json={"txt": "typo"}), 422)


def test_upload_over_the_limit_is_413_before_reading(runtime: Runtime, world: World) -> None:
    runtime.settings.limits.max_upload_bytes = 10_000
    with TestClient(app_with_verifier(runtime, world), raise_server_exceptions=False) as client:
        big = encode(sample_photo("astronaut", 256), "PNG")
        assert len(big) > 10_000
        response = client.post("/v1/verify", files={"file": ("big.png", big, "image/png")})
        assert_error(response, 413, "payload_too_large")


def test_rate_limit_answers_429_in_the_error_shape(runtime: Runtime, world: World) -> None:
    runtime.settings.limits.verify_requests_per_minute = 3
    with TestClient(app_with_verifier(runtime, world), raise_server_exceptions=False) as client:
        for _ in range(3):
            assert client.post("/v1/verify", json={"text": "hello"}).status_code == 200
        error = assert_error(client.post("/v1/verify", json={"text": "hello"}), 429)
        assert error["details"]["retry_after_s"] > 0
        # Another client (an API key) has its own bucket.
        key = issue_key(runtime, "acme", Role.GENERATE)
        assert (
            client.post("/v1/verify", json={"text": "hi"}, headers=bearer(key)).status_code == 200
        )


def test_role_gated_when_not_public(runtime: Runtime, world: World) -> None:
    runtime.settings.verify_public = False
    with TestClient(app_with_verifier(runtime, world), raise_server_exceptions=False) as client:
        assert_error(client.post("/v1/verify", json={"text": "x"}), 401)
        generate = issue_key(runtime, "acme", Role.GENERATE)
        assert_error(client.post("/v1/verify", json={"text": "x"}, headers=bearer(generate)), 403)
        audit = issue_key(runtime, "acme", Role.AUDIT)
        response = client.post("/v1/verify", json={"text": "x"}, headers=bearer(audit))
        assert response.status_code == 200


def test_an_invalid_key_is_refused_even_when_public(http: TestClient) -> None:
    response = http.post("/v1/verify", json={"text": "x"}, headers=bearer("aigc_bogus"))
    assert_error(response, 401)


# --- soft-binding resolution -------------------------------------------------------------


def test_soft_binding_resolution_round_trip(
    http: TestClient, world: World, stamped_png: tuple[str, bytes]
) -> None:
    published = world.published[-1]
    algorithms = http.get("/v1/services/supportedAlgorithms").json()
    assert algorithms == {"watermarks": [{"alg": SOFT_BINDING_ALG}], "fingerprints": []}
    value = encode_soft_binding_value(published.result.watermark_id or 0)
    matches = http.get("/v1/matches/byBinding", params={"alg": SOFT_BINDING_ALG, "value": value})
    assert matches.json() == {
        "matches": [{"manifestId": published.result.manifest_label, "similarityScore": 100}]
    }
    posted = http.post("/v1/matches/byBinding", json={"alg": SOFT_BINDING_ALG, "value": value})
    assert posted.json() == matches.json()
    manifest = http.get(f"/v1/manifests/{published.result.manifest_label}")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"] == "application/c2pa"
    assert manifest.content == published.result.manifest_bytes
    stripped = strip_metadata(published.data, "PNG")
    by_content = http.post(
        "/v1/matches/byContent", content=stripped, headers={"Content-Type": "image/png"}
    )
    assert by_content.json() == matches.json()


def test_soft_binding_errors(http: TestClient) -> None:
    value = base64.b64encode(b"\x00" * 8).decode()
    assert_error(http.get("/v1/matches/byBinding", params={"alg": "x.y.1", "value": value}), 400)
    bad_value = {"alg": SOFT_BINDING_ALG, "value": "not base64!"}
    assert_error(http.get("/v1/matches/byBinding", params=bad_value), 422)
    empty = http.get("/v1/matches/byBinding", params={"alg": SOFT_BINDING_ALG, "value": value})
    assert empty.json() == {"matches": []}
    assert_error(http.get("/v1/manifests/urn:c2pa:nope"), 404, "manifest_not_found")


# --- the page ----------------------------------------------------------------------------


def test_page_renders_in_both_languages_with_a_strict_csp(http: TestClient) -> None:
    zh = http.get("/verify", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 200
    assert "内容来源验证" in zh.text
    assert "script-src 'self'" in zh.headers["content-security-policy"]
    en = http.get("/verify?lang=en")
    assert "Content provenance check" in en.text
    assert "http://" not in en.text.replace("http://cv.iptc.org", "")  # nothing from a CDN
    assert (
        http.get("/verify/static/verify.js").headers["content-type"].startswith("text/javascript")
    )
    assert http.get("/verify/static/verify.css").status_code == 200
    assert http.get("/verify/static/../app.py").status_code == 404


def test_page_form_post_renders_the_report_without_javascript(
    http: TestClient, world: World, stamped_png: tuple[str, bytes]
) -> None:
    generation_id, data = stamped_png
    response = http.post("/verify?lang=en", files={"file": ("a.png", data, "image/png")})
    assert response.status_code == 200
    assert 'data-verdict="verified"' in response.text
    assert generation_id in response.text
    assert response.text.count('class="event linked"') == 3
    published = world.publish("第一行\n第二行，新品上市。".encode(), MediaType.TEXT)
    pasted = published.data.decode("utf-8").replace("\n", "\r\n")  # as a browser submits
    assert 'data-verdict="verified"' in http.post("/verify", data={"text": pasted}).text
    text = http.post("/verify?lang=zh", data={"text": "今天天气很好。"})
    assert 'data-verdict="unknown"' in text.text
    broken = http.post("/verify?lang=en", files={"file": ("a.png", b"junk", "image/png")})
    assert broken.status_code == 415
    assert "unsupported_media_type" in broken.text


def test_openapi_documents_both_request_shapes(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    body = spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert "/v1/matches/byBinding" in spec["paths"]
    assert "/verify" not in spec["paths"]  # the page is not an API
