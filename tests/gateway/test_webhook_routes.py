"""The tenant's webhook secret (shown once, rotated with a grace period), the
``generation.pending_review`` event, the delivery log, and delivery to the pinned address
— through the HTTP API, against a receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.models import Role
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.webhooks import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookSignatureError,
    verify_signature,
)
from gateway.webhooks.store import SecretSealer
from tests.support.dns import fake_dns
from tests.support.gateway import bearer, issue_key
from tests.support.receiver import Receiver, running_receiver

pytestmark = pytest.mark.db

HELD_PROMPT = "全网最佳的保温杯"  # an advertising-law absolute: held for one reviewer


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    # The receiver is on loopback, which production settings refuse (SSRF).
    webhooks = {"allow_private_networks": True, "initial_backoff_s": 0.05, "max_backoff_s": 0.1}
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        webhooks=webhooks,
        ledger={"anchor": {"node": "eth_tester"}},  # tests/ledger/test_anvil.py runs anvil
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture
def admin(runtime: Runtime) -> dict[str, str]:
    return bearer(issue_key(runtime, "acme", Role.ADMIN))


@pytest.fixture
def writer(runtime: Runtime) -> dict[str, str]:
    return bearer(issue_key(runtime, "acme", Role.GENERATE))


@dataclass(frozen=True)
class Acme:
    """The tenant ``acme`` through the API, with an admin's and a writer's headers."""

    client: TestClient
    runtime: Runtime
    admin: dict[str, str]
    writer: dict[str, str]

    def generate(self, url: str, prompt: str = "hi") -> dict[str, Any]:
        """A text generation by the writer with a callback to ``url``, once its webhooks
        have been sent."""
        body = {"kind": "text", "prompt": prompt, "callback_url": url}
        response = self.client.post("/v1/generations", json=body, headers=self.writer)
        assert response.status_code == 201, response.text
        assert self.runtime.webhooks.wait_idle(10)
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture
def acme(
    client: TestClient, runtime: Runtime, admin: dict[str, str], writer: dict[str, str]
) -> Acme:
    return Acme(client, runtime, admin, writer)


# ---------------------------------------------------------------------- secret


def test_secret_is_shown_once(client: TestClient, runtime: Runtime, admin: dict[str, str]) -> None:
    first = client.get("/v1/webhooks/secret", headers=admin)
    assert first.status_code == 200, first.text
    body = first.json()
    # The initial secret is the one derived before secrets were stored.
    assert body["secret"] == runtime.secrets.webhook_secret("acme")
    assert body["previous_valid_until"] is None
    assert body["created_at"]

    again = client.get("/v1/webhooks/secret", headers=admin)
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "webhook_secret_already_shown"
    assert "rotate" in error["message"]
    assert body["secret"] not in again.text


def test_secret_needs_an_admin(
    client: TestClient, runtime: Runtime, writer: dict[str, str]
) -> None:
    reviewer = bearer(issue_key(runtime, "acme", Role.REVIEW))
    for headers in (writer, reviewer, {}):
        assert client.get("/v1/webhooks/secret", headers=headers).status_code in (401, 403)
        assert client.post("/v1/webhooks/secret/rotate", headers=headers).status_code in (401, 403)
        assert client.get("/v1/webhooks/deliveries", headers=headers).status_code in (401, 403)


def test_secret_is_sealed_at_rest(runtime: Runtime, admin: dict[str, str]) -> None:
    plain = runtime.webhooks.store.rotate("acme").secret
    with runtime.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT secret FROM webhook_secrets")).scalar_one()
    assert plain not in stored
    sealer = SecretSealer(runtime.secrets.webhook_master_key)
    assert sealer.open("acme", stored) == plain
    with pytest.raises(Exception, match="does not open"):
        sealer.open("globex", stored)  # another tenant's row cannot borrow it


def test_rotation_signs_with_both_secrets_during_grace(acme: Acme, receiver: Receiver) -> None:
    old = acme.client.get("/v1/webhooks/secret", headers=acme.admin).json()["secret"]
    rotated = acme.client.post("/v1/webhooks/secret/rotate", headers=acme.admin)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old
    until = datetime.fromisoformat(rotated.json()["previous_valid_until"])
    expected = datetime.now(UTC) + timedelta(hours=24)
    assert abs((until - expected).total_seconds()) < 60
    shown_again = acme.client.get("/v1/webhooks/secret", headers=acme.admin)
    assert shown_again.status_code == 409  # shown once

    acme.generate(receiver.url)
    header = receiver.requests[-1].headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 2
    verify_signature(new, receiver.requests[-1].body, header)
    verify_signature(old, receiver.requests[-1].body, header)

    later = datetime.now(UTC) + timedelta(hours=25)
    acme.runtime.webhooks.store.clock = lambda: later  # the grace period is over
    acme.generate(receiver.url)
    header = receiver.requests[-1].headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 1
    verify_signature(new, receiver.requests[-1].body, header)
    with pytest.raises(WebhookSignatureError):
        verify_signature(old, receiver.requests[-1].body, header)


# ---------------------------------------------------------------------- events


def test_hold_for_review_sends_pending_review(acme: Acme, receiver: Receiver) -> None:
    created = acme.generate(receiver.url, HELD_PROMPT)
    assert created["status"] == "pending_review"
    (request,) = receiver.requests
    assert request.headers[EVENT_HEADER] == "generation.pending_review"
    verify_signature(
        acme.runtime.secrets.webhook_secret("acme"), request.body, request.headers[SIGNATURE_HEADER]
    )
    payload = json.loads(request.body)
    assert (payload["id"], payload["status"]) == (created["id"], "pending_review")


# ---------------------------------------------------------------------- delivery log


def test_delivery_log_lists_attempts_newest_first(acme: Acme, receiver: Receiver) -> None:
    receiver.statuses = [503]  # the first attempt fails, the retry succeeds
    created = acme.generate(receiver.url)
    page = acme.client.get("/v1/webhooks/deliveries", headers=acme.admin)
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert page.json()["next_cursor"] is None
    assert [(i["attempt"], i["status_code"], i["delivered"]) for i in items] == [
        (2, 200, True),
        (1, 503, False),
    ]
    assert {(i["generation_id"], i["event"], i["url"]) for i in items} == {
        (created["id"], "generation.released", receiver.url)
    }
    assert items[1]["error"] == "HTTP 503"
    assert items[0]["delivery_id"] == items[1]["delivery_id"]
    assert items[0]["address"] == "127.0.0.1"

    first = acme.client.get("/v1/webhooks/deliveries?limit=1", headers=acme.admin).json()
    assert [i["attempt"] for i in first["items"]] == [2]
    rest = acme.client.get(
        f"/v1/webhooks/deliveries?limit=1&cursor={first['next_cursor']}", headers=acme.admin
    ).json()
    assert ([i["attempt"] for i in rest["items"]], rest["next_cursor"]) == ([1], None)


def test_delivery_log_is_tenant_scoped(acme: Acme, receiver: Receiver) -> None:
    acme.generate(receiver.url)
    assert len(acme.client.get("/v1/webhooks/deliveries", headers=acme.admin).json()["items"]) == 1
    other = bearer(issue_key(acme.runtime, "globex", Role.ADMIN))
    assert acme.client.get("/v1/webhooks/deliveries", headers=other).json() == {
        "items": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "cursor=abc"])
def test_delivery_log_bounds(client: TestClient, admin: dict[str, str], query: str) -> None:
    response = client.get(f"/v1/webhooks/deliveries?{query}", headers=admin)
    assert response.status_code == 422


# ---------------------------------------------------------------------- pinning


def test_delivery_goes_to_the_address_checked_at_request_time(
    acme: Acme, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolves to the receiver when the request is checked, then (rebinding)
    to an internal address: the delivery still reaches the receiver, with no second
    lookup — even when the outcome comes later, from a reviewer."""
    dns = fake_dns(monkeypatch)
    dns.answers["hooks.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    url = f"http://hooks.test:{receiver.port}/hooks/aigc"
    created = acme.generate(url, HELD_PROMPT)
    reviewer = bearer(issue_key(acme.runtime, "acme", Role.REVIEW))
    task = acme.client.get("/v1/reviews", headers=reviewer).json()["items"][0]
    assert acme.client.post(f"/v1/reviews/{task['id']}/claim", headers=reviewer).status_code == 200
    decided = acme.client.post(
        f"/v1/reviews/{task['id']}/decision", json={"decision": "approve"}, headers=reviewer
    )
    assert decided.status_code == 200, decided.text
    assert acme.runtime.webhooks.wait_idle(10)

    assert dns.lookups == ["hooks.test"]
    events = [r.headers[EVENT_HEADER] for r in receiver.requests]
    assert sorted(events) == ["generation.pending_review", "generation.released"]
    assert {r.headers["Host"] for r in receiver.requests} == {f"hooks.test:{receiver.port}"}
    items = acme.client.get("/v1/webhooks/deliveries", headers=acme.admin).json()["items"]
    assert {(i["generation_id"], i["address"]) for i in items} == {(created["id"], "127.0.0.1")}


def test_rotation_recovers_from_a_lost_master_key(runtime: Runtime, admin: dict[str, str]) -> None:
    """Secrets sealed under a lost master key do not open; a rotation signs again at once."""
    runtime.webhooks.store.signing_secrets("acme")  # the row, sealed under the first key
    lost = SecretSealer(lambda: b"\x01" * 32)
    runtime.webhooks.store.sealer = lost
    with pytest.raises(Exception, match="does not open"):
        runtime.webhooks.store.signing_secrets("acme")
    new = runtime.webhooks.store.rotate("acme").secret
    assert runtime.webhooks.store.signing_secrets("acme") == [new]
