"""Hostile request bodies against every writing operation of a real server process.

Each body kind goes to every POST/PUT/PATCH operation of ``/openapi.json`` (and the HTML
form pages that the document leaves out) under every Content-Type below, anonymously
and with an admin key. Whatever arrives, the gateway answers a 4xx in the error shape —
never a 5xx, never a dropped connection — and the process lives on (checked after every
test by ``conftest.gateway_survives``).

A slow sender gets 408 ``request_timeout`` once the body-read deadline passes.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.models import Role
from tests.security.support import (
    TENANT_A,
    TENANT_B,
    LiveGateway,
    error_shape_problem,
    fill_path,
    operations,
)

pytestmark = pytest.mark.e2e

# "None" sends no Content-Type header at all.
CONTENT_TYPES: tuple[str | None, ...] = (
    "application/json",
    "application/jsonl",
    "application/json-seq",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "image/png",
    None,
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})

# The reviewer pages and the no-JavaScript verification page post forms; they are not in
# the OpenAPI document and answer HTML, so only their status is checked.
HTML_FORM_ROUTES: tuple[str, ...] = (
    "/verify",
    "/review/login",
    "/review/logout",
    "/review/queue/next",
    "/review/tasks/{task_id}/claim",
    "/review/tasks/{task_id}/release",
    "/review/tasks/{task_id}/decision",
)

# Where a string goes in a body that each JSON operation would otherwise accept, so that
# the hostile string is what the gateway has to deal with (not a missing field).
TEXT = object()
JSON_TEMPLATES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/generations"): {"kind": "text", "prompt": TEXT},
    ("POST", "/v1/chat/completions"): {"messages": [{"role": "user", "content": TEXT}]},
    ("POST", "/v1/images/generations"): {"prompt": TEXT},
    ("POST", "/v1/moderations"): {"input": [TEXT]},
    ("POST", "/v1/moderation/terms"): {"kind": "banned_term", "term": TEXT},
    ("PUT", "/v1/policy"): {"yaml": TEXT},
    ("POST", "/v1/reviews/{task_id}/decision"): {
        "decision": "approve",
        "note": TEXT,
        "edited_output": TEXT,
    },
    ("POST", "/v1/reviews/decisions"): {"ids": [TEXT], "decision": "reject", "reason_code": TEXT},
    ("POST", "/v1/verify"): {"text": TEXT},
    ("POST", "/v1/matches/byBinding"): {"alg": "com.example.watermark", "value": TEXT},
    ("POST", "/v1/keys"): {"role": "generate", "label": TEXT},
}
GENERIC_TEMPLATE: Any = {"text": TEXT, "prompt": TEXT}

# Operations whose body is any asset to look up: a well-formed UTF-8 text is a valid asset
# (it answers 200 with no matches), so a text-shaped hostile body may be accepted there.
OPAQUE_CONTENT_OPERATIONS = frozenset({("POST", "/v1/matches/byContent")})


def _fill(template: Any, text: str) -> Any:
    if template is TEXT:
        return text
    if isinstance(template, dict):
        return {key: _fill(value, text) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, text) for value in template]
    return template


def _json_with(template: Any, text: str) -> bytes:
    # ensure_ascii writes U+0000 as \u0000 and a lone surrogate as \ud800: valid JSON.
    return json.dumps(_fill(template, text), ensure_ascii=True).encode("ascii")


BodyFactory = Callable[[Any], bytes]
BODY_KINDS: dict[str, BodyFactory] = {
    "deep_brackets": lambda _t: b"[" * 100_000,
    "deep_braces": lambda _t: b"{" * 1_000_000,
    "huge": lambda _t: b"a" * 2_000_000,
    "invalid_utf8": lambda _t: b'{"a": "\xff\xfe"}',
    "nul_string": lambda _t: b'"a\\u0000b"',
    "nul_in_body": lambda t: _json_with(t, "a\x00b"),
    "lone_surrogate_string": lambda _t: b'"a\\ud800b"',
    "lone_surrogate_in_body": lambda t: _json_with(t, "a\ud800b"),
    "truncated": lambda t: _json_with(t, "truncated here")[:-8],
}


@dataclass(frozen=True)
class Target:
    method: str
    template: str
    html: bool = False
    declares_body: bool = True

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def body_template(self) -> Any:
        return JSON_TEMPLATES.get((self.method, self.template), GENERIC_TEMPLATE)


def _targets(openapi: dict[str, Any]) -> list[Target]:
    targets = [
        Target(method, path, declares_body="requestBody" in operation)
        for method, path, operation in operations(openapi)
        if method in WRITE_METHODS
    ]
    targets += [Target("POST", path, html=True) for path in HTML_FORM_ROUTES]
    return targets


def _problem(target: Target, response: httpx.Response) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"{status} server error: {response.text[:200]!r}"
    if 200 <= status < 300:
        if not target.declares_body:
            return None  # the operation takes no body and ignores it
        if (target.method, target.template) in OPAQUE_CONTENT_OPERATIONS:
            return None if '"matches"' in response.text else f"{status}: {response.text[:200]}"
    if not 400 <= status < 500:
        return f"{status}, expected a 4xx: {response.text[:200]!r}"
    if target.html:
        return None  # HTML pages answer their errors as pages
    return error_shape_problem(response)


def _send(
    client: httpx.Client, method: str, url: str, body: bytes, headers: dict[str, str]
) -> httpx.Response | str:
    """The response, or why there was none. A connection the server closed after its last
    answer (413s say ``Connection: close``; uvicorn drops it after a 500) fails the next
    request on it, so one retry on a fresh connection tells that apart from no answer."""
    error: httpx.TransportError | None = None
    for _ in range(2):
        try:
            return client.request(method, url, content=body, headers=headers)
        except httpx.TransportError as exc:
            error = exc
    return f"no answer ({error!r})"


@pytest.fixture(scope="module")
def keep_alive(gateway: LiveGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=10) as client:
        yield client


def test_every_json_operation_has_a_body_template(openapi: dict[str, Any]) -> None:
    """A new JSON operation needs a template, or its hostile strings would miss it."""
    json_operations = {
        (method, path)
        for method, path, operation in operations(openapi)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    }
    assert json_operations - set(JSON_TEMPLATES) == set(), "add these to JSON_TEMPLATES"
    assert set(JSON_TEMPLATES) - json_operations == set(), "stale JSON_TEMPLATES entries"


@pytest.mark.parametrize("caller", ["anonymous", "admin"])
@pytest.mark.parametrize("kind", sorted(BODY_KINDS))
def test_hostile_body_is_a_4xx_everywhere(
    kind: str,
    caller: str,
    gateway: LiveGateway,
    openapi: dict[str, Any],
    keep_alive: httpx.Client,
) -> None:
    targets = _targets(openapi)
    assert any(t.template == "/v1/generations" for t in targets), "no operations found"
    auth = gateway.auth(TENANT_A, Role.ADMIN) if caller == "admin" else {}
    failures: list[str] = []
    sent = 0
    for target in targets:
        body = BODY_KINDS[kind](target.body_template)
        url = fill_path(target.template)
        for content_type in CONTENT_TYPES:
            headers = dict(auth)
            if content_type is not None:
                headers["Content-Type"] = content_type
            label = f"{target.name} [{content_type or 'no Content-Type'}]"
            sent += 1
            response = _send(keep_alive, target.method, url, body, headers)
            if isinstance(response, str):
                failures.append(f"{label}: {response}")
                dead = gateway.alive_problem()
                if dead is not None:
                    failures.append(f"the server died: {dead}\n{gateway.log_tail()}")
                    pytest.fail("\n".join(failures))
                continue
            problem = _problem(target, response)
            if problem is not None:
                failures.append(f"{label}: {problem}")
    assert not failures, (
        f"{len(failures)} of {sent} requests with a {kind} body ({caller}) went wrong:\n"
        + "\n".join(failures)
    )


# --- the body-read deadline ---------------------------------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")[1:]
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(rest) >= length:
                return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def _stalled_post(
    gateway: LiveGateway, path: str, headers: dict[str, str], first_bytes: bytes
) -> RawResponse:
    """Send the headers and the first bytes of a body, then nothing more."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + first_bytes
    with socket.create_connection(gateway.host_port, timeout=10) as sock:
        sock.settimeout(gateway.body_read_timeout_s + 10)
        sock.sendall(request)
        started = time.monotonic()
        raw = _read_response(sock)
        elapsed = time.monotonic() - started
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head, "the server closed the connection without an answer"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), parsed, body, elapsed)


