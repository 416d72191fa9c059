"""An OpenAI-compatible chat completions server on loopback that answers after a fixed
delay: it stands for a GPU model in the scale-out tests and benchmark.

    with upstream_server(delay_s=0.3) as base_url:   # http://127.0.0.1:PORT/v1
        ...
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["upstream_server"]


def _handler(delay_s: float) -> type[BaseHTTPRequestHandler]:
    class ChatCompletions(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            time.sleep(delay_s)
            prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
            body = json.dumps(
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", "stub"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"好的:{prompt}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return

    return ChatCompletions


@contextmanager
def upstream_server(delay_s: float) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(delay_s))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
