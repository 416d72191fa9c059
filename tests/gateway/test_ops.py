"""Health, readiness (with reasons), OpenAPI docs, and a missing model answering 503."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.models import Role
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


@pytest.fixture
def no_models_client(database_url: str, data_dir: Path) -> Iterator[tuple[TestClient, str]]:
    """The real generator catalog with an empty models directory."""
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        models_dir=data_dir / "empty-models",
        ledger={"anchor": {"enabled": False}},
    )
    runtime = build_runtime(settings)
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        yield client, issue_key(runtime, "acme", Role.GENERATE)


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["problems"]) == ("ready", [])
    components = body["components"]
    # The parts the issue names, each with what it is and whether it works.
    assert {"database", "broker", "object_store", "chain"} <= set(components)
    assert components["database"]["status"] == "ok"
    assert components["broker"]["kind"].startswith("not used")
    assert components["object_store"]["kind"].startswith("directory")
    assert components["chain"]["status"] in ("ok", "warning")
    # Anchoring to the in-process chain (the tests' setting) is a warning, not a problem.
    assert body["warnings"] == components["chain"]["warnings"]


def test_missing_model_explains_itself(no_models_client: tuple[TestClient, str]) -> None:
    client, key = no_models_client
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert any("models init" in problem for problem in ready.json()["problems"])
    response = client.post(
        "/v1/generations", json={"kind": "text", "prompt": "新品"}, headers=bearer(key)
    )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "generator_unavailable"
    assert "Traceback" not in error["message"]
    assert client.get("/healthz").status_code == 200


def test_openapi_and_docs_are_public_and_complete(client: TestClient) -> None:
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/v1/generations",
        "/v1/generations/{generation_id}/content",
        "/v1/stamp",
        "/v1/verify",
        "/v1/chat/completions",
        "/v1/images/generations",
        "/v1/moderations",
        "/v1/reviews/{task_id}/decision",
        "/v1/ledger/checkpoint",
        "/v1/ledger/proofs/inclusion",
        "/v1/keys",
    ):
        assert path in paths, path
    assert client.get("/docs").status_code == 200


def test_a_database_outage_is_503_with_retry_after(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    import gateway.routes.generations as generations

    key = issue_key(runtime, "acme", Role.GENERATE)

    def database_gone(*_args: object, **_kwargs: object) -> object:
        raise sa.exc.OperationalError("SELECT …", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(generations, "list_generations", database_gone)
    response = client.get("/v1/generations", headers=bearer(key))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_an_unreachable_anchor_endpoint_makes_the_gateway_not_ready(
    database_url: str, data_dir: Path
) -> None:
    key_file = data_dir / "anchor.key"
    key_file.write_text("0x" + "11" * 32)
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        ledger={
            "anchor": {
                "rpc_url": "http://127.0.0.1:9",
                "key_file": str(key_file),
                "contract_address": "0x" + "22" * 20,
                "rpc_timeout_s": 1,
            }
        },
    )
    with TestClient(create_app(runtime=build_runtime(settings))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["components"]["chain"]["kind"] == "anchoring"
    assert any(p.startswith("chain: the chain's RPC endpoint") for p in body["problems"])
