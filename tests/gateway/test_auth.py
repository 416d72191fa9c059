"""API keys: hashing, 401/403, admin key endpoints and the first-start admin key."""

from __future__ import annotations

import stat

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.db import session_scope
from gateway.models import ApiKey, Role
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


def test_keys_are_stored_hashed(runtime: Runtime) -> None:
    key = issue_key(runtime, "acme", Role.GENERATE)
    with session_scope(runtime.engine) as session:
        rows = session.exec(select(ApiKey)).all()
    secret = key.split("_", 2)[2]
    for row in rows:
        assert secret not in row.secret_hash
        assert key not in (row.secret_hash, row.salt, row.id)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer aigc_nope_nope"}, {"Authorization": "Basic abc"}],
    ids=["missing", "wrong", "wrong-scheme"],
)
def test_missing_or_wrong_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/generations", json={"kind": "text", "prompt": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_role_is_403(client: TestClient, runtime: Runtime) -> None:
    reviewer = issue_key(runtime, "acme", Role.REVIEW)
    response = client.post(
        "/v1/generations", json={"kind": "text", "prompt": "x"}, headers=bearer(reviewer)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_admin_creates_lists_and_revokes_keys(client: TestClient, runtime: Runtime) -> None:
    admin = issue_key(runtime, "acme", Role.ADMIN)
    created = client.post("/v1/keys", json={"role": "generate"}, headers=bearer(admin))
    assert created.status_code == 201
    new_key = created.json()["key"]
    listed = client.get("/v1/keys", headers=bearer(admin)).json()["items"]
    assert created.json()["id"] in {k["id"] for k in listed}
    assert all("key" not in k for k in listed)
    ok = client.post(
        "/v1/generations", json={"kind": "text", "prompt": "x"}, headers=bearer(new_key)
    )
    assert ok.status_code == 201
    revoked = client.delete(f"/v1/keys/{created.json()['id']}", headers=bearer(admin))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = client.post(
        "/v1/generations", json={"kind": "text", "prompt": "x"}, headers=bearer(new_key)
    )
    assert after.status_code == 401


def test_another_tenants_key_cannot_be_revoked(client: TestClient, runtime: Runtime) -> None:
    admin = issue_key(runtime, "acme", Role.ADMIN)
    other = issue_key(runtime, "globex", Role.GENERATE)
    response = client.delete(f"/v1/keys/{other.split('_')[1]}", headers=bearer(admin))
    assert response.status_code == 404


def test_first_start_writes_admin_key_file_0600(client: TestClient, runtime: Runtime) -> None:
    path = runtime.admin_key_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    admin_key = path.read_text().strip()
    response = client.get("/v1/keys", headers=bearer(admin_key))
    assert response.status_code == 200


def test_second_start_keeps_the_first_admin_key(runtime: Runtime) -> None:
    before = runtime.admin_key_path.read_text()
    runtime.started = False
    runtime.start()
    assert runtime.admin_key_path.read_text() == before
