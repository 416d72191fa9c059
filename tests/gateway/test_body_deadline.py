"""The body-read deadline: a sender that stops mid-body gets 408, not a held connection."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.middleware import BodyLimitMiddleware, RequestTimeoutError


async def _echo_body(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _scope(content_type: bytes, length: int | None = None) -> Scope:
    headers = [(b"content-type", content_type)]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "method": "POST", "path": "/x", "query_string": b"", "headers": headers}


def _stalling_receive(first: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": first, "more_body": True}
        await asyncio.sleep(3600)  # the client never sends the rest
        raise AssertionError("unreachable")

    return receive


async def _call(scope: Scope, receive: Receive, timeout_s: float) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = BodyLimitMiddleware(_echo_body, 1_000_000, 1_000_000, timeout_s)
    await asyncio.wait_for(middleware(scope, receive, send), timeout=5)
    return sent


def _status_and_error(sent: list[Message]) -> tuple[int, Any]:
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)["error"]


def test_a_json_body_that_stalls_is_408() -> None:
    sent = asyncio.run(_call(_scope(b"application/json"), _stalling_receive(b'{"a":'), 0.2))
    status, error = _status_and_error(sent)
    assert status == 408
    assert error["code"] == "request_timeout"
    assert error["details"] == {"timeout_s": 0.2}


def test_a_streamed_upload_that_stalls_is_refused() -> None:
    # Uploads with a Content-Length stream to the app: the deadline fires inside it, as
    # an exception the app's error handlers turn into the 408 (here: no handlers).
    scope = _scope(b"multipart/form-data; boundary=x", length=1000)
    with pytest.raises(RequestTimeoutError):
        asyncio.run(_call(scope, _stalling_receive(b"--x\r\n"), 0.2))


def test_a_complete_body_passes_and_later_receives_are_unbounded() -> None:
    async def receive_once() -> Message:
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    sent = asyncio.run(_call(_scope(b"application/json"), receive_once, 0.2))
    assert sent[0]["status"] == 200