MULTIPART = "multipart/form-data; boundary=x"
# A multipart body that has started well: the parser waits for the rest.
MULTIPART_START = b"--x\r\nConte"


@dataclass(frozen=True)
class StalledCase:
    """A request whose body stops after 10 of its 100 bytes."""

    path: str
    content_type: str
    first_bytes: bytes
    # Each case its own key: the verification routes allow two requests at once per key.
    tenant: str
    role: Role
    chunked: bool = False
    known_bug: str | None = None


STALLED_CASES: dict[str, StalledCase] = {
    "gen-json": StalledCase(
        "/v1/generations", "application/json", b'{"kind": "', TENANT_A, Role.GENERATE
    ),
    "verify-json": StalledCase(
        "/v1/verify", "application/json", b'{"text": "', TENANT_A, Role.AUDIT
    ),
    "png": StalledCase(
        "/v1/matches/byContent", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00", TENANT_A, Role.REVIEW
    ),
    "verify-multipart": StalledCase(
        "/v1/verify", MULTIPART, MULTIPART_START, TENANT_A, Role.SENIOR
    ),
    "stamp-chunked": StalledCase(
        "/v1/stamp", MULTIPART, MULTIPART_START, TENANT_A, Role.ADMIN, chunked=True
    ),
    "review-login-form": StalledCase(
        "/review/login",
        "application/x-www-form-urlencoded",
        b"api_key=ai",
        TENANT_B,
        Role.GENERATE,
    ),
    "stamp-multipart": StalledCase(
        "/v1/stamp", MULTIPART, MULTIPART_START, TENANT_B, Role.GENERATE
    ),
    "moderation-images-multipart": StalledCase(
        "/v1/moderation/images",
        MULTIPART,
        MULTIPART_START,
        TENANT_B,
        Role.ADMIN,
    ),
    "review-login-multipart": StalledCase(
        "/review/login", MULTIPART, MULTIPART_START, TENANT_B, Role.AUDIT
    ),
}


