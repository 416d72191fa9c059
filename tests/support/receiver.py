"""A webhook receiver on loopback that records what it got and answers scripted codes.

with running_receiver() as receiver:
    receiver.statuses = [500]      # first answer 500, then 200
    ... deliver to receiver.url ...
    receiver.requests[0].headers["X-AIGC-Signature"]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Received", "Receiver", "running_receiver"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server answering with scripted status codes, then 200."""

    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    port: int = 0


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(Received(dict(self.headers.items()), body))
            time.sleep(state.delay_s)
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.port = int(server.server_address[1])
    state.url = f"http://127.0.0.1:{state.port}/hooks/aigc"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
