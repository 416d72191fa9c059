"""How the pipeline's rows and the ledger's leaves are committed together.

A new generation's row is first written in the transaction of its custody leaves, and
its released state in the transaction of its stamp leaf: when the ledger fails, neither
half survives without the other, and the failure itself is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import ledger.store
from gateway.models import Role
from gateway.queries import pipeline_events
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


@contextmanager
def ledger_write_fails_on_call(
    monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> Iterator[None]:
    """The ledger's n-th batch fails inside its transaction, as a lost database would."""
    original = ledger.store.set_head
    calls = {"n": 0}

    def set_head(conn: sa.Connection, tree_size: int, root_hash: str) -> None:
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise sa.exc.OperationalError("UPDATE ledger_state", {}, Exception("disk I/O error"))
        original(conn, tree_size, root_hash)

    with monkeypatch.context() as patch:
        patch.setattr(ledger.store, "set_head", set_head)
        yield


def generate(client: TestClient, key: str) -> Any:
    return client.post(
        "/v1/generations", json={"kind": "text", "prompt": "春季新品"}, headers=bearer(key)
    )


def only_generation(runtime: Runtime, client: TestClient) -> dict[str, Any]:
    auditor = issue_key(runtime, "acme", Role.AUDIT)
    listed = client.get("/v1/generations", headers=bearer(auditor)).json()["items"]
    assert len(listed) == 1
    return dict(listed[0])


def test_a_released_generation_cites_its_stamp_leaf(client: TestClient, runtime: Runtime) -> None:
    body = generate(client, issue_key(runtime, "acme", Role.GENERATE)).json()
    assert body["status"] == "released"
    stamp = runtime.ledger_service.entry(body["provenance"]["ledger_index"])
    assert stamp.leaf["type"] == "stamp"
    assert stamp.leaf_hash == body["provenance"]["leaf_hash"]
    events = pipeline_events(runtime.engine, body["id"])
    assert [e.seq for e in events] == list(range(len(events)))
    ledger_event = next(e for e in events if e.stage == "ledger")
    assert (ledger_event.ledger_index, ledger_event.outcome) == (stamp.index, "ok")


def failed_generation(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> dict[str, Any]:
    """Generate while the ledger's n-th batch fails: a 503, and the generation failed."""
    with ledger_write_fails_on_call(monkeypatch, failing_call):
        response = generate(client, issue_key(runtime, "acme", Role.GENERATE))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ledger_unavailable"
    generation = only_generation(runtime, client)
    assert generation["status"] == "failed"
    return generation


def test_custody_failure_is_recorded_without_leaves(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation = failed_generation(client, runtime, monkeypatch, failing_call=1)
    assert runtime.ledger_service.size() == 0  # the rolled-back batch left nothing
    stages = [(e.stage, e.outcome) for e in pipeline_events(runtime.engine, generation["id"])]
    assert stages[:3] == [
        ("input_moderation", "allow"),
        ("generate", "ok"),
        ("output_moderation", "allow"),
    ]
    assert stages[3] == ("decision", "error")


def test_stamp_failure_keeps_custody_and_records_the_failure(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation = failed_generation(client, runtime, monkeypatch, failing_call=2)
    assert generation["provenance"] is None or generation["provenance"]["ledger_index"] is None
    custody = runtime.ledger_service.events_for_generation(generation["id"])
    assert [e.leaf["type"] for e in custody] == ["generation", "moderation"]
    events = pipeline_events(runtime.engine, generation["id"])
    assert [e.seq for e in events] == list(range(len(events)))
    assert (events[-1].stage, events[-1].outcome) == ("ledger", "error")
    assert events[-1].detail["code"] == "ledger_unavailable"
    # The service goes on: the next generation is released and ledgered after custody.
    released = generate(client, issue_key(runtime, "acme", Role.GENERATE)).json()
    assert released["status"] == "released"
    assert released["provenance"]["ledger_index"] == 4
