"""Several gateway processes on one database: a change made through one reaches the others'
caches through Redis pub/sub at once, not after their TTL.

Each "process" is a ``Runtime`` of its own (its own caches, bus and subscriber thread) on
the test's database; Redis runs on 127.0.0.1:6379 on this machine, and every test gets
its own channel and rate-limit key prefix so parallel runs never hear each other.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from common.types import TenantId
from gateway.app import create_app
from gateway.auth import Principal, PrincipalCache, revoke_api_key
from gateway.cli import app as cli_app
from gateway.db import session_scope
from gateway.invalidation import Invalidations, Topic
from gateway.models import Role
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from tests.gateway.conftest import REDIS_URL
from tests.support.gateway import bearer, fake_catalog, issue_key

pytestmark = pytest.mark.db

UNREACHABLE_URL = "redis://127.0.0.1:1/0"
AD_LAW_CLAIM = "全网最佳的保温杯"  # review under cn-marketing, released under eu-general
COMPETITOR_TEXT = "试试竞品星巴克"


@pytest.fixture
def channel() -> str:
    return f"aigc-test:invalidate:{uuid.uuid4().hex}"


@pytest.fixture
def shared(database_url: str, data_dir: Path, redis_prefix: str) -> Settings:
    """What every process of the deployment is started with: keys cached for 300 s."""
    settings = Settings(
        data_dir=data_dir, database_url=database_url, auth_cache_s=300, redis_url=REDIS_URL
    )
    settings.limits.rate_limit_redis_prefix = redis_prefix
    settings.ledger.anchor.enabled = False  # no chain needed here
    return settings


def start_process(settings: Settings, channel: str) -> Runtime:
    runtime = build_runtime(
        settings.model_copy(deep=True),
        catalog=fake_catalog(),
        invalidations=Invalidations(settings.redis_url, channel=channel),
    )
    runtime.start()
    return runtime


@pytest.fixture
def processes(shared: Settings, channel: str) -> Iterator[tuple[Runtime, Runtime]]:
    first, second = start_process(shared, channel), start_process(shared, channel)
    yield first, second
    second.close()
    first.close()


def http(runtime: Runtime) -> TestClient:
    # No lifespan: the runtime is started, and closed by its fixture.
    return TestClient(create_app(runtime=runtime), raise_server_exceptions=False)


def moderate(client: TestClient, key: str, text: str) -> tuple[int, dict[str, object]]:
    response = client.post("/v1/moderations", json={"input": text}, headers=bearer(key))
    return response.status_code, response.json()


def flagged(client: TestClient, key: str, text: str) -> bool:
    status, body = moderate(client, key, text)
    assert status == 200, body
    results = body["results"]
    assert isinstance(results, list)
    return bool(results[0]["flagged"])


def seconds_until(condition: Callable[[], bool], timeout_s: float = 2.0) -> float:
    """How long ``condition`` took to hold, polled; fails after ``timeout_s``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"not within {timeout_s} s")
        time.sleep(0.01)
    return time.monotonic() - start


# --- across processes ---------------------------------------------------------------


def test_a_key_revoked_through_one_process_is_refused_by_the_other_at_once(
    processes: tuple[Runtime, Runtime],
) -> None:
    a, b = processes
    key = issue_key(a, "acme", Role.GENERATE)
    admin = issue_key(a, "acme", Role.ADMIN)
    in_a, in_b = http(a), http(b)
    assert moderate(in_b, key, "你好")[0] == 200
    assert b.principals.get(key) is not None  # cached in B for 300 s
    revoked = in_a.delete(f"/v1/keys/{key.split('_')[1]}", headers=bearer(admin))
    assert revoked.status_code == 200
    assert seconds_until(lambda: moderate(in_b, key, "你好")[0] == 401) < 1.0


