"""The OpenAPI document says what the service really answers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.db


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def test_every_error_is_documented_in_the_contracts_shape(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status in ("400", "404", "409", "415", "422"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}, (
                    method,
                    path,
                    status,
                )


@pytest.mark.parametrize(
    ("method", "path", "media_type"),
    [
        ("get", "/v1/ledger/checkpoint", "text/plain"),
        ("get", "/metrics", "text/plain"),
        ("get", "/v1/generations/{generation_id}/content", "image/png"),
        ("get", "/v1/generations/{generation_id}/content", "text/plain"),
        ("post", "/v1/chat/completions", "text/event-stream"),
        ("post", "/v1/chat/completions", "application/json"),
    ],
)
def test_success_media_types_are_documented(
    document: dict[str, Any], method: str, path: str, media_type: str
) -> None:
    responses = document["paths"][path][method]["responses"]
    success = next(v for k, v in responses.items() if k.startswith("2"))
    assert media_type in success["content"]
