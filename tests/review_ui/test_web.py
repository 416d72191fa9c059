"""The reviewer pages over HTTP (FastAPI's test client): sessions, CSRF, escaping, i18n."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.types import ContentKind
from review_ui.interface import Reviewer, ReviewTaskView, TaskStatus
from review_ui.service import ReviewService
from review_ui.web import SESSION_COOKIE, PreviewImage, build_review_router
from tests.review_ui.conftest import FakeClock, enqueue_text

pytestmark = pytest.mark.db

KEYS = {
    "key-alice": Reviewer("alice", "acme", "Alice"),
    "key-bob": Reviewer("bob", "acme", "Bob"),
    "key-eve": Reviewer("eve", "other-tenant", "Eve"),
}
HTTPS = "https://testserver"  # the session cookie is Secure: sent back over HTTPS only
XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def build_app(service: ReviewService, revoked: set[str] | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(
        build_review_router(
            service,
            authenticate_reviewer=KEYS.get,
            session_secret=b"test-session-secret-0123456789",
            reviewer_still_valid=lambda r: r.id not in (revoked or set()),
            load_preview=lambda view: PreviewImage(PNG_1PX, "image/png"),
        )
    )
    return app


@pytest.fixture
def client(service: ReviewService) -> Iterator[TestClient]:
    with TestClient(
        build_app(service), follow_redirects=False, base_url=HTTPS, headers=ENGLISH
    ) as client:
        yield client


# These tests read the English strings; with no preference the pages are Chinese.
ENGLISH = {"Accept-Language": "en"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "every form carries a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, key: str = "key-alice") -> str:
    """Sign in; returns a CSRF token of the signed-in session."""
    form = client.get("/review/login")
    response = client.post("/review/login", data={"api_key": key, "csrf_token": csrf_of(form.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/review/queue"
    return csrf_of(client.get("/review/queue").text)


def test_signed_out_visitors_go_to_sign_in(client: TestClient) -> None:
    assert client.get("/review").headers["location"] == "/review/login"
    assert client.get("/review/queue").headers["location"] == "/review/login"
    page = client.get("/review/login")
    assert page.status_code == 200
    assert 'type="password"' in page.text


def test_session_cookie_flags(client: TestClient) -> None:
    form = client.get("/review/login")
    signed_in = client.post(
        "/review/login", data={"api_key": "key-alice", "csrf_token": csrf_of(form.text)}
    )
    for response in (form, signed_in):
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        assert "Path=/review" in cookie
        assert "Secure" in cookie  # by default; a setting turns it off for plain HTTP


def test_wrong_key_is_refused(client: TestClient) -> None:
    form = client.get("/review/login")
    response = client.post(
        "/review/login", data={"api_key": "nope", "csrf_token": csrf_of(form.text)}
    )
    assert response.status_code == 401
    assert "not a reviewer key" in response.text


def test_forms_without_csrf_token_are_refused(client: TestClient, service: ReviewService) -> None:
    form = client.get("/review/login")
    assert client.post("/review/login", data={"api_key": "key-alice"}).status_code == 403
    assert (
        client.post(
            "/review/login", data={"api_key": "key-alice", "csrf_token": "0" * 64}
        ).status_code
        == 403
    )
    # A token with non-ASCII characters is a wrong token (403), not a crash.
    refused = client.post("/review/login", data={"api_key": "key-alice", "csrf_token": "é" * 64})
    assert refused.status_code == 403
    sign_in(client)
    task = enqueue_text(service)

    # A token from before sign-in is worthless after it (the nonce is rotated).
    stale = csrf_of(form.text)
    assert (
        client.post(f"/review/tasks/{task.id}/claim", data={"csrf_token": stale}).status_code == 403
    )
    assert client.post(f"/review/tasks/{task.id}/claim", data={}).status_code == 403
    assert client.post("/review/queue/next", data={}).status_code == 403
    assert client.post("/review/logout", data={}).status_code == 403
    assert service.get(task.id, "acme").status is TaskStatus.PENDING


def test_forged_or_tampered_cookie_is_no_session(client: TestClient) -> None:
    sign_in(client)
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie is not None
    body, mac = cookie.split(".")
    client.cookies.clear()
    forged = {"Cookie": f"{SESSION_COOKIE}={body[:-2]}AA.{mac}"}
    assert client.get("/review/queue", headers=forged).headers["location"] == "/review/login"
    genuine = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    assert client.get("/review/queue", headers=genuine).status_code == 200


def test_claim_and_decide_through_forms(client: TestClient, service: ReviewService) -> None:
    task = enqueue_text(service)
    token = sign_in(client)
    page = client.get(f"/review/tasks/{task.id}")
    assert 'id="btn-claim"' in page.text

    claimed = client.post(f"/review/tasks/{task.id}/claim", data={"csrf_token": token})
    assert claimed.headers["location"] == f"/review/tasks/{task.id}"
    page = client.get(f"/review/tasks/{task.id}")
    assert 'id="btn-approve"' in page.text
    assert 'value="ad_law.absolute_term"' in page.text

    bad = client.post(
        f"/review/tasks/{task.id}/decision",
        data={"csrf_token": token, "decision": "reject", "reason_code": "nope"},
    )
    assert bad.status_code == 422
    done = client.post(
        f"/review/tasks/{task.id}/decision",
        data={
            "csrf_token": token,
            "decision": "reject",
            "reason_code": "ad_law.absolute_term",
            "note": "绝对化用语",
        },
    )
    assert done.headers["location"] == "/review/queue?notice=rejected"
    assert service.get(task.id, "acme").status is TaskStatus.REJECTED
    assert "Rejected." in client.get(done.headers["location"]).text


def test_foreign_claim_answers_409_page(service: ReviewService) -> None:
    task = enqueue_text(service)
    service.claim(task.id, reviewer="bob", tenant_id="acme")
    with TestClient(
        build_app(service), follow_redirects=False, base_url=HTTPS, headers=ENGLISH
    ) as alice:
        token = sign_in(alice)
        page = alice.get(f"/review/tasks/{task.id}")
        assert 'id="claimed-by-other"' in page.text
        response = alice.post(f"/review/tasks/{task.id}/claim", data={"csrf_token": token})
        assert response.status_code == 409
        assert "claimed by bob" in response.text


def test_other_tenant_gets_404(client: TestClient, service: ReviewService) -> None:
    task = enqueue_text(service)
    token = sign_in(client, "key-eve")
    assert client.get(f"/review/tasks/{task.id}").status_code == 404
    assert (
        client.post(f"/review/tasks/{task.id}/claim", data={"csrf_token": token}).status_code == 404
    )
    assert client.get(f"/review/tasks/{task.id}/preview").status_code == 404
    assert task.id not in client.get("/review/queue?status=all").text


def test_user_supplied_text_is_escaped(client: TestClient, service: ReviewService) -> None:
    task = enqueue_text(
        service,
        prompt=XSS,
        output_text="好" + XSS,
        generation_id=XSS,
        findings=[
            {
                "scanner": XSS,
                "category": "ad_law." + XSS,
                "score": 0.5,
                "span": (1, 9),
                "evidence": XSS,
                "clause": XSS,
            }
        ],
        reason_codes={XSS: XSS},
    )
    sign_in(client)
    html = client.get(f"/review/tasks/{task.id}").text + client.get("/review/queue").text
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in html


def test_security_headers(client: TestClient) -> None:
    response = client.get("/review/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    script = client.get("/review/static/review.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/review/static/..%2Fservice.py").status_code == 404


def test_language_from_header_and_toggle(client: TestClient) -> None:
    zh = client.get("/review/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert "登录" in zh.text
    assert 'lang="zh-CN"' in zh.text
    en = client.get("/review/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Sign in" in en.text

    toggled = client.get("/review/lang/zh?next=/review/login")
    assert toggled.headers["location"] == "/review/login"
    assert "登录" in client.get("/review/login", headers={"Accept-Language": "en"}).text
    # The toggle only redirects inside the review pages.
    assert client.get("/review/lang/en?next=https://evil.example/").headers["location"] == (
        "/review/queue"
    )


def test_queue_filters_and_sla_colours(
    client: TestClient, service: ReviewService, clock: FakeClock
) -> None:
    old = enqueue_text(service, generation_id="old-one")
    clock.advance(3 * 3600)  # past sla_breach_after_s (2 h)
    fresh = enqueue_text(
        service,
        generation_id="fresh-one",
        findings=[{"scanner": "bias", "category": "bias.region", "score": 0.4}],
    )
    sign_in(client)

    page = client.get("/review/queue").text
    assert re.search(rf'class="task-row sla-breach" data-href="/review/tasks/{old.id}"', page)
    assert re.search(rf'class="task-row sla-ok" data-href="/review/tasks/{fresh.id}"', page)
    only_bias = client.get("/review/queue?category=bias").text
    assert fresh.id in only_bias
    assert old.id not in only_bias
    aged = client.get("/review/queue?older_than_min=60").text
    assert old.id in aged
    assert fresh.id not in aged
    assert client.get("/review/queue?older_than_min=soon").status_code == 422


def test_claim_next_and_image_preview(client: TestClient, service: ReviewService) -> None:
    # No image_url needed: with load_preview the page serves the preview itself.
    image = enqueue_text(
        service,
        kind=ContentKind.IMAGE,
        output_text=None,
        findings=[],
    )
    token = sign_in(client)
    response = client.post("/review/queue/next", data={"csrf_token": token, "queue": ""})
    assert response.headers["location"] == f"/review/tasks/{image.id}"
    assert service.get(image.id, "acme").claimed_by == "alice"
    page = client.get(f"/review/tasks/{image.id}").text
    assert f'src="/review/tasks/{image.id}/preview"' in page
    preview = client.get(f"/review/tasks/{image.id}/preview")
    assert preview.headers["content-type"] == "image/png"
    assert preview.content == PNG_1PX
    empty = client.post("/review/queue/next", data={"csrf_token": token, "queue": ""})
    assert empty.headers["location"] == "/review/queue?notice=nothing_to_claim"


def test_revoked_reviewer_is_signed_out(service: ReviewService) -> None:
    revoked: set[str] = set()
    with TestClient(
        build_app(service, revoked), follow_redirects=False, base_url=HTTPS, headers=ENGLISH
    ) as client:
        sign_in(client)
        assert client.get("/review/queue").status_code == 200
        revoked.add("alice")
        assert client.get("/review/queue").headers["location"] == "/review/login"


def test_unsafe_image_urls_are_not_rendered(service: ReviewService) -> None:
    app = FastAPI()
    app.include_router(build_review_router(service, KEYS.get, b"test-session-secret-0123456789"))
    task: ReviewTaskView = enqueue_text(
        service,
        kind=ContentKind.IMAGE,
        output_text=None,
        findings=[],
        image_url="javascript:alert(1)",
    )
    with TestClient(app, follow_redirects=False, base_url=HTTPS, headers=ENGLISH) as client:
        sign_in(client)
        page = client.get(f"/review/tasks/{task.id}").text
    assert "javascript:" not in page
    assert "No preview available." in page


def test_double_review_through_the_pages(service: ReviewService) -> None:
    task = enqueue_text(service, double_review=True)
    app = build_app(service)
    with (
        TestClient(app, follow_redirects=False, base_url=HTTPS, headers=ENGLISH) as alice,
        TestClient(app, follow_redirects=False, base_url=HTTPS, headers=ENGLISH) as bob,
    ):
        token = sign_in(alice)
        alice.post(f"/review/tasks/{task.id}/claim", data={"csrf_token": token})
        first = alice.post(
            f"/review/tasks/{task.id}/decision", data={"csrf_token": token, "decision": "approve"}
        )
        assert first.headers["location"] == "/review/queue?notice=awaiting_second_review"
        assert 'id="voted-first"' in alice.get(f"/review/tasks/{task.id}").text

        bob_token = sign_in(bob, "key-bob")
        bob.post(f"/review/tasks/{task.id}/claim", data={"csrf_token": bob_token})
        second = bob.post(
            f"/review/tasks/{task.id}/decision",
            data={"csrf_token": bob_token, "decision": "approve"},
        )
        assert second.headers["location"] == "/review/queue?notice=approved"
    assert service.get(task.id, "acme").status is TaskStatus.APPROVED


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        (None, TaskStatus.PENDING),
        ("claim", TaskStatus.CLAIMED),
        ("approve", TaskStatus.APPROVED),
        ("reject", TaskStatus.REJECTED),
        ("escalate", TaskStatus.ESCALATED),
    ],
)
def test_the_task_page_renders_in_every_state(
    client: TestClient, service: ReviewService, decision: str | None, status: TaskStatus
) -> None:
    # A decided task keeps its claim holder but no lease: the page rendered that as a 500.
    task = enqueue_text(service)
    if decision is not None:
        service.claim(task.id, reviewer="alice", tenant_id="acme")
    if decision not in (None, "claim"):
        service.decide(
            task.id,
            reviewer="alice",
            tenant_id="acme",
            decision=decision,
            reason_code="ad_law.absolute_term",
        )
    assert service.get(task.id, "acme").status is status
    sign_in(client)
    page = client.get(f"/review/tasks/{task.id}")
    assert page.status_code == 200
    assert f"status-{status.value}" in page.text


def test_logout_ends_the_session_on_the_server(service: ReviewService) -> None:
    # A copy of the session cookie (stolen, or left in another tab) must stop working.
    with TestClient(
        build_app(service), follow_redirects=False, base_url=HTTPS, headers=ENGLISH
    ) as client:
        token = sign_in(client)
        stolen = client.cookies.get(SESSION_COOKIE)
        assert client.get("/review/queue").status_code == 200
        assert client.post("/review/logout", data={"csrf_token": token}).status_code == 303
    with TestClient(
        build_app(service), follow_redirects=False, base_url=HTTPS, headers=ENGLISH
    ) as thief:
        thief.cookies.set(SESSION_COOKIE, stolen or "", path="/review")
        assert thief.get("/review/queue").headers["location"] == "/review/login"


def test_the_stats_page_draws_its_charts(
    client: TestClient, service: ReviewService, clock: FakeClock
) -> None:
    assert client.get("/review/stats").headers["location"] == "/review/login"
    task = enqueue_text(service)
    clock.advance(90)
    service.claim(task.id, reviewer="alice", tenant_id="acme")
    service.decide(task.id, reviewer="alice", tenant_id="acme", decision="approve")
    enqueue_text(service, generation_id="other", tenant_id="other-tenant")
    sign_in(client)

    page = client.get("/review/stats?days=3")
    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 3
    assert "<title>1–5 min: 1</title>" in page.text  # the one decision took 90 s
    assert re.search(r"<td>alice</td><td>1</td><td>0</td><td>0</td><td>1</td>", page.text)
    assert 'value="3"' in page.text
    assert client.get("/review/stats?days=lots").status_code == 200  # the default window
    chinese = client.get("/review/stats", headers={"Accept-Language": "zh-CN"}).text
    assert "决定耗时" in chinese
    assert "审核统计" in chinese


def test_queue_rows_show_the_flagged_span_and_can_be_searched(
    client: TestClient, service: ReviewService
) -> None:
    ad = enqueue_text(service, generation_id="gen-ad")
    other = enqueue_text(service, generation_id="gen-other", output_text="舒适透气的夏季连衣裙")
    sign_in(client)

    page = client.get("/review/queue").text
    assert "<mark>最佳</mark>" in page  # the top finding's span, in context
    assert 'class="top-finding chip"' in page
    searched = client.get("/review/queue?q=gen-other").text
    assert other.id in searched
    assert ad.id not in searched
    chinese = client.get("/review/queue", headers={"Accept-Language": "zh-CN"}).text
    assert "搜索" in chinese


def test_an_edit_is_shown_as_a_diff_and_approved_once_confirmed(
    client: TestClient, service: ReviewService
) -> None:
    task = enqueue_text(service)
    token = sign_in(client)
    client.post(f"/review/tasks/{task.id}/claim", data={"csrf_token": token})
    page = client.get(f"/review/tasks/{task.id}").text
    assert 'id="edited_output"' in page  # prefilled with the output
    edited = "这款面霜是广受好评的选择，口碑品牌。"
    form = {"csrf_token": token, "decision": "approve", "edited_output": edited + "\r\n"}

    preview = client.post(f"/review/tasks/{task.id}/decision", data=form)
    assert preview.status_code == 200
    assert "<del>全网最佳</del>" in preview.text
    assert "<ins>" in preview.text
    assert service.get(task.id, "acme").status is TaskStatus.CLAIMED  # nothing decided yet

    confirmed = client.post(f"/review/tasks/{task.id}/decision", data={**form, "confirmed": "1"})
    assert confirmed.headers["location"] == "/review/queue?notice=approved"
    outcome = service.final_outcome(task.id, "acme")
    assert outcome is not None
    assert outcome.edited_output == edited + "\n"


def test_an_unchanged_edit_box_approves_as_it_stands(
    client: TestClient, service: ReviewService
) -> None:
    task = enqueue_text(service)
    token = sign_in(client)
    client.post(f"/review/tasks/{task.id}/claim", data={"csrf_token": token})
    unchanged = {"csrf_token": token, "decision": "approve", "edited_output": task.output_text}
    approved = client.post(f"/review/tasks/{task.id}/decision", data=unchanged)
    assert approved.headers["location"] == "/review/queue?notice=approved"
    outcome = service.final_outcome(task.id, "acme")
    assert outcome is not None
    assert outcome.edited_output is None


def test_the_queue_approves_picked_items_in_bulk(
    client: TestClient, service: ReviewService
) -> None:
    first = enqueue_text(service, generation_id="bulk-1")
    second = enqueue_text(service, generation_id="bulk-2")
    double = enqueue_text(service, generation_id="bulk-3", double_review=True)
    token = sign_in(client)
    page = client.get("/review/queue").text
    assert page.count('class="bulk-pick"') == 2  # not the double-review task
    picked = {"csrf_token": token, "decision": "approve", "ids": [first.id, second.id]}
    assert client.post("/review/queue/bulk", data={**picked, "csrf_token": ""}).status_code == 403

    done = client.post("/review/queue/bulk", data=picked)
    assert done.headers["location"] == "/review/queue?notice=bulk_done"
    assert {service.get(t.id, "acme").status for t in (first, second)} == {TaskStatus.APPROVED}
    forced = client.post("/review/queue/bulk", data={**picked, "ids": [double.id]})
    assert forced.headers["location"] == "/review/queue?notice=bulk_some_refused"
    assert service.get(double.id, "acme").status is TaskStatus.PENDING
    no_reason = client.post("/review/queue/bulk", data={**picked, "decision": "reject"})
    assert no_reason.status_code == 422


def test_a_requeued_edit_shows_both_versions(client: TestClient, service: ReviewService) -> None:
    task = enqueue_text(service, output_text="全网第一的面霜。", previous_output="全网最佳的面霜。")
    sign_in(client)
    page = client.get(f"/review/tasks/{task.id}").text
    assert 'id="previous-diff"' in page
    assert "<del>最佳</del>" in page
    assert "<ins>第一</ins>" in page
    plain = enqueue_text(service, generation_id="never-edited")
    assert 'id="previous-diff"' not in client.get(f"/review/tasks/{plain.id}").text
