"""A held generation with ``callback_url``: the reviewer's approval over HTTP resumes the
pipeline and the client's receiver gets a signed webhook it can verify."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.models import Role
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from gateway.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_signature
from tests.e2e.conftest import LiveServer, serve_in_thread
from tests.support.gateway import bearer, fake_catalog, issue_key

pytestmark = [pytest.mark.e2e, pytest.mark.db]


@pytest.fixture
def received() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    calls: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", calls
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(database_url: str, data_dir: Path) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        # The receiver is on loopback, which production settings refuse (SSRF).
        webhooks={"allow_private_networks": True, "initial_backoff_s": 0.1},
        ledger={"anchor": {"enabled": False}},
    )
    runtime = build_runtime(settings, catalog=fake_catalog())
    uvicorn_server, thread, base_url = serve_in_thread(runtime)
    yield LiveServer(base_url, runtime)
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


def test_approval_sends_a_signed_webhook(
    server: LiveServer, received: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, calls = received
    runtime = server.runtime
    writer = bearer(issue_key(runtime, "acme", Role.GENERATE))
    reviewer = bearer(issue_key(runtime, "acme", Role.REVIEW))
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        created = http.post(
            "/v1/generations",
            json={"kind": "text", "prompt": "全网最佳的保温杯", "callback_url": url},
            headers=writer,
        ).json()
        assert created["status"] == "pending_review"
        task = http.get("/v1/reviews", headers=reviewer).json()["items"][0]
        assert http.post(f"/v1/reviews/{task['id']}/claim", headers=reviewer).status_code == 200
        decided = http.post(
            f"/v1/reviews/{task['id']}/decision", json={"decision": "approve"}, headers=reviewer
        )
        assert decided.status_code == 200
    # The hold for review is announced first (generation.pending_review), then the outcome.
    deadline = time.monotonic() + 20
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    events = {headers["X-AIGC-Event"]: (headers, body) for headers, body in calls}
    assert set(events) == {"generation.pending_review", "generation.released"}, "webhooks missing"
    headers, body = events["generation.released"]
    secret = runtime.secrets.webhook_secret("acme")
    verify_signature(secret, body, headers[SIGNATURE_HEADER])
    payload = json.loads(body)
    assert payload["id"] == created["id"]
    assert payload["status"] == "released"
    assert headers["X-AIGC-Event"] == "generation.released"
    with pytest.raises(WebhookSignatureError):
        verify_signature(runtime.secrets.webhook_secret("globex"), body, headers[SIGNATURE_HEADER])


def test_loopback_callback_refused_by_default(client: TestClient, runtime: Runtime) -> None:
    """Default settings refuse a loopback callback when it is asked for (SSRF), not later."""
    key = issue_key(runtime, "acme", Role.GENERATE)
    response = client.post(
        "/v1/generations",
        json={"kind": "text", "prompt": "x", "callback_url": "http://127.0.0.1:9/hook"},
        headers=bearer(key),
    )
    assert response.status_code == 422
