"""A real ``aigc-gateway serve`` process for the security suite, shared by the session.

The process runs what the gateway tests' ``settings`` fixture sets (a fresh data
directory and SQLite database) plus the deterministic generators of
``tests.support.gateway.fake_catalog``, chosen through settings since a subprocess
cannot be handed a catalog object. Two more settings make the suite fast: a 2 s
body-read deadline (the slow-body tests wait for it) and verification rate limits high
enough that the hostile-body matrix is not answered by 429s.

After every test the process must still be running and answer ``GET /healthz``: a
request that crashed it fails the test that sent it, not some later one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.models import Role
from tests.security.support import TENANTS, LiveGateway, bearer

BODY_READ_TIMEOUT_S = 2.0
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gateway_command() -> list[str]:
    """The console script of the interpreter running the tests (``.venv/bin``)."""
    script = Path(sys.executable).with_name("aigc-gateway")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "gateway.cli"]


def _server_env(data_dir: Path) -> dict[str, str]:
    # Nothing from the caller's AIGC_* environment leaks into the server under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_")}
    env.update(
        {
            "AIGC_DATA_DIR": str(data_dir),
            "AIGC_DATABASE_URL": f"sqlite:///{data_dir / 'gateway.db'}",
            "AIGC_GENERATORS__DEFAULT_TEXT_GENERATOR": "fake-text",
            "AIGC_GENERATORS__DEFAULT_IMAGE_GENERATOR": "fake-image",
            "AIGC_GENERATORS__DEFAULT_MODEL3D_GENERATOR": "fake-3d",
            "AIGC_SERVER__BODY_READ_TIMEOUT_S": str(BODY_READ_TIMEOUT_S),
            "AIGC_LIMITS__VERIFY_REQUESTS_PER_MINUTE": "1000000",
            "AIGC_LIMITS__VERIFY_TENANT_REQUESTS_PER_MINUTE": "1000000",
            "AIGC_LOG_LEVEL": "INFO",
        }
    )
    return env


def _progress(config: pytest.Config, message: str) -> None:
    """Print past pytest's capture, so a slow start shows what it is waiting for."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(message, file=sys.stderr, flush=True)
        return
    with capture.global_and_fixture_disabled():
        print(message, file=sys.stderr, flush=True)


def _wait_until_healthy(gateway: LiveGateway, config: pytest.Config) -> None:
    started = time.monotonic()
    last_report = started
    while True:
        elapsed = time.monotonic() - started
        if gateway.process.poll() is not None:
            raise RuntimeError(
                f"aigc-gateway serve exited with {gateway.process.returncode} during start-up"
                f"\n--- server log ---\n{gateway.log_tail()}"
            )
        try:
            if httpx.get(f"{gateway.base_url}/healthz", timeout=2).status_code == 200:
                _progress(config, f"[security] gateway healthy after {elapsed:.1f} s")
                return
        except httpx.TransportError:
            pass
        if elapsed > START_TIMEOUT_S:
            raise RuntimeError(
                f"GET /healthz did not answer 200 within {START_TIMEOUT_S:.0f} s"
                f"\n--- server log ---\n{gateway.log_tail()}"
            )
        if time.monotonic() - last_report >= 5:
            last_report = time.monotonic()
            _progress(
                config, f"[security] waiting for {gateway.base_url}/healthz ({elapsed:.0f} s)"
            )
        time.sleep(0.2)


def _cli_admin_key(env: dict[str, str], tenant: str) -> str:
    """``aigc-gateway keys create`` — the operator's way to the first key of a tenant."""
    done = subprocess.run(
        [*_gateway_command(), "keys", "create", "--tenant", tenant, "--role", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"keys create failed: {done.stderr}"
    return done.stdout.strip().splitlines()[-1]


def _issue_keys(gateway: LiveGateway, env: dict[str, str]) -> None:
    """An admin key per tenant from the CLI, then every other role through POST /v1/keys."""
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        for tenant in TENANTS:
            admin = _cli_admin_key(env, tenant)
            gateway.keys[(tenant, Role.ADMIN)] = admin
            listed = client.get("/v1/keys", headers=bearer(admin))
            assert listed.status_code == 200, listed.text
            gateway.key_ids[(tenant, Role.ADMIN)] = listed.json()["items"][0]["id"]
            for role in Role:
                if role is Role.ADMIN:
                    continue
                created = client.post(
                    "/v1/keys",
                    json={"role": role.value, "label": f"{tenant} {role.value}"},
                    headers=bearer(admin),
                )
                assert created.status_code == 201, created.text
                gateway.keys[(tenant, role)] = created.json()["key"]
                gateway.key_ids[(tenant, role)] = created.json()["id"]


@pytest.fixture(scope="session")
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    data_dir = tmp_path_factory.mktemp("security-gateway")
    log_path = data_dir / "server.log"
    env = _server_env(data_dir)
    port = _free_port()
    command = [*_gateway_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    _progress(request.config, f"[security] starting {' '.join(command)} (data in {data_dir})")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    gateway = LiveGateway(
        base_url=f"http://127.0.0.1:{port}",
        process=process,
        data_dir=data_dir,
        log_path=log_path,
        body_read_timeout_s=BODY_READ_TIMEOUT_S,
    )
    try:
        _wait_until_healthy(gateway, request.config)
        _issue_keys(gateway, env)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(autouse=True)
def gateway_survives(gateway: LiveGateway) -> Iterator[None]:
    """Every test leaves the server running and healthy."""
    gateway.assert_alive()
    yield
    gateway.assert_alive()


@pytest.fixture(scope="session")
def openapi(gateway: LiveGateway) -> dict[str, Any]:
    response = httpx.get(f"{gateway.base_url}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture
def http(gateway: LiveGateway) -> Iterator[httpx.Client]:
    """A keep-alive client with a short timeout."""
    with httpx.Client(base_url=gateway.base_url, timeout=15) as client:
        yield client
