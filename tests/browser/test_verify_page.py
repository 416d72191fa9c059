"""The public ``/verify`` page in real Chromium (Debian's, through Playwright) on uvicorn.

The stamped image comes from the gateway's own pipeline (``/v1/stamp`` path, in process).
Set ``AIGC_VERIFY_SCREENSHOT=docs/verify-page.png`` to refresh the docs screenshot;
otherwise it goes to the test's temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from common.types import ContentKind
from gateway.models import Role
from gateway.pipeline import StampOrder
from gateway.runtime import Runtime
from tests.e2e.conftest import LiveServer, live_server
from tests.gateway.test_verification_world import encode, sample_photo
from tests.support.browser import chromium
from tests.support.gateway import issue_key

__all__ = ["live_server"]  # a fixture, imported for pytest

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.e2e]


@pytest.fixture
def base_url(live_server: LiveServer) -> str:
    """The gateway's own app and runtime (stamper, ledger, verifier) on uvicorn."""
    return live_server.base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; each test gets a fresh context (cookies, storage)."""
    yield from chromium()


@pytest.fixture
def stamped_png(runtime: Runtime) -> tuple[str, bytes]:
    issue_key(runtime, "acme", Role.GENERATE)  # creates the tenant
    generation = runtime.pipeline.stamp_upload(
        StampOrder(
            tenant_id="acme",
            kind=ContentKind.IMAGE,
            data=encode(sample_photo("astronaut", 384), "PNG"),
            media_type="image/png",
            policy=runtime.settings.default_policy,
            actor="test",
            label_language="en",
        )
    )
    assert generation.status == "released"
    return generation.id, runtime.store.read(generation.artifact_path or "")


def screenshot_path(tmp_path: Path) -> Path:
    configured = os.environ.get("AIGC_VERIFY_SCREENSHOT")
    return Path(configured) if configured else tmp_path / "verify-page.png"


def drop_file(page: Page, data: bytes, name: str, media_type: str) -> None:
    """A real drag-and-drop: a DataTransfer carrying the file, dropped on the zone."""
    transfer = page.evaluate_handle(
        """([bytes, name, type]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type}));
            return transfer;
        }""",
        [list(data), name, media_type],
    )
    page.dispatch_event("#drop-zone", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def test_drop_a_stamped_image_and_see_verdict_and_timeline(
    browser: Browser, base_url: str, stamped_png: tuple[str, bytes], tmp_path: Path
) -> None:
    generation_id, data = stamped_png
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base_url) else foreign.append(r.url))
    page.goto(f"{base_url}/verify?lang=en")
    expect(page.locator("h1")).to_have_text("Content provenance check")
    drop_file(page, data, "stamped.png", "image/png")
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "verified")
    expect(page.locator("#verdict")).to_have_text("Verified")
    expect(page.locator("#generation-id")).to_have_text(generation_id)
    expect(page.locator("#checklist li")).to_have_count(5)
    expect(page.locator("#checklist li.check-ok")).to_have_count(5)
    events = page.locator("#timeline li")
    expect(events.first).to_contain_text("generation")
    expect(events.last).to_contain_text("stamp")
    expect(page.locator("#manifest")).to_contain_text("trainedAlgorithmicMedia")
    page.screenshot(path=str(screenshot_path(tmp_path)), full_page=True)
    assert foreign == []
    page.close()


def test_chinese_page_with_pasted_text_and_no_javascript(browser: Browser, base_url: str) -> None:
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base_url}/verify")
    expect(page.locator("h1")).to_have_text("内容来源验证")
    page.fill("#text-input", "今天天气很好，适合出门散步。")
    page.click("#submit")
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "unknown")
    expect(page.locator("#verdict")).to_have_text("未知")
    expect(page.locator(".explanation")).to_contain_text("未发现任何来源信号")
    context.close()


def test_a_broken_file_shows_the_reason(browser: Browser, base_url: str) -> None:
    page = browser.new_page()
    page.goto(f"{base_url}/verify?lang=en")
    junk = FilePayload(name="x.png", mimeType="image/png", buffer=b"\x00" * 64)
    page.set_input_files("#file-input", files=[junk])
    page.click("#submit")
    expect(page.locator("#error")).to_contain_text("unsupported_media_type")
    page.close()
