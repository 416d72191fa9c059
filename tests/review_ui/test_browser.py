"""The reviewer pages in real Chromium (Debian's, through Playwright) on a real uvicorn.

Set ``AIGC_REVIEW_SCREENSHOT=docs/review-item.png`` to refresh the README screenshot and
``AIGC_REVIEW_SCREENSHOTS=docs`` for the stats page and the phone-width queue; otherwise
they go to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Dialog, Page, expect

from common.types import ContentKind
from review_ui.interface import DecisionOutcome, EnqueueRequest, FinalOutcome, Reviewer
from review_ui.models import create_review_tables
from review_ui.service import ReviewService
from review_ui.settings import ReviewSettings
from review_ui.web import build_review_router
from tests.review_ui.conftest import REASON_CODES, make_engine
from tests.support.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.e2e]

REVIEWER_KEY = "rk_test_alice"
XSS = '<script>window.__xss = 1; alert("xss")</script><img src=x onerror="window.__xss=2">'

COPY = (
    "【新品上市】这款玻尿酸精华是全网最佳的保湿精华，销量第一，"
    "28天淡化细纹，敏感肌也能放心使用。限时特惠，立即抢购！"
)


def span_of(text: str, word: str) -> tuple[int, int]:
    start = text.index(word)
    return (start, start + len(word))


AD_LAW_FINDINGS = [
    {
        "scanner": "lexicon",
        "category": "ad_law.absolute_term",
        "score": 0.92,
        "span": span_of(COPY, "全网最佳"),
        "evidence": "全网最佳",
        "clause": "《广告法》第九条第三项",
    },
    {
        "scanner": "lexicon",
        "category": "ad_law.absolute_term",
        "score": 0.88,
        "span": span_of(COPY, "销量第一"),
        "evidence": "销量第一",
        "clause": "《广告法》第九条第三项",
    },
    {
        "scanner": "lexicon",
        "category": "ad_law.false_claim",
        "score": 0.61,
        "span": span_of(COPY, "28天淡化细纹"),
        "evidence": "28天淡化细纹",
        "clause": "《广告法》第十七条",
    },
]


@dataclass
class FakePipeline:
    """Stands in for the gateway: what happened to each generation after review."""

    status: dict[str, str] = field(default_factory=dict)

    def resume(self, outcome: DecisionOutcome) -> None:
        released = outcome.final is FinalOutcome.APPROVED
        self.status[outcome.generation_id] = (
            "released" if released else (f"blocked: {outcome.reason_code}")
        )


@dataclass
class Site:
    base_url: str
    service: ReviewService
    pipeline: FakePipeline


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    import uvicorn
    from fastapi import FastAPI

    engine: sa.Engine = make_engine(database_url)
    create_review_tables(engine)
    pipeline = FakePipeline()
    service = ReviewService(engine, ReviewSettings(), pipeline.resume)
    reviewers = {REVIEWER_KEY: Reviewer("alice", "acme", "Alice Zhang")}
    app = FastAPI()
    app.include_router(
        build_review_router(service, reviewers.get, b"browser-test-secret-0123456789")
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", service, pipeline)
    server.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; each test gets a fresh context (cookies, storage)."""
    yield from chromium()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="en-US",
        extra_http_headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    yield context.new_page()
    context.close()


def enqueue(site: Site, generation_id: str, **overrides: object) -> str:
    args: dict[str, object] = {
        "generation_id": generation_id,
        "tenant_id": "acme",
        "kind": ContentKind.TEXT,
        "prompt": "为玻尿酸精华写一段电商详情页文案，突出保湿效果",
        "output_text": COPY,
        "findings": AD_LAW_FINDINGS,
        "policy_name": "cn-marketing",
        "policy_version": "3",
        "reason_codes": REASON_CODES,
    }
    args.update(overrides)
    request = EnqueueRequest(**args)  # type: ignore[arg-type]  # test overrides
    return site.service.enqueue(request).id


def sign_in(page: Page, site: Site) -> None:
    page.goto(f"{site.base_url}/review")
    expect(page).to_have_url(f"{site.base_url}/review/login")
    page.fill("#api_key", REVIEWER_KEY)
    page.click("#btn-sign-in")
    expect(page).to_have_url(f"{site.base_url}/review/queue")
    expect(page.locator("#reviewer-name")).to_have_text("Alice Zhang")


