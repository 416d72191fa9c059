"""A real uvicorn server on a loopback port, for clients that speak HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from gateway.app import create_app
from gateway.runtime import Runtime
from tests.gateway.test_verification_world import provenance_settings, world

__all__ = [
    "LiveServer",
    "free_port",
    "live_server",
    "provenance_settings",  # a fixture of the verification world, imported for pytest
    "serve_in_thread",
    "serving",
    "world",  # likewise
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    runtime: Runtime


def serve_in_thread(
    runtime: Runtime, app: FastAPI | None = None, **options: Any
) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Starts uvicorn (with ``options``) on a free port; returns once /healthz answers 200.

    The app is the runtime's own unless ``app`` is given.
    """
    port = free_port()
    app = app or create_app(runtime=runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
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


@contextmanager
def serving(runtime: Runtime, app: FastAPI | None = None, **options: Any) -> Iterator[str]:
    """The base URL of a server running while the block runs (arguments as in
    ``serve_in_thread``)."""
    server, thread, base_url = serve_in_thread(runtime, app, **options)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[LiveServer]:
    with serving(runtime) as base_url:
        yield LiveServer(base_url, runtime)
