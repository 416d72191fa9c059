"""The tenant's policy is its admin's: a generate key cannot pick a weaker one."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.models import Role
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db

AD_LAW_CLAIM = "全网最佳的保温杯"


@pytest.fixture
def generate_key(runtime: Runtime) -> str:
    return issue_key(runtime, "acme", Role.GENERATE)


@pytest.fixture
def admin_key(runtime: Runtime) -> str:
    return issue_key(runtime, "acme", Role.ADMIN)


def _generate(client: TestClient, key: str, **extra: Any) -> Any:
    body = {"kind": "text", "prompt": AD_LAW_CLAIM, **extra}
    return client.post("/v1/generations", json=body, headers=bearer(key))


def test_a_generate_key_cannot_name_a_weaker_policy(client: TestClient, generate_key: str) -> None:
    response = _generate(client, generate_key, policy="eu-general")
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "policy_not_allowed"
    assert _generate(client, generate_key).json()["status"] == "pending_review"


def test_naming_the_tenants_own_policy_is_fine(client: TestClient, generate_key: str) -> None:
    response = _generate(client, generate_key, policy="cn-marketing")
    assert response.status_code == 201
    assert response.json()["status"] == "pending_review"


def test_stamp_meta_cannot_name_a_weaker_policy(client: TestClient, generate_key: str) -> None:
    response = client.post(
        "/v1/stamp",
        files={"file": ("copy.txt", AD_LAW_CLAIM.encode(), "text/plain")},
        data={"meta": '{"policy": "eu-general"}'},
        headers=bearer(generate_key),
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "policy_not_allowed"


def test_the_admin_sets_the_policy_and_the_allowlist(
    client: TestClient, runtime: Runtime, admin_key: str, generate_key: str
) -> None:
    before = client.get("/v1/policy", headers=bearer(admin_key)).json()
    assert before["policy"] == "cn-marketing"
    assert before["allowed_policies"] == []
    size_before = runtime.ledger_service.size()
    update = {"policy": "cn-marketing", "allowed_policies": ["eu-general"]}
    after = client.put("/v1/policy", json=update, headers=bearer(admin_key))
    assert after.status_code == 200, after.text
    assert after.json()["version"] == before["version"] + 1
    assert runtime.ledger_service.size() == size_before + 1  # the change is ledgered
    leaf = runtime.ledger_service.entry(size_before).leaf
    assert leaf["type"] == "admin_action"
    allowed = _generate(client, generate_key, policy="eu-general")
    assert allowed.status_code == 201
    assert allowed.json()["status"] == "released"


def test_a_new_tenant_policy_applies_to_its_keys_at_once(
    client: TestClient, admin_key: str, generate_key: str
) -> None:
    assert _generate(client, generate_key).json()["status"] == "pending_review"
    update = {"policy": "eu-general"}
    assert client.put("/v1/policy", json=update, headers=bearer(admin_key)).status_code == 200
    assert _generate(client, generate_key).json()["status"] == "released"


@pytest.mark.parametrize(
    "update",
    [
        {"policy": "no-such-policy"},
        {"policy": "cn-marketing", "allowed_policies": ["../../etc/passwd"]},
        {"policy": "cn-marketing", "surprise": True},
    ],
)
def test_unknown_or_malformed_policies_are_422(
    client: TestClient, admin_key: str, update: dict[str, Any]
) -> None:
    assert client.put("/v1/policy", json=update, headers=bearer(admin_key)).status_code == 422


def test_only_an_admin_reads_or_sets_the_policy(client: TestClient, generate_key: str) -> None:
    assert client.get("/v1/policy", headers=bearer(generate_key)).status_code == 403
    update = {"policy": "eu-general"}
    assert client.put("/v1/policy", json=update, headers=bearer(generate_key)).status_code == 403


def _shipped_yaml(name: str) -> str:
    from moderation.policy import SHIPPED_POLICY_DIR

    return (SHIPPED_POLICY_DIR / f"{name}.yaml").read_text("utf-8")


def test_the_admin_uploads_a_custom_policy(
    client: TestClient, runtime: Runtime, admin_key: str, generate_key: str
) -> None:
    # eu-general, which releases the claim, uploaded as the tenant's own policy.
    body = {"yaml": _shipped_yaml("eu-general")}
    response = client.put("/v1/policy", json=body, headers=bearer(admin_key))
    assert response.status_code == 200, response.text
    custom = response.json()["policy"]
    assert custom.startswith("custom-")
    assert custom not in response.json()["known_policies"]  # never listed to others
    created = _generate(client, generate_key).json()
    assert created["status"] == "released"
    assert created["moderation"]["policy"] == custom


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nrules: [\n", "not valid YAML"),
        ("a: &a [1, 2]\nb: [*a, *a, *a]\n", "anchors or aliases"),
        ("a: " + "[" * 40 + "]" * 40 + "\n", "nests deeper"),
        ("name: x\ndescription: y\n", "policy"),
    ],
)
def test_a_bad_upload_is_422_and_changes_nothing(
    client: TestClient, admin_key: str, text: str, needle: str
) -> None:
    response = client.put("/v1/policy", json={"yaml": text}, headers=bearer(admin_key))
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert needle in message
    assert "/tmp" not in message
    assert "policies/tenants" not in message  # no server paths
    assert client.get("/v1/policy", headers=bearer(admin_key)).json()["policy"] == "cn-marketing"


def test_another_tenant_cannot_use_a_custom_policy(
    client: TestClient, runtime: Runtime, admin_key: str
) -> None:
    uploaded = client.put(
        "/v1/policy", json={"yaml": _shipped_yaml("eu-general")}, headers=bearer(admin_key)
    ).json()["policy"]
    rival_admin = issue_key(runtime, "rival", Role.ADMIN)
    for body in ({"policy": uploaded}, {"policy": "cn-marketing", "allowed_policies": [uploaded]}):
        refused = client.put("/v1/policy", json=body, headers=bearer(rival_admin))
        assert refused.status_code == 422, refused.text
    rival_key = issue_key(runtime, "rival", Role.GENERATE)
    named = _generate(client, rival_key, policy=uploaded)
    assert named.status_code == 403