def test_review_flow_with_keyboard(site: Site, page: Page, tmp_path: Path) -> None:
    approve_id = enqueue(site, "gen_approve", priority=90)
    reject_id = enqueue(site, "gen_reject", priority=50)
    sign_in(page, site)
    expect(page.locator("tr.task-row")).to_have_count(2)

    # The item page: every finding's span is marked and labelled compactly with the
    # category's name and the score; the code and the clause are in the hover title.
    page.click(f"tr[data-task-id='{approve_id}'] a.open-link")
    expect(page.locator("#output-text mark.finding")).to_have_count(3)
    expect(page.locator("#output-text mark.finding").first).to_have_text("全网最佳")
    label = page.locator("#output-text sup.finding-label").first
    expect(label).to_contain_text("Advertising law · absolute term 0.92")
    expect(label).not_to_contain_text("第九条")  # no legal clause mid-sentence
    expect(label).to_have_attribute("title", "ad_law.absolute_term · 《广告法》第九条第三项")

    page.keyboard.press("c")  # claim
    expect(page.locator("#btn-approve")).to_be_visible()
    expect(page.locator("#claimed-by")).to_contain_text("alice")
    shot = Path(os.environ.get("AIGC_REVIEW_SCREENSHOT", tmp_path / "review-item.png"))
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.keyboard.press("a")  # approve
    expect(page).to_have_url(f"{site.base_url}/review/queue?notice=approved")
    expect(page.locator("#notice")).to_have_text("Approved.")
    expect(page.locator(f"tr[data-task-id='{approve_id}']")).to_have_count(0)
    assert site.pipeline.status["gen_approve"] == "released"

    # Reject: r without a reason only asks for one; with a reason it submits.
    page.keyboard.press("j")  # select the first row, Enter opens it
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{site.base_url}/review/tasks/{reject_id}")
    page.keyboard.press("c")
    expect(page.locator("#btn-reject")).to_be_visible()
    page.keyboard.press("r")
    expect(page.locator("#reason-hint")).to_be_visible()
    page.select_option("#reason_code", "ad_law.absolute_term")
    page.fill("#note", "“全网最佳”“销量第一”无法证实")
    page.keyboard.press("Escape")  # leave the text box so the keys reach the shortcuts
    page.keyboard.press("r")
    expect(page).to_have_url(f"{site.base_url}/review/queue?notice=rejected")
    expect(page.locator("tr.task-row")).to_have_count(0)
    assert site.pipeline.status["gen_reject"] == "blocked: ad_law.absolute_term"

    history = site.service.history(reject_id, "acme")
    assert [e.kind.value for e in history][-2:] == ["decided", "finalized"]
    assert history[-2].note == "“全网最佳”“销量第一”无法证实"


def test_form_without_csrf_token_is_refused(site: Site, page: Page) -> None:
    task_id = enqueue(site, "gen_csrf")
    sign_in(page, site)
    page.goto(f"{site.base_url}/review/tasks/{task_id}")
    page.locator("#claim-form input[name=csrf_token]").evaluate("input => input.remove()")
    with page.expect_response(f"**/review/tasks/{task_id}/claim") as response:
        page.click("#btn-claim")
    assert response.value.status == 403
    expect(page.locator("#error-message")).to_contain_text("security token")
    assert site.service.get(task_id, "acme").claimed_by is None


def test_script_in_prompt_and_output_is_shown_not_run(site: Site, page: Page) -> None:
    dialogs: list[str] = []

    def record_and_dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record_and_dismiss)
    task_id = enqueue(
        site,
        "gen_xss",
        prompt=XSS,
        output_text="看" + XSS,
        findings=[
            {
                "scanner": "x",
                "category": "ad_law.absolute_term",
                "score": 0.7,
                "span": (1, 9),
                "evidence": XSS,
                "clause": XSS,
            }
        ],
    )
    sign_in(page, site)
    page.goto(f"{site.base_url}/review/tasks/{task_id}")

    expect(page.locator("#prompt-text")).to_have_text(XSS)
    expect(page.locator("#output-text mark.finding")).to_have_text("<script>")
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_language_toggle(site: Site, page: Page) -> None:
    sign_in(page, site)
    expect(page.locator("#btn-next")).to_have_text("Claim the next item")
    page.click("#lang-toggle")
    expect(page.locator("#btn-next")).to_have_text("认领下一条")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def _shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("AIGC_REVIEW_SCREENSHOTS", tmp_path))