def test_a_brand_list_change_applies_to_the_other_process_on_its_next_request(
    processes: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lists cached for 300 s instead of 2: only the message can make B read them again.
    monkeypatch.setattr("gateway.adapters.moderation._LISTS_TTL_S", 300.0)
    a, b = processes
    key = issue_key(a, "acme", Role.GENERATE)
    admin = issue_key(a, "acme", Role.ADMIN)
    in_a, in_b = http(a), http(b)
    assert flagged(in_b, key, COMPETITOR_TEXT) is False
    body = {"kind": "competitor", "term": "星巴克"}
    added = in_a.post("/v1/moderation/terms", json=body, headers=bearer(admin))
    assert added.status_code == 201
    assert seconds_until(lambda: flagged(in_b, key, COMPETITOR_TEXT)) < 1.0
    removed = in_a.delete(f"/v1/moderation/terms/{added.json()['id']}", headers=bearer(admin))
    assert removed.status_code == 204
    assert seconds_until(lambda: not flagged(in_b, key, COMPETITOR_TEXT)) < 1.0


def test_a_tenant_policy_change_applies_to_keys_cached_by_the_other_process(
    processes: tuple[Runtime, Runtime],
) -> None:
    a, b = processes
    key = issue_key(a, "acme", Role.GENERATE)
    admin = issue_key(a, "acme", Role.ADMIN)
    in_a, in_b = http(a), http(b)

    def policy_in_b() -> object:
        status, body = moderate(in_b, key, AD_LAW_CLAIM)
        assert status == 200, body
        return body["model"]

    assert policy_in_b() == "cn-marketing"  # B caches the key with its tenant's policy
    changed = in_a.put("/v1/policy", json={"policy": "eu-general"}, headers=bearer(admin))
    assert changed.status_code == 200
    assert seconds_until(lambda: policy_in_b() == "eu-general") < 1.0


def test_the_public_verify_limit_is_shared_through_the_coordination_store(
    shared: Settings, channel: str, redis_prefix: str
) -> None:
    shared.limits.verify_requests_per_minute = 3
    assert not shared.limits.rate_limit_redis_url  # only the top-level redis_url is set
    a, b = start_process(shared, channel), start_process(shared, channel)
    try:
        in_a, in_b = http(a), http(b)
        text = {"text": "hello"}
        assert [in_a.post("/v1/verify", json=text).status_code for _ in range(2)] == [200, 200]
        assert in_b.post("/v1/verify", json=text).status_code == 200
        assert in_b.post("/v1/verify", json=text).status_code == 429  # 3 in all, not 6
        assert in_a.post("/v1/verify", json=text).status_code == 429
    finally:
        b.close()
        a.close()
    client = redis.Redis.from_url(REDIS_URL)
    assert list(client.scan_iter(match=redis_prefix + "*"))
    client.close()


def test_a_key_revoked_by_the_cli_is_refused_by_a_serving_process(
    shared: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI speaks on the default channel; a message of another test run there only
    # costs this process a cache miss.
    b = start_process(shared, Invalidations().channel)
    try:
        key = issue_key(b, "acme", Role.GENERATE)
        in_b = http(b)
        assert moderate(in_b, key, "你好")[0] == 200
        environment = {
            "AIGC_DATA_DIR": str(shared.data_dir),
            "AIGC_DATABASE_URL": shared.database_url_resolved,
            "AIGC_REDIS_URL": REDIS_URL,
            "AIGC_LEDGER__ANCHOR__ENABLED": "false",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(cli_app, ["keys", "revoke", key.split("_")[1]])
        assert result.exit_code == 0, result.output
        assert seconds_until(lambda: moderate(in_b, key, "你好")[0] == 401) < 1.0
    finally:
        b.close()


# --- Redis trouble ------------------------------------------------------------------


def test_after_a_lost_connection_the_subscriber_reconnects_and_forgets_everything(
    processes: tuple[Runtime, Runtime],
) -> None:
    a, b = processes
    key = issue_key(a, "acme", Role.GENERATE)
    in_b = http(b)
    assert moderate(in_b, key, "你好")[0] == 200
    # Revoked without a message, as if it had been sent while B was disconnected.
    with session_scope(a.engine) as session:
        revoke_api_key(session, key.split("_")[1])
    assert moderate(in_b, key, "你好")[0] == 200  # still cached
    kill_subscriber_connection(b)
    assert seconds_until(lambda: moderate(in_b, key, "你好")[0] == 401) < 2.0
    seconds_until(lambda: b.invalidations.subscribed)
    assert b.readiness_problems() == []


def kill_subscriber_connection(runtime: Runtime) -> None:
    name = f"aigc-invalidations-{runtime.invalidations.origin[:12]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        ids = [entry["id"] for entry in client.client_list() if entry.get("name") == name]
        assert len(ids) == 1
        client.client_kill_filter(_id=ids[0])
    finally:
        client.close()


def test_an_unreachable_redis_is_a_readiness_warning_and_caches_stay_local(
    shared: Settings, channel: str
) -> None:
    shared.redis_url = UNREACHABLE_URL
    runtime = start_process(shared, channel)
    try:
        client = http(runtime)
        ready = client.get("/readyz")
        # Requests still work: a load balancer must not take every process out at once.
        assert ready.status_code == 200
        coordination = ready.json()["components"]["coordination"]
        assert coordination["status"] == "warning"
        [warning] = coordination["warnings"]
        assert warning.startswith("Redis at 127.0.0.1:1 is unreachable")
        assert warning in ready.json()["warnings"]
        key = issue_key(runtime, "acme", Role.GENERATE)
        admin = issue_key(runtime, "acme", Role.ADMIN)
        assert moderate(client, key, "你好")[0] == 200
        revoked = client.delete(f"/v1/keys/{key.split('_')[1]}", headers=bearer(admin))
        assert revoked.status_code == 200  # the broadcast failed; the revocation stands
        assert moderate(client, key, "你好")[0] == 401  # and applies here at once
    finally:
        runtime.close()


# --- the bus ------------------------------------------------------------------------


def test_a_bus_ignores_its_own_and_unreadable_messages_and_survives_failing_handlers() -> None:
    bus = Invalidations()
    forgotten: list[str] = []

    def broken(_key: str) -> None:
        raise RuntimeError("a broken cache")

    bus.register(Topic.API_KEY, broken, clear=lambda: None)
    bus.register(Topic.API_KEY, forgotten.append, clear=lambda: None)
    bus.publish(Topic.API_KEY, "k1")  # no Redis: local only
    other = Invalidations()
    bus.receive(f'{{"origin": "{other.origin}", "topic": "api_key", "key": "k2"}}')
    bus.receive(f'{{"origin": "{bus.origin}", "topic": "api_key", "key": "k3"}}')
    bus.receive(b"not json")
    bus.receive(f'{{"origin": "{other.origin}", "topic": "from_the_future", "key": "k4"}}')
    assert forgotten == ["k1", "k2"]
    assert bus.readiness_problem() is None


def test_a_lookup_that_races_a_revocation_is_not_remembered() -> None:
    # A miss read the row before another process revoked the key; the message arrived
    # before the result was put: caching it would keep the revoked key for the TTL.
    cache = PrincipalCache(ttl_s=300)
    principal = Principal(key_id="k1", tenant_id=TenantId("acme"), role=Role.GENERATE)
    assert cache.get("aigc_k1_s") is None
    cache.forget_key("k1")
    cache.put("aigc_k1_s", principal)
    assert cache.get("aigc_k1_s") is None
    cache.put("aigc_k1_s", principal)  # the next lookup, with nothing in between
    assert cache.get("aigc_k1_s") == principal