def _send_stalled(gateway: LiveGateway, case: StalledCase) -> RawResponse:
    assert len(case.first_bytes) == 10
    headers = {"Content-Type": case.content_type, **gateway.auth(case.tenant, case.role)}
    first_bytes = case.first_bytes
    if case.chunked:
        headers["Transfer-Encoding"] = "chunked"
        first_bytes = b"64\r\n" + first_bytes  # a chunk of 100 bytes, 10 of them sent
    else:
        headers["Content-Length"] = "100"
    return _stalled_post(gateway, case.path, headers, first_bytes)


@pytest.fixture(scope="module")
def stalled(gateway: LiveGateway) -> dict[str, RawResponse | BaseException]:
    """Every stalled request at once, so the suite waits for the deadline once."""
    with ThreadPoolExecutor(max_workers=len(STALLED_CASES)) as pool:
        futures = {
            name: pool.submit(_send_stalled, gateway, c) for name, c in STALLED_CASES.items()
        }
    results: dict[str, RawResponse | BaseException] = {}
    for name, future in futures.items():
        error = future.exception()
        results[name] = error if error is not None else future.result()
    return results


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=case.known_bug)] if case.known_bug else [],
        )
        for name, case in STALLED_CASES.items()
    ],
)
def test_a_stalled_body_is_408_within_the_deadline(
    name: str, gateway: LiveGateway, stalled: dict[str, RawResponse | BaseException]
) -> None:
    result = stalled[name]
    if isinstance(result, BaseException):
        raise result
    case = STALLED_CASES[name]
    assert result.status == 408, f"POST {case.path} ({case.content_type}): {result.body[:300]!r}"
    deadline = gateway.body_read_timeout_s
    assert deadline - 0.5 <= result.elapsed_s <= deadline + 3, (
        f"answered after {result.elapsed_s:.2f} s; the deadline is {deadline} s"
    )
    error = json.loads(result.body)["error"]
    assert error["code"] == "request_timeout"
    assert error["details"] == {"timeout_s": deadline}
    assert error["request_id"] == result.headers.get("x-request-id")
