"""``aigc-gateway serve``'s uvicorn options against a real server: header deadline,
forwarded-address trust."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.runtime import Runtime
from gateway.server import _H11WithHeaderDeadline, header_deadline_protocol, uvicorn_options
from gateway.settings import ServerSettings
from tests.e2e.conftest import serving

pytestmark = pytest.mark.e2e


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False


@pytest.fixture(params=["fastest", "h11"])
def deadline_server(request: pytest.FixtureRequest, runtime: Runtime) -> Iterator[str]:
    options = uvicorn_options(ServerSettings(header_read_timeout_s=0.5))
    if request.param == "h11":
        options["http"] = type("H11", (_H11WithHeaderDeadline,), {"header_timeout_s": 0.5})
    with serving(runtime, **options) as base_url:
        yield base_url


def test_headers_that_trickle_past_the_deadline_close_the_connection(
    deadline_server: str,
) -> None:
    with socket.create_connection(("127.0.0.1", _port(deadline_server))) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        assert _closed_within(sock, 5)


def test_a_request_in_time_is_served_and_the_next_one_gets_a_fresh_deadline(
    deadline_server: str,
) -> None:
    with socket.create_connection(("127.0.0.1", _port(deadline_server))) as sock:
        time.sleep(0.3)  # within the deadline
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # the keep-alive's next request stalls
        assert _closed_within(sock, 5)


def test_a_body_sent_after_the_header_deadline_is_still_read(deadline_server: str) -> None:
    # The deadline covers headers only: once they are complete it is disarmed, and the
    # body has its own (longer) deadline in the app.
    with socket.create_connection(("127.0.0.1", _port(deadline_server))) as sock:
        body = b'{"text": "hello"}'
        sock.sendall(
            b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        time.sleep(1.0)  # twice the header deadline
        sock.sendall(body)
        sock.settimeout(10)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_the_fastest_protocol_is_chosen() -> None:
    protocol = header_deadline_protocol(1.0)
    assert protocol.__name__ in {"HttpToolsWithHeaderDeadline", "_H11WithHeaderDeadline"}


def _verify_statuses(base_url: str, spoofed: list[str]) -> list[int]:
    return [
        httpx.post(
            f"{base_url}/v1/verify", json={"text": "x"}, headers={"X-Forwarded-For": ip}
        ).status_code
        for ip in spoofed
    ]


def test_forwarded_for_is_not_believed_by_default(runtime: Runtime) -> None:
    runtime.settings.limits.verify_requests_per_minute = 2
    with serving(runtime, **uvicorn_options(ServerSettings())) as base_url:
        statuses = _verify_statuses(base_url, ["198.51.100.1", "198.51.100.2", "198.51.100.3"])
        assert statuses == [200, 200, 429]  # one bucket: the socket peer's


def test_forwarded_for_from_a_named_proxy_is_the_client(runtime: Runtime) -> None:
    runtime.settings.limits.verify_requests_per_minute = 2
    options = uvicorn_options(ServerSettings(forwarded_allow_ips="127.0.0.1"))
    with serving(runtime, **options) as base_url:
        statuses = _verify_statuses(base_url, ["198.51.100.1", "198.51.100.2", "198.51.100.3"])
        assert statuses == [200, 200, 200]  # each forwarded client its own bucket
