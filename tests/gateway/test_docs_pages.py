"""``/docs`` and ``/redoc`` load nothing from outside the gateway (they work offline)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.db

# Every src/href in the page, and any absolute URL at all (a CDN would be one).
_ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
_ABSOLUTE = re.compile(r"(?:https?:)?//[a-z0-9.-]+", re.IGNORECASE)
_CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def _assets(html: str) -> list[str]:
    return _ASSET.findall(html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_page_is_public_and_references_only_same_origin_assets(
    client: TestClient, page: str
) -> None:
    response = client.get(page)  # no API key
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "cdn" not in html.lower()
    assert _ABSOLUTE.search(html) is None, _ABSOLUTE.search(html)
    assets = _assets(html)
    assert assets
    assert all(url.startswith("/static/docs/") for url in assets), assets
    assert "/openapi.json" in html


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_is_served_with_its_content_type(client: TestClient, page: str) -> None:
    for url in _assets(client.get(page).text):
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert _CONTENT_TYPES[suffix] in response.headers["content-type"], url
        assert response.content


def test_openapi_stays_public_and_lists_no_docs_pages(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/docs" not in paths
    assert "/redoc" not in paths


def test_oauth2_redirect_page_is_served(client: TestClient) -> None:
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "oauth2" in response.text.lower()
