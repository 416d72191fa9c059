"""/openapi.json documents the 200 body of ``POST /v1/verify``: the report's own model."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.verification import VerificationReportPublic

pytestmark = pytest.mark.db

REPORT_FIELDS = (
    "verdict",
    "generation_id",
    "explanation",
    "c2pa",
    "watermark",
    "implicit_label",
    "explicit_label",
    "ledger",
    "custody",
)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    return dict(document["components"]["schemas"][name])


@pytest.fixture
def report_schema(client: TestClient) -> dict[str, Any]:
    document = client.get("/openapi.json").json()
    ok = document["paths"]["/v1/verify"]["post"]["responses"]["200"]
    return _resolve(document, ok["content"]["application/json"]["schema"])


def test_the_200_body_of_verify_is_documented(report_schema: dict[str, Any]) -> None:
    assert set(REPORT_FIELDS) <= set(report_schema["properties"])
    assert set(REPORT_FIELDS) <= set(report_schema["required"])


def test_the_documented_body_is_what_verify_answers(
    client: TestClient, report_schema: dict[str, Any]
) -> None:
    response = client.post("/v1/verify", json={"text": "今天天气很好。"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == list(report_schema["properties"])  # same names, same order
    assert VerificationReportPublic.model_validate(body).verdict == "unknown"
