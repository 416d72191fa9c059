"""Hostile query and path parameters against every operation of a real server process.

Cursors, filters, numbers and ids are the other half of what a client controls: each
value below goes into every query parameter of ``/openapi.json`` (the operation's other
required parameters filled in) and into every path parameter. The gateway answers 2xx
or 4xx in the error shape — never a 5xx — and the process lives on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.models import Role
from tests.security.support import (
    TENANT_A,
    LiveGateway,
    error_shape_problem,
    fill_path,
    operations,
)

pytestmark = pytest.mark.e2e

# Already percent-encoded: sent as they are.
HOSTILE_VALUES: dict[str, str] = {
    "naive_datetime_cursor": "2026-01-01T00:00:00%7Cgen_x",
    "date_only_cursor": "2026-01-01%7Cgen_x",
    "far_future_cursor": "9999-12-31T23:59:59%2B00:00%7Cgen_x",
    "beyond_int64": "99999999999999999999",
    "int64_max_plus_one": "9223372036854775808",
    "negative": "-1",
    "float_overflow": "1e400",
    "nan": "NaN",
    "lone_surrogate": "%ED%A0%80",
    "invalid_utf8": "%FF%FE",
    "overlong_nul": "%C0%80",
    "right_to_left_override": "%E2%80%AE",
    "long": "a" * 4000,
    "empty": "",
    "traversal": "..%2F..%2Fsecrets%2Fadmin_api_key",
}

# Values for an operation's required query parameters, so that the one under test is
# what the route has to deal with.
REQUIRED_DEFAULTS: dict[str, str] = {"index": "0", "first": "1", "alg": "x", "value": "x"}

# Path parameters: ids are strings or integers in the routes.
PATH_METHODS = frozenset({"GET", "DELETE", "POST"})

# Cursors that were 500s (found by this suite): a naive datetime compared with an aware
# column; an integer beyond the id column's range. Each must be exactly 422 now.
CURSOR_REGRESSIONS: tuple[tuple[str, str, str], ...] = (
    ("/v1/generations", "cursor", "naive_datetime_cursor"),
    ("/v1/generations", "cursor", "date_only_cursor"),
    ("/v1/webhooks/deliveries", "cursor", "beyond_int64"),
    ("/v1/webhooks/deliveries", "cursor", "int64_max_plus_one"),
)


def _query_url(template: str, operation: dict[str, Any], name: str, value: str) -> str:
    query = [f"{name}={value}"]
    for parameter in operation.get("parameters", []):
        other = parameter["name"]
        if parameter["in"] == "query" and parameter.get("required") and other != name:
            query.append(f"{other}={REQUIRED_DEFAULTS[other]}")
    return f"{fill_path(template)}?{'&'.join(query)}"


def _problem(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:200]!r}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return error_shape_problem(response)
    if response.status_code >= 400:
        return f"{response.status_code} is not JSON: {response.text[:120]!r}"
    return None


def _send(
    client: httpx.Client, gateway: LiveGateway, method: str, url: str
) -> httpx.Response | str:
    """The response, or why there was none. A 500 makes uvicorn drop the keep-alive
    connection, so one retry on a fresh connection tells that apart from a dead server."""
    headers = gateway.auth(TENANT_A, Role.ADMIN)
    for attempt in range(2):
        try:
            return client.request(method, url, headers=headers)
        except httpx.TransportError as exc:
            if attempt == 1 or gateway.alive_problem() is not None:
                return f"no answer ({exc!r}); {gateway.alive_problem() or 'server alive'}"
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def client(gateway: LiveGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=10) as http:
        yield http


def _query_cases(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    for method, template, operation in operations(openapi):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                yield method, template, operation, parameter["name"]


def test_every_required_query_parameter_has_a_default(openapi: dict[str, Any]) -> None:
    required = {
        p["name"]
        for _, _, operation in operations(openapi)
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    assert required <= set(REQUIRED_DEFAULTS), f"add to REQUIRED_DEFAULTS: {required}"


@pytest.mark.parametrize("kind", sorted(HOSTILE_VALUES))
def test_hostile_query_values_are_never_a_5xx(
    kind: str, gateway: LiveGateway, openapi: dict[str, Any], client: httpx.Client
) -> None:
    failures: list[str] = []
    checked = 0
    for method, template, operation, name in _query_cases(openapi):
        if (template, name, kind) in CURSOR_REGRESSIONS:
            continue  # test_malformed_cursors_are_422 asks more of these
        url = _query_url(template, operation, name, HOSTILE_VALUES[kind])
        checked += 1
        response = _send(client, gateway, method, url)
        problem = response if isinstance(response, str) else _problem(response)
        if problem is not None:
            failures.append(f"{method} {url[:120]}: {problem}")
    assert checked >= 10, "found too few query parameters"
    assert not failures, f"{len(failures)} of {checked} went wrong:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    ("template", "name", "kind"),
    [pytest.param(*case, id="-".join(case)) for case in CURSOR_REGRESSIONS],
)
def test_malformed_cursors_are_422(
    template: str,
    name: str,
    kind: str,
    gateway: LiveGateway,
    openapi: dict[str, Any],
    client: httpx.Client,
) -> None:
    operation = openapi["paths"][template]["get"]
    url = _query_url(template, operation, name, HOSTILE_VALUES[kind])
    response = _send(client, gateway, "GET", url)
    assert not isinstance(response, str), response
    assert response.status_code == 422, f"GET {url}: {response.status_code} {response.text[:200]}"
    assert error_shape_problem(response) is None


@pytest.mark.parametrize("kind", sorted(HOSTILE_VALUES))
def test_hostile_path_values_are_never_a_5xx(
    kind: str, gateway: LiveGateway, openapi: dict[str, Any], client: httpx.Client
) -> None:
    failures: list[str] = []
    checked = 0
    value = HOSTILE_VALUES[kind] or "%20"  # an empty segment would be another route
    for method, template, _ in operations(openapi):
        if method not in PATH_METHODS or "{" not in template:
            continue
        for name in re.findall(r"\{([^}]+)\}", template):
            url = fill_path(template.replace("{" + name + "}", value))
            checked += 1
            response = _send(client, gateway, method, url)
            problem = response if isinstance(response, str) else _problem(response)
            if problem is not None:
                failures.append(f"{method} {url[:120]}: {problem}")
    assert checked >= 10, "found too few path parameters"
    assert not failures, f"{len(failures)} of {checked} went wrong:\n" + "\n".join(failures)
