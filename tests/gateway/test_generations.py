"""The native generation API over the pipeline, with pass-through domain stages."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from common.errors import NotFoundError
from gateway.models import Role
from gateway.queries import pipeline_events
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


def test_text_generation_is_released_with_output(client: TestClient, runtime: Runtime) -> None:
    key = issue_key(runtime, "acme", Role.GENERATE)
    response = client.post(
        "/v1/generations", json={"kind": "text", "prompt": "春季连衣裙"}, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "released"
    assert body["kind"] == "text"
    assert "春季连衣裙" in body["output_text"]
    assert body["artifact"]["url"].endswith(f"/v1/generations/{body['id']}/content")
    assert body["moderation"]["decision"] == "allow"
    content = client.get(body["artifact"]["url"], headers=bearer(key))
    assert content.status_code == 200
    assert content.text == body["output_text"]
    assert content.headers["content-type"].startswith("text/plain")


def test_pipeline_events_are_recorded_in_architecture_order(
    client: TestClient, runtime: Runtime
) -> None:
    key = issue_key(runtime, "acme", Role.GENERATE)
    body = client.post(
        "/v1/generations", json={"kind": "text", "prompt": "新品"}, headers=bearer(key)
    ).json()
    stages = [e.stage for e in pipeline_events(runtime.engine, body["id"])]
    assert stages == [
        "input_moderation",
        "generate",
        "output_moderation",
        "ledger_generation",
        "decision",
        "stamp",
        "ledger",
    ]
    events = client.get(f"/v1/generations/{body['id']}/events", headers=bearer(key)).json()
    assert [e["stage"] for e in events["items"]] == stages
    implementations = {e["stage"]: e["implementation"] for e in events["items"]}
    assert implementations["generate"] == "echo-text"
    assert all(e["duration_ms"] >= 0 for e in events["items"])


def test_same_seed_same_output(client: TestClient, runtime: Runtime) -> None:
    key = issue_key(runtime, "acme", Role.GENERATE)
    payload = {"kind": "text", "prompt": "夏日防晒", "params": {"seed": 7}}
    first = client.post("/v1/generations", json=payload, headers=bearer(key)).json()
    second = client.post("/v1/generations", json=payload, headers=bearer(key)).json()
    assert first["output_text"] == second["output_text"]
    assert first["id"] != second["id"]


def test_other_tenants_generation_is_not_found(client: TestClient, runtime: Runtime) -> None:
    mine = issue_key(runtime, "acme", Role.GENERATE)
    theirs = issue_key(runtime, "globex", Role.ADMIN)
    created = client.post(
        "/v1/generations", json={"kind": "text", "prompt": "秋装"}, headers=bearer(mine)
    ).json()
    for path in ("", "/content", "/events"):
        response = client.get(f"/v1/generations/{created['id']}{path}", headers=bearer(theirs))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_list_pages_with_cursor(client: TestClient, runtime: Runtime) -> None:
    key = issue_key(runtime, "acme", Role.GENERATE)
    ids = {
        client.post(
            "/v1/generations", json={"kind": "text", "prompt": f"p{i}"}, headers=bearer(key)
        ).json()["id"]
        for i in range(5)
    }
    seen: set[str] = set()
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/generations", params=params, headers=bearer(key)).json()
        seen.update(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_unknown_generation_is_404(client: TestClient, runtime: Runtime) -> None:
    key = issue_key(runtime, "acme", Role.AUDIT)
    response = client.get("/v1/generations/gen_nope", headers=bearer(key))
    assert response.status_code == 404
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


def test_equal_content_stored_from_many_threads_at_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from gateway.content_store import DirectoryStore

    store = DirectoryStore(tmp_path)
    with ThreadPoolExecutor(16) as pool:
        stored = list(pool.map(lambda _: store.put(b"same bytes" * 1000, ".txt"), range(200)))
    assert {s.path for s in stored} == {stored[0].path}
    assert store.read(stored[0].path) == b"same bytes" * 1000
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_store_reads_only_the_paths_it_hands_out(tmp_path: Path) -> None:
    from gateway.content_store import DirectoryStore

    store = DirectoryStore(tmp_path / "content")
    stored = store.put(b"released text", ".txt")
    (tmp_path / "secret").write_bytes(b"outside the store")
    assert store.read(stored.path) == b"released text"
    hostile = ("../secret", "/etc/passwd", "ab/cd", stored.path + "/..", "", stored.path.upper())
    for path in (*hostile, stored.path.replace(".txt", ".png")):
        with pytest.raises(NotFoundError):
            store.read(path)
