"""``/docs`` renders in real Chromium (Debian's, through Playwright) with no network.

The gateway runs on uvicorn; every request the page makes to another origin is refused,
so Swagger UI can only render if its assets and the OpenAPI document come from us.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.e2e.conftest import LiveServer, live_server
from tests.support.browser import chromium

__all__ = ["live_server"]  # a fixture, imported for pytest

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.e2e]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def test_swagger_ui_renders_the_operations_offline(
    browser: Browser, live_server: LiveServer
) -> None:
    base_url = live_server.base_url
    outside: list[str] = []

    def only_our_origin(route: Route) -> None:
        # Stand-in for an offline host: anything not from the gateway fails, and is noted.
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context = browser.new_context()
    try:
        page = context.new_page()
        page.route("**/*", only_our_origin)
        page.goto(f"{base_url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("aigc-gateway")
        expect(page.locator(".opblock").first).to_be_visible()
        assert page.locator(".opblock").count() > 5
        expect(page.locator(".opblock-summary-path", has_text="/v1/ledger/key")).to_have_count(1)
    finally:
        context.close()
    assert outside == []
