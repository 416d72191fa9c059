"""Celery mode as deployed: API processes and workers as real processes, on the machine's
PostgreSQL, with a Redis server of the test's own (so it can be restarted) and, once,
the machine's RabbitMQ. Workers and API processes are SIGKILLed mid-run.

Runs in the PostgreSQL pass (AIGC_TEST_DB=postgres): several processes on one SQLite
file is not a deployment this project supports.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.conftest import free_port
from tests.support.upstream import upstream_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.db,
    pytest.mark.skipif(
        os.environ.get("AIGC_TEST_DB") != "postgres",
        reason="several processes on one database is the PostgreSQL deployment; runs in "
        "the AIGC_TEST_DB=postgres pass",
    ),
]

FINAL = {"released", "pending_review", "blocked", "failed"}


class RedisServer:
    """A redis-server of this test's own, on a free port, that can be stopped and started."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import redis

                if redis.Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class Cluster:
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_urls: dict[str, str] = field(default_factory=dict)

    def start_api(self, name: str) -> str:
        port = free_port()
        self._spawn(name, ["serve", "--host", "127.0.0.1", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        self._wait_ready(name, url)
        self.api_urls[name] = url
        return url

    def start_worker(self, name: str, concurrency: int = 4) -> None:
        self._spawn(name, ["worker", "--concurrency", str(concurrency), "--name", name])

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self.api_urls.pop(name, None)

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def _spawn(self, name: str, args: list[str]) -> None:
        out = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self, name: str, url: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.processes[name].poll() is None, self.log(name)
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{name} did not start: {self.log(name)}")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def cluster_env(
    data_dir: Path, database_url: str, tiny_models_dir: Path, broker_url: str, upstream: str
) -> dict[str, str]:
    return {
        **os.environ,
        "AIGC_DATA_DIR": str(data_dir),
        "AIGC_DATABASE_URL": database_url,
        "AIGC_MODELS_DIR": str(tiny_models_dir),
        "AIGC_LEDGER__ANCHOR__NODE": "eth_tester",
        "AIGC_EXECUTION": "celery",
        "AIGC_BROKER_URL": broker_url,
        "AIGC_JOBS__QUEUE_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
        "AIGC_JOBS__LEASE_S": "3",
        "AIGC_JOBS__REAPER_INTERVAL_S": "0.5",
        "AIGC_JOBS__REPUBLISH_AFTER_S": "4",
        "AIGC_JOBS__RETRY_BACKOFF_S": "0.5",
        "AIGC_GENERATORS__DEFAULT_TEXT_GENERATOR": "openai-upstream",
        "AIGC_GENERATORS__UPSTREAM_BASE_URL": upstream,
        "AIGC_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def cluster(
    data_dir: Path,
    database_url: str,
    tiny_models_dir: Path,
    redis_server: RedisServer,
    tmp_path: Path,
) -> Iterator[Cluster]:
    with upstream_server(delay_s=0.05) as upstream:
        env = cluster_env(data_dir, database_url, tiny_models_dir, redis_server.url, upstream)
        running = Cluster(env, tmp_path)
        try:
            yield running
        finally:
            running.stop_all()


def admin_key(data_dir: Path) -> str:
    return (data_dir / "secrets" / "admin_api_key").read_text().strip()


def generate_key(url: str, data_dir: Path) -> str:
    created = httpx.post(
        f"{url}/v1/keys",
        json={"role": "generate"},
        headers={"Authorization": f"Bearer {admin_key(data_dir)}"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def submit(url: str, key: str, prompt: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/generations",
        json={"kind": "text", "prompt": prompt},
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=30,
    )


def wait_all_final(url: str, key: str, ids: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        for generation_id in ids:
            if states.get(generation_id) in FINAL:
                continue
            response = httpx.get(
                f"{url}/v1/generations/{generation_id}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            states[generation_id] = response.json()["status"]
        if all(state in FINAL for state in states.values()) and len(states) == len(ids):
            return states
        time.sleep(0.3)
    return states


def stamp_leaves(database_url: str) -> dict[str, int]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT generation_id, count(*) FROM ledger_leaves "
                    "WHERE event_type = 'stamp' GROUP BY generation_id"
                )
            )
            return {row[0]: int(row[1]) for row in rows}
    finally:
        engine.dispose()


def audit_passes(env: dict[str, str]) -> bool:
    audit = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "ledger", "audit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return audit.returncode == 0


def test_jobs_survive_a_killed_worker_and_a_killed_api_process(
    cluster: Cluster, data_dir: Path, database_url: str
) -> None:
    api_a = cluster.start_api("api-a")
    api_b = cluster.start_api("api-b")
    cluster.start_worker("worker-1")
    cluster.start_worker("worker-2")
    key = generate_key(api_a, data_dir)

    # The same Idempotency-Key through both API processes: one generation.
    first = submit(api_a, key, "同一个订单", **{"Idempotency-Key": "order-7"})
    again = submit(api_b, key, "同一个订单", **{"Idempotency-Key": "order-7"})
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert again.json()["id"] == first.json()["id"]

    accepted: list[str] = [first.json()["id"]]
    for n in range(99):
        target = api_a if n % 2 and "api-a" in cluster.api_urls else api_b
        response = submit(target, key, f"春季新品 {n}")
        assert response.status_code == 202, response.text
        assert response.json()["status"] in ("queued", "running")
        accepted.append(response.json()["id"])
        if n == 40:
            cluster.kill("worker-1")  # mid-run: it holds jobs it never finishes
        if n == 60:
            cluster.kill("api-a")  # every 202 it gave is in the database already
    states = wait_all_final(api_b, key, accepted, timeout_s=180)
    assert len(states) == 100
    assert set(states.values()) == {"released"}, states
    stamps = stamp_leaves(database_url)
    assert all(stamps.get(generation_id) == 1 for generation_id in accepted)
    assert audit_passes(cluster.env)


def test_jobs_resume_after_the_broker_restarts(
    cluster: Cluster, data_dir: Path, redis_server: RedisServer
) -> None:
    api = cluster.start_api("api")
    key = generate_key(api, data_dir)
    accepted = []
    for n in range(10):  # queued with no worker yet
        response = submit(api, key, f"夏季新品 {n}")
        assert response.status_code == 202, response.text
        accepted.append(response.json()["id"])
    redis_server.stop()  # keeps nothing: every queued message is gone
    refused = submit(api, key, "经纪人不在")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "broker_unavailable"
    ready = httpx.get(f"{api}/readyz", timeout=10)
    assert ready.status_code == 503
    redis_server.start()
    cluster.start_worker("worker")
    states = wait_all_final(api, key, accepted, timeout_s=120)
    assert set(states.values()) == {"released"}, (states, cluster.log("worker"))


def test_a_rabbitmq_broker_runs_jobs(
    data_dir: Path, database_url: str, tiny_models_dir: Path, tmp_path: Path
) -> None:
    with upstream_server(delay_s=0.01) as upstream:
        env = cluster_env(
            data_dir,
            database_url,
            tiny_models_dir,
            "amqp://guest:guest@127.0.0.1:5672//",
            upstream,
        )
        cluster = Cluster(env, tmp_path)
        try:
            api = cluster.start_api("api")
            cluster.start_worker("worker", concurrency=2)
            key = generate_key(api, data_dir)
            ids = [submit(api, key, f"秋季新品 {n}").json()["id"] for n in range(5)]
            states = wait_all_final(api, key, ids, timeout_s=90)
            assert set(states.values()) == {"released"}, (states, cluster.log("worker"))
        finally:
            cluster.stop_all()
