"""Slowloris: connections that trickle their headers, against uvicorn with and without our
header-read deadline (``gateway/server.py``).

Each of ``--connections`` sockets sends a request line and then one header byte every
second, never finishing. After ``--hold-s`` seconds the table shows how many the server
still holds open (baseline: uvicorn's own protocol, which has no such deadline) and
whether a normal request is still answered::

    .venv/bin/python bench/slow_clients.py             # 300 connections, 15 s
    .venv/bin/python bench/slow_clients.py --quick     # 30 connections, 4 s
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.app import create_app  # noqa: E402
from gateway.runtime import build_runtime  # noqa: E402
from gateway.server import uvicorn_options  # noqa: E402
from gateway.settings import ServerSettings, Settings  # noqa: E402

HEADER_DEADLINE_S = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(data_dir: Path, options: dict[str, Any]) -> tuple[uvicorn.Server, int]:
    settings = Settings(data_dir=data_dir, log_level="WARNING")
    runtime = build_runtime(settings)
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime=runtime), host="127.0.0.1", port=port, log_level="warning", **options
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server, port
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True  # nothing to read and not closed
    except OSError:
        return False


def trickle(port: int, connections: int, hold_s: float) -> tuple[int, int, float]:
    """(connections still open after ``hold_s``, status and latency of a normal request
    then)."""
    sockets = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append(sock)
    started = time.monotonic()
    while time.monotonic() - started < hold_s:
        for sock in sockets:
            with contextlib.suppress(OSError):  # closed by the server: the deadline's work
                sock.sendall(b"a")
        time.sleep(1.0)
    open_count = sum(still_open(sock) for sock in sockets)
    probe_started = time.perf_counter()
    status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code
    probe_ms = (time.perf_counter() - probe_started) * 1000
    for sock in sockets:
        sock.close()
    return open_count, status, probe_ms


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 connections, 4 s")
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--hold-s", type=float, default=None)
    args = parser.parse_args(argv)
    connections = args.connections or (30 if args.quick else 300)
    hold_s = args.hold_s or (4.0 if args.quick else 15.0)
    ours = uvicorn_options(ServerSettings(header_read_timeout_s=HEADER_DEADLINE_S))
    baseline = {key: value for key, value in ours.items() if key != "http"}
    rows = []
    for name, options in (("uvicorn alone (baseline)", baseline), ("with header deadline", ours)):
        print(f"running {name} …", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="aigc-bench-") as tmp:
            server, port = start(Path(tmp), options)
            try:
                open_count, status, probe_ms = trickle(port, connections, hold_s)
            finally:
                server.should_exit = True
        rows.append(
            f"| {name} | {connections} | {hold_s:.0f} | {open_count} | {status}, {probe_ms:.1f} |"
        )
    print(f"header deadline {HEADER_DEADLINE_S:.0f} s; one header byte per second per connection")
    print("| server | trickling connections | after (s) | still open | /healthz then |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
