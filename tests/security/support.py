"""Shared pieces of the security suite: tenants, roles, error-shape checks, the gateway handle.

The suite drives a real ``aigc-gateway serve`` process (started in ``conftest.py``), so
every helper here speaks HTTP to it and nothing reaches into the process.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.models import Role

__all__ = [
    "ALL_ROLES",
    "ERROR_KEYS",
    "TENANTS",
    "TENANT_A",
    "TENANT_B",
    "LiveGateway",
    "bearer",
    "error_shape_problem",
    "fill_path",
    "operations",
]

TENANT_A = "sec-tenant-a"
TENANT_B = "sec-tenant-b"
TENANTS = (TENANT_A, TENANT_B)
ALL_ROLES: tuple[Role, ...] = tuple(Role)
ERROR_KEYS = frozenset({"code", "message", "details", "request_id"})

# Plausible values for the path parameters of the API (ids that name no row).
_PATH_VALUES: dict[str, str] = {
    "generation_id": "gen_000000000000000000000000",
    "task_id": "0" * 32,
    "key_id": "0000000000000000",
    "term_id": "1",
    "image_id": "1",
    "index": "0",
    "manifest_id": "urn:c2pa:00000000-0000-0000-0000-000000000000",
}


def fill_path(template: str, values: Mapping[str, str] | None = None) -> str:
    """The template with every ``{name}`` replaced by ``values`` or a plausible default."""
    chosen = {**_PATH_VALUES, **(values or {})}
    path = template
    for name, value in chosen.items():
        path = path.replace("{" + name + "}", value)
    if "{" in path:
        raise AssertionError(f"no value for a path parameter of {template}")
    return path


def operations(openapi: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the OpenAPI document as (METHOD, path template, operation)."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete", "head", "options"}:
                found.append((method.upper(), path, operation))
    return found


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error_shape_problem(response: httpx.Response) -> str | None:
    """Why the response is not ``{"error": {"code", "message", "details", "request_id"}}``,
    or ``None`` when it is (and its request id is the one in ``X-Request-ID``)."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        content_type = response.headers.get("content-type")
        return f"not JSON ({content_type}): {response.text[:120]!r}"
    if not isinstance(body, dict) or set(body) != {"error"}:
        return f"top level is not {{'error': ...}}: {str(body)[:160]}"
    error = body["error"]
    if not isinstance(error, dict) or set(error) != ERROR_KEYS:
        keys = sorted(error) if isinstance(error, dict) else type(error).__name__
        return f"error keys are {keys}, not {sorted(ERROR_KEYS)}"
    if not isinstance(error["code"], str) or not error["code"]:
        return f"error.code is {error['code']!r}"
    if not isinstance(error["message"], str):
        return f"error.message is {error['message']!r}"
    request_id = response.headers.get("x-request-id")
    if not error["request_id"] or error["request_id"] != request_id:
        return f"error.request_id {error['request_id']!r} != X-Request-ID {request_id!r}"
    return None


@dataclass
class LiveGateway:
    """One ``aigc-gateway serve`` process and the keys issued for the suite."""

    base_url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    body_read_timeout_s: float
    keys: dict[tuple[str, Role], str] = field(default_factory=dict)
    key_ids: dict[tuple[str, Role], str] = field(default_factory=dict)

    @property
    def host_port(self) -> tuple[str, int]:
        url = httpx.URL(self.base_url)
        assert url.host
        assert url.port
        return url.host, url.port

    def key(self, tenant: str, role: Role) -> str:
        return self.keys[(tenant, role)]

    def auth(self, tenant: str, role: Role) -> dict[str, str]:
        return bearer(self.key(tenant, role))

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def alive_problem(self) -> str | None:
        """Why the server is not alive and healthy, or ``None``."""
        code = self.process.poll()
        if code is not None:
            return f"the server process exited with {code}"
        try:
            response = httpx.get(f"{self.base_url}/healthz", timeout=10)
        except httpx.TransportError as exc:
            return f"GET /healthz failed: {exc!r}"
        if response.status_code != 200:
            return f"GET /healthz answered {response.status_code}: {response.text[:200]}"
        return None

    def assert_alive(self) -> None:
        problem = self.alive_problem()
        assert problem is None, f"{problem}\n--- server log (tail) ---\n{self.log_tail()}"
