"""Callback URLs are checked when they are given: a host resolving to a non-public
address is refused (422 ``callback_url_not_allowed``) on both entry points."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from gateway.models import Role
from gateway.runtime import Runtime
from tests.support.dns import FakeDns, fake_dns
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db

INTERNAL = ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1"]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return fake_dns(monkeypatch)


@pytest.fixture
def key(runtime: Runtime) -> str:
    return issue_key(runtime, "acme", Role.GENERATE)


@pytest.mark.parametrize("address", INTERNAL)
def test_generation_callback_resolving_inward_is_422(
    client: TestClient, key: str, dns: FakeDns, address: str
) -> None:
    dns.answers["hooks.test"] = [[address]]
    response = client.post(
        "/v1/generations",
        json={"kind": "text", "prompt": "hello", "callback_url": "https://hooks.test/aigc"},
        headers=bearer(key),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "callback_url_not_allowed"
    assert address not in response.text  # the gateway's network view stays private


@pytest.mark.parametrize("address", INTERNAL)
def test_stamp_callback_resolving_inward_is_422(
    client: TestClient, key: str, dns: FakeDns, address: str
) -> None:
    dns.answers["hooks.test"] = [[address]]
    meta = {"callback_url": "https://hooks.test/aigc"}
    response = client.post(
        "/v1/stamp",
        files={"file": ("note.txt", "一段文字".encode(), "text/plain")},
        data={"meta": json.dumps(meta)},
        headers=bearer(key),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "callback_url_not_allowed"


def test_public_callback_is_accepted(runtime: Runtime, dns: FakeDns) -> None:
    # Checked without a request: a released generation would then call the address.
    dns.answers["hooks.test"] = [["93.184.216.34"]]
    runtime.webhooks.check_url("https://hooks.test/aigc")
    assert dns.lookups == ["hooks.test"]
