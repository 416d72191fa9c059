"""``/v1/moderations`` in OpenAI's shape, and the tenant's brand lists and image registry."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.models import Role
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


@pytest.fixture
def keys(runtime: Runtime) -> dict[str, str]:
    return {
        "gen": issue_key(runtime, "acme", Role.GENERATE),
        "admin": issue_key(runtime, "acme", Role.ADMIN),
    }


def moderate(client: TestClient, key: str, text: str | list[str]) -> dict:  # type: ignore[type-arg]
    response = client.post("/v1/moderations", json={"input": text}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "text",
    ["全网最佳的面霜", "联系我 13812345678", "招聘店员，35岁以下"],
    ids=["ad-law", "personal-data", "bias"],
)
def test_flagged_for_review_or_block_whatever_the_category(
    client: TestClient, keys: dict[str, str], text: str
) -> None:
    result = moderate(client, keys["gen"], text)["results"][0]
    assert result["flagged"] is True
    assert result["findings"]
    assert all(f["span"] is not None for f in result["findings"])


def test_clean_text_and_batches(client: TestClient, keys: dict[str, str]) -> None:
    body = moderate(client, keys["gen"], ["春季新款连衣裙，透气舒适", "最佳保质期至2027年"])
    assert [r["flagged"] for r in body["results"]] == [False, False]
    assert set(body["results"][0]["categories"]) >= {"harassment", "hate"}


def test_brand_terms_change_decisions(client: TestClient, keys: dict[str, str]) -> None:
    assert moderate(client, keys["gen"], "试试竞品星巴克")["results"][0]["flagged"] is False
    added = client.post(
        "/v1/moderation/terms",
        json={"kind": "competitor", "term": "星巴克"},
        headers=bearer(keys["admin"]),
    )
    assert added.status_code == 201
    assert moderate(client, keys["gen"], "试试竞品星巴克")["results"][0]["flagged"] is True
    listed = client.get("/v1/moderation/terms", headers=bearer(keys["admin"])).json()["items"]
    assert [t["term"] for t in listed] == ["星巴克"]
    removed = client.delete(
        f"/v1/moderation/terms/{added.json()['id']}", headers=bearer(keys["admin"])
    )
    assert removed.status_code == 204
    assert (
        client.post(
            "/v1/moderation/terms",
            json={"kind": "competitor", "term": "x"},
            headers=bearer(keys["gen"]),
        ).status_code
        == 403
    )


def test_registered_banned_image_blocks_an_upload(client: TestClient, keys: dict[str, str]) -> None:
    buffer = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").resize((300, 300)).save(buffer, format="PNG")
    registered = client.post(
        "/v1/moderation/images",
        files={"file": ("logo.png", buffer.getvalue(), "image/png")},
        data={"kind": "banned", "label": "rival logo"},
        headers=bearer(keys["admin"]),
    )
    assert registered.status_code == 201, registered.text
    stamped = client.post(
        "/v1/stamp",
        files={"file": ("x.png", buffer.getvalue(), "image/png")},
        headers=bearer(keys["gen"]),
    )
    assert stamped.status_code == 201
    assert stamped.json()["status"] in {"blocked", "pending_review"}
    assert any(f["category"].startswith("image") for f in stamped.json()["moderation"]["findings"])


def test_not_an_image_is_415(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post(
        "/v1/moderation/images",
        files={"file": ("x.png", b"just some text", "image/png")},
        headers=bearer(keys["admin"]),
    )
    assert response.status_code == 415


def test_moderation_bad_input(client: TestClient, keys: dict[str, str]) -> None:
    assert (
        client.post("/v1/moderations", json={"input": []}, headers=bearer(keys["gen"])).status_code
        == 422
    )
    assert (
        client.post("/v1/moderations", json={"input": 5}, headers=bearer(keys["gen"])).status_code
        == 422
    )
    big = "好" * 1_000_000
    assert (
        client.post("/v1/moderations", json={"input": big}, headers=bearer(keys["gen"])).status_code
        == 413
    )
