"""A real uvicorn server on a loopback port, for clients that speak HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.runtime import Runtime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    runtime: Runtime


def serve_in_thread(runtime: Runtime) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime=runtime), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return server, thread, base_url
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start within 30 s")


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[LiveServer]:
    server, thread, base_url = serve_in_thread(runtime)
    yield LiveServer(base_url, runtime)
    server.should_exit = True
    thread.join(timeout=10)
