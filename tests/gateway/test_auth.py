"""API keys: hashing, 401/403, admin key endpoints and the first-start admin key."""

from __future__ import annotations

import stat

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.auth import Principal, PrincipalCache, revoke_api_key
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


def test_a_key_revoked_elsewhere_stops_working_once_its_cache_entry_lapses(
    client: TestClient, runtime: Runtime
) -> None:
    key = issue_key(runtime, "acme", Role.GENERATE)
    body = {"kind": "text", "prompt": "x"}
    assert client.post("/v1/generations", json=body, headers=bearer(key)).status_code == 201
    with session_scope(runtime.engine) as session:  # as the CLI in another process would
        revoke_api_key(session, key.split("_", 2)[1])
    # Remembered for at most auth_cache_s: still admitted within it …
    assert client.post("/v1/generations", json=body, headers=bearer(key)).status_code == 201
    # … and refused once the entry has lapsed (here: the cache is emptied, as time does).
    runtime.principals = PrincipalCache(runtime.settings.auth_cache_s)
    assert client.post("/v1/generations", json=body, headers=bearer(key)).status_code == 401


def test_principal_cache_expires_and_keeps_only_digests() -> None:
    now = [100.0]
    cache = PrincipalCache(ttl_s=2.0, max_entries=2, clock=lambda: now[0])
    alice = Principal(key_id="k1", tenant_id="acme", role=Role.GENERATE)
    cache.put("aigc_k1_secret", alice)
    assert cache.get("aigc_k1_secret") == alice
    assert all(b"secret" not in digest for digest in cache._entries)
    now[0] += 2.5
    assert cache.get("aigc_k1_secret") is None
    cache.put("aigc_k1_secret", alice)
    cache.forget_key("k1")
    assert cache.get("aigc_k1_secret") is None
    for n in range(3):  # bounded: the oldest entry goes first
        cache.put(f"aigc_k{n}_s", Principal(key_id=f"k{n}", tenant_id="a", role=Role.AUDIT))
    assert cache.get("aigc_k0_s") is None
    assert cache.get("aigc_k2_s") is not None
    assert PrincipalCache(ttl_s=0).get("anything") is None


def test_wrong_keys_are_never_remembered(client: TestClient, runtime: Runtime) -> None:
    response = client.post(
        "/v1/generations",
        json={"kind": "text", "prompt": "x"},
        headers=bearer("aigc_nope_nope"),
    )
    assert response.status_code == 401
    assert runtime.principals.get("aigc_nope_nope") is None