def test_the_stats_page_draws_its_charts(site: Site, page: Page, tmp_path: Path) -> None:
    for index in range(3):
        task_id = enqueue(site, f"gen-stats-{index}")
        if index < 2:
            site.service.claim(task_id, reviewer="alice", tenant_id="acme")
            site.service.decide(task_id, reviewer="alice", tenant_id="acme", decision="approve")
    sign_in(page, site)
    page.click("#stats-link")
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("#chart-duration rect.bar")).to_have_count(8)
    expect(page.locator("#chart-depth polyline.line")).to_have_count(1)
    expect(page.locator("#stats-reviewers tbody tr")).to_have_count(1)
    expect(page.locator("#stats-figures")).to_contain_text("Decisions")
    box = page.locator("#chart-decisions svg").bounding_box()
    assert box is not None
    assert box["width"] > 100
    page.screenshot(path=str(_shots(tmp_path) / "review-stats.png"), full_page=True)


def test_the_queue_fits_a_phone_screen(browser: Browser, site: Site, tmp_path: Path) -> None:
    for index in range(4):
        enqueue(site, f"gen-phone-{index}")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    phone = context.new_page()
    sign_in(phone, site)
    expect(phone.locator("tr.task-row")).to_have_count(4)
    overflow = phone.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"horizontal scroll of {overflow} px at 390 px"
    expect(phone.locator("tr.task-row mark").first).to_have_text("全网最佳")
    phone.screenshot(path=str(_shots(tmp_path) / "review-queue-390.png"), full_page=True)
    context.close()


def test_a_mixed_queue_of_thirty_is_worked_with_keys_and_bulk(site: Site, page: Page) -> None:
    """Thirty items: single and double review, text and image. Picked with x and the
    mouse, approved in bulk; the rest opened with Enter and decided with the keys."""
    ids = []
    for index in range(30):
        image = index % 6 == 5
        ids.append(
            enqueue(
                site,
                f"gen-mixed-{index:02d}",
                priority=100 - index,
                double_review=index % 5 == 4,
                kind=ContentKind.IMAGE if image else ContentKind.TEXT,
                output_text=None if image else COPY,
                findings=[] if image else AD_LAW_FINDINGS,
            )
        )
    sign_in(page, site)
    expect(page.locator("tr.task-row")).to_have_count(30)
    picks = page.locator("input.bulk-pick")
    expect(picks).to_have_count(24)  # the six double-review items are decided one by one
    for _ in range(3):  # the three most urgent items, picked from the keyboard
        page.keyboard.press("j")
        page.keyboard.press("x")
    picks.nth(3).click()  # and one with the mouse: a pick, not a navigation
    expect(page).to_have_url(f"{site.base_url}/review/queue")
    page.click("#btn-bulk-approve")
    expect(page.locator("#notice")).to_contain_text("Every picked item decided")
    for task_id in ids[:4]:
        assert site.service.get(task_id, "acme").status.value == "approved"
    expect(page.locator("tr.task-row")).to_have_count(26)

    page.keyboard.press("j")
    page.keyboard.press("Enter")  # the most urgent open item: gen-mixed-04, double review
    expect(page).to_have_url(f"{site.base_url}/review/tasks/{ids[4]}")
    page.keyboard.press("c")
    expect(page.locator("#btn-approve")).to_be_visible()
    page.keyboard.press("a")
    expect(page.locator("#notice")).to_be_visible()
    assert site.service.get(ids[4], "acme").first_reviewer == "alice"  # waits for a second
    expect(page.locator("tr.task-row")).to_have_count(26)


def test_an_image_zooms_and_pans(site: Site, page: Page) -> None:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").save(buffer, format="PNG")  # 256 x 256
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    task_id = enqueue(site, "gen-zoom", kind=ContentKind.IMAGE, output_text=None, findings=[],
                      image_url=url)  # fmt: skip
    sign_in(page, site)
    page.goto(f"{site.base_url}/review/tasks/{task_id}")
    image = page.locator("#image-preview")
    before = image.bounding_box()
    assert before is not None
    page.keyboard.press("z")
    expect(page.locator("#zoom-frame")).to_have_class(re.compile("zoomed"))
    after = image.bounding_box()
    assert after is not None
    assert after["width"] > 2 * before["width"]
    frame = page.locator("#zoom-frame")
    box = frame.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 20, box["y"] + 40, steps=5)
    page.mouse.up()
    assert frame.evaluate("el => el.scrollLeft") > 0  # dragged: panned, still zoomed
    expect(frame).to_have_class(re.compile("zoomed"))
    page.keyboard.press("z")
    expect(frame).not_to_have_class(re.compile("zoomed"))
