"""Tenant isolation on a real server process: what tenant A makes, tenant B cannot reach.

Tenant A creates a released and a held generation (with its review task) and a brand
term. Every key of tenant B, whatever its role, gets exactly what a missing id gets — 404
where its role may read (every role may read generations), 403 where the role check comes
first (a generate key on the review routes) — on every route that takes one of A's ids,
finds none of them in its listings, deletes none of A's rows, and reads A's ledger leaves
with the generation id withheld, and the manifest label and watermark id that would lead
back to it (``"redacted": ["generation_id", …]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.models import Role
from tests.security.support import (
    ALL_ROLES,
    TENANT_A,
    TENANT_B,
    LiveGateway,
    error_shape_problem,
    fill_path,
    operations,
)
from tests.security.test_role_matrix import ROLE_TABLE

pytestmark = pytest.mark.e2e

RELEASED_PROMPT = "a thermos for hiking"
HELD_PROMPT = "全网最佳的保温杯"  # an absolute claim: the ad-law scanner holds it for review
A_TERM = "sec-tenant-a-private-term"
MISSING_GENERATION = "gen_000000000000000000000000"
MISSING_TASK = "0" * 32


@dataclass(frozen=True)
class TenantAWorld:
    released_id: str
    held_id: str
    task_id: str
    term_id: int

    @property
    def generation_ids(self) -> tuple[str, str]:
        return (self.released_id, self.held_id)


def _generate(client: httpx.Client, gateway: LiveGateway, tenant: str, prompt: str) -> Any:
    response = client.post(
        "/v1/generations",
        json={"kind": "text", "prompt": prompt},
        headers=gateway.auth(tenant, Role.GENERATE),
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def client(gateway: LiveGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def world(gateway: LiveGateway, client: httpx.Client) -> TenantAWorld:
    released = _generate(client, gateway, TENANT_A, RELEASED_PROMPT)
    assert released["status"] == "released", released
    held = _generate(client, gateway, TENANT_A, HELD_PROMPT)
    assert held["status"] == "pending_review", held
    assert held["review_task_id"], held
    term = client.post(
        "/v1/moderation/terms",
        json={"kind": "competitor", "term": A_TERM},
        headers=gateway.auth(TENANT_A, Role.ADMIN),
    )
    assert term.status_code == 201, term.text
    # Tenant B has a generation of its own, so that redaction is checked both ways.
    _generate(client, gateway, TENANT_B, RELEASED_PROMPT)
    return TenantAWorld(released["id"], held["id"], held["review_task_id"], term.json()["id"])


def _expected_status(method: str, template: str, role: Role) -> int:
    return 404 if role in ROLE_TABLE[(method, template)] else 403


def _mismatch(
    response: httpx.Response, twin: httpx.Response, expected: int, ids: tuple[str, ...]
) -> str | None:
    """Why ``response`` (for A's id) differs from ``twin`` (for a missing id)."""
    if response.status_code != expected:
        return f"{response.status_code}, expected {expected}: {response.text[:200]}"
    shape = error_shape_problem(response)
    if shape is not None:
        return shape
    if twin.status_code != response.status_code:
        return f"a missing id answers {twin.status_code}, A's id {response.status_code}"
    code, twin_code = response.json()["error"]["code"], twin.json()["error"]["code"]
    if code != twin_code:
        return f"error.code {code!r} for A's id, {twin_code!r} for a missing one"
    leaked = [s for s in ids if s in response.text]
    if response.status_code == 403 and leaked:
        return f"a 403 names {leaked}"
    leaked = [s for s in (RELEASED_PROMPT, HELD_PROMPT, A_TERM) if s in response.text]
    return f"the answer holds A's data {leaked}" if leaked else None


def _get_routes_with(openapi: dict[str, Any], parameter: str) -> list[str]:
    return sorted(
        path
        for method, path, _ in operations(openapi)
        if method == "GET" and "{" + parameter + "}" in path
    )


def test_tenant_a_reads_its_own_generation(
    gateway: LiveGateway, client: httpx.Client, world: TenantAWorld, openapi: dict[str, Any]
) -> None:
    """The baseline: the same requests succeed with A's own key."""
    for template in _get_routes_with(openapi, "generation_id"):
        url = fill_path(template, {"generation_id": world.released_id})
        response = client.get(url, headers=gateway.auth(TENANT_A, Role.GENERATE))
        assert response.status_code == 200, f"{template}: {response.text[:200]}"


def test_b_gets_404_for_every_route_with_a_generation_id(
    gateway: LiveGateway, client: httpx.Client, world: TenantAWorld, openapi: dict[str, Any]
) -> None:
    templates = _get_routes_with(openapi, "generation_id")
    assert len(templates) >= 4, templates
    failures: list[str] = []
    for template in templates:
        for role in ALL_ROLES:
            headers = gateway.auth(TENANT_B, role)
            twin = client.get(
                fill_path(template, {"generation_id": MISSING_GENERATION}), headers=headers
            )
            for generation_id in world.generation_ids:
                url = fill_path(template, {"generation_id": generation_id})
                response = client.get(url, headers=headers)
                expected = _expected_status("GET", template, role)
                problem = _mismatch(response, twin, expected, world.generation_ids)
                if problem is not None:
                    failures.append(f"GET {url} as B/{role.value}: {problem}")
    assert not failures, "\n".join(failures)


def test_b_cannot_reach_a_review_task(
    gateway: LiveGateway, client: httpx.Client, world: TenantAWorld, openapi: dict[str, Any]
) -> None:
    routes = [
        (method, path)
        for method, path, _ in operations(openapi)
        if path.startswith("/v1/reviews/{task_id}")
    ]
    assert len(routes) >= 5, routes
    failures: list[str] = []
    for method, template in sorted(routes):
        body = {"decision": "approve"} if template.endswith("/decision") else None
        for role in ALL_ROLES:
            headers = gateway.auth(TENANT_B, role)
            twin = client.request(
                method, fill_path(template, {"task_id": MISSING_TASK}), json=body, headers=headers
            )
            url = fill_path(template, {"task_id": world.task_id})
            response = client.request(method, url, json=body, headers=headers)
            expected = _expected_status(method, template, role)
            problem = _mismatch(response, twin, expected, (world.task_id, world.held_id))
            if problem is not None:
                failures.append(f"{method} {url} as B/{role.value}: {problem}")
    assert not failures, "\n".join(failures)
    # Nothing B tried took effect: the task is still A's, pending and unclaimed.
    task = client.get(
        f"/v1/reviews/{world.task_id}", headers=gateway.auth(TENANT_A, Role.REVIEW)
    ).json()
    assert task["status"] == "pending", task
    assert task["claimed_by"] is None, task


def test_b_listings_hold_nothing_of_a(
    gateway: LiveGateway, client: httpx.Client, world: TenantAWorld
) -> None:
    a_key_ids = {kid for (tenant, _), kid in gateway.key_ids.items() if tenant == TENANT_A}
    a_values = (*world.generation_ids, world.task_id, A_TERM, *a_key_ids, TENANT_A)
    listings = [("/v1/generations", role) for role in ROLE_TABLE[("GET", "/v1/generations")]] + [
        ("/v1/reviews", Role.REVIEW),
        ("/v1/reviews", Role.SENIOR),
        ("/v1/reviews", Role.ADMIN),
        ("/v1/moderation/terms", Role.ADMIN),
        ("/v1/keys", Role.ADMIN),
        ("/v1/webhooks/deliveries", Role.ADMIN),
    ]
    failures: list[str] = []
    for path, role in listings:
        response = client.get(path, headers=gateway.auth(TENANT_B, role))
        if response.status_code != 200:
            failures.append(f"GET {path} as B/{role.value}: {response.status_code}")
            continue
        leaked = [s for s in a_values if s in response.text]
        if leaked:
            failures.append(f"GET {path} as B/{role.value} shows {leaked}")
    assert not failures, "\n".join(failures)
    # The baseline: A's own listings do show them.
    own = client.get("/v1/generations", headers=gateway.auth(TENANT_A, Role.AUDIT)).text
    assert all(generation_id in own for generation_id in world.generation_ids)


def test_b_cannot_delete_a_rows(
    gateway: LiveGateway, client: httpx.Client, world: TenantAWorld
) -> None:
    b_admin = gateway.auth(TENANT_B, Role.ADMIN)
    a_key_id = gateway.key_ids[(TENANT_A, Role.GENERATE)]
    attempts = {
        f"/v1/moderation/terms/{world.term_id}": "/v1/moderation/terms/2147483647",
        f"/v1/keys/{a_key_id}": "/v1/keys/ffffffffffffffff",
    }
    for url, missing in attempts.items():
        twin = client.delete(missing, headers=b_admin)
        response = client.delete(url, headers=b_admin)
        assert _mismatch(response, twin, 404, (a_key_id,)) is None, response.text
    terms = client.get("/v1/moderation/terms", headers=gateway.auth(TENANT_A, Role.ADMIN))
    assert A_TERM in terms.text
    still_works = client.get("/v1/models", headers=gateway.auth(TENANT_A, Role.GENERATE))
    assert still_works.status_code == 200, "B revoked A's key"


def _tree_size(client: httpx.Client, gateway: LiveGateway) -> int:
    response = client.get("/v1/ledger/checkpoint", headers=gateway.auth(TENANT_A, Role.AUDIT))
    assert response.status_code == 200, response.text
    return int(response.text.splitlines()[1])


def _entries(
    client: httpx.Client, gateway: LiveGateway, tenant: str, role: Role, size: int
) -> list[dict[str, Any]]:
    entries = []
    for index in range(size):
        response = client.get(f"/v1/ledger/entries/{index}", headers=gateway.auth(tenant, role))
        assert response.status_code == 200, response.text
        entries.append(response.json())
    return entries


def test_ledger_entries_withhold_the_other_tenant_generation_id(
    gateway: LiveGateway, client: httpx.Client, world: TenantAWorld
) -> None:
    size = _tree_size(client, gateway)
    own = _entries(client, gateway, TENANT_A, Role.AUDIT, size)
    a_indices = [
        i for i, e in enumerate(own) if e["leaf"].get("generation_id") in world.generation_ids
    ]
    assert len(a_indices) >= 3, "A's generations left no leaves"
    assert all("redacted" not in own[i] for i in a_indices), "A's own leaves were redacted"
    failures: list[str] = []
    for role in (Role.AUDIT, Role.ADMIN):
        seen = _entries(client, gateway, TENANT_B, role, size)
        for index in a_indices:
            entry, mine = seen[index], own[index]
            expected = _as_withheld(mine)
            if entry != expected:
                failures.append(f"entry {index} as B/{role.value}: {entry}")
            text = str(entry)
            leaked = [s for s in (*world.generation_ids, TENANT_A) if s in text]
            if leaked:
                failures.append(f"entry {index} as B/{role.value} shows {leaked}")
        # The other way round: B reads its own leaves in full, A reads them redacted.
        b_indices = [
            i for i, e in enumerate(seen) if "redacted" not in e and e["leaf"]["generation_id"]
        ]
        if not b_indices:
            failures.append(f"B/{role.value} sees none of B's own leaves in full")
        failures.extend(
            f"entry {index} of B is shown in full to A: {own[index]}"
            for index in b_indices
            if "generation_id" not in own[index].get("redacted", [])
        )
    assert not failures, "\n".join(failures)


def _as_withheld(mine: dict[str, Any]) -> dict[str, Any]:
    """What another tenant must see of one of our entries."""
    leaf = {**mine["leaf"], "generation_id": None}
    redacted = ["generation_id"]
    if leaf.get("watermark_id") is not None:
        leaf["watermark_id"] = None
        redacted.append("watermark_id")
    attrs = dict(leaf.get("attrs") or {})
    if attrs.pop("manifest_label", None) is not None:
        leaf["attrs"] = attrs
        redacted.append("attrs.manifest_label")
    return {**mine, "leaf": leaf, "redacted": redacted}


# Found by this suite: the redacted leaf still named the manifest label, which the public
# GET /v1/manifests/{label} resolves to a manifest store naming the generation id.
def test_a_redacted_leaf_does_not_lead_to_the_generation_id(
    gateway: LiveGateway, client: httpx.Client, world: TenantAWorld
) -> None:
    size = _tree_size(client, gateway)
    own = _entries(client, gateway, TENANT_A, Role.AUDIT, size)
    pointing = [
        i
        for i, e in enumerate(own)
        if e["leaf"].get("generation_id") in world.generation_ids
        and (e["leaf"].get("watermark_id") or e["leaf"].get("attrs", {}).get("manifest_label"))
    ]
    assert pointing, "none of A's leaves names a manifest or watermark: nothing to check"
    seen = _entries(client, gateway, TENANT_B, Role.AUDIT, size)
    leaks = [
        f"entry {i}: {seen[i]['leaf']}"
        for i in pointing
        if seen[i]["leaf"].get("watermark_id")
        or seen[i]["leaf"].get("attrs", {}).get("manifest_label")
        or any(g in str(seen[i]) for g in world.generation_ids)
    ]
    assert not leaks, "B sees pointers back to A's generations:\n" + "\n".join(leaks)
