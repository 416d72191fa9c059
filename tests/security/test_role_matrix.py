"""Which role may call which ``/v1`` operation, checked against a real server process.

``ROLE_TABLE`` is written out from the route code (``gateway/routes/*.py``; the rules
of ``gateway.auth.Principal.has_role``: ``admin`` passes every check, ``senior`` passes
every ``review`` check). Every operation answers a call without a valid key with 401
(error shape, ``WWW-Authenticate: Bearer``) and a key of any other role with 403; the
roles it names get past authorisation. The table must cover every ``/v1`` operation of
``/openapi.json``: a new route without an entry fails ``test_the_table_covers_the_api``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.models import Role
from tests.security.support import (
    ALL_ROLES,
    TENANT_A,
    LiveGateway,
    error_shape_problem,
    fill_path,
    operations,
)

pytestmark = pytest.mark.e2e

GENERATE, REVIEW, AUDIT, ADMIN, SENIOR = (
    Role.GENERATE,
    Role.REVIEW,
    Role.AUDIT,
    Role.ADMIN,
    Role.SENIOR,
)

# require(Role.GENERATE): generations.Generator, stamp, openai_compat, moderation.Generator.
GENERATORS = frozenset({GENERATE, ADMIN})
# generations.Reader = require(GENERATE, AUDIT, REVIEW); a senior is a reviewer.
GENERATION_READERS = frozenset({GENERATE, AUDIT, REVIEW, SENIOR, ADMIN})
# reviews.ReviewerKey = require(REVIEW).
REVIEWERS = frozenset({REVIEW, SENIOR, ADMIN})
# reviews.HistoryReader = require(REVIEW, AUDIT).
HISTORY_READERS = frozenset({REVIEW, SENIOR, AUDIT, ADMIN})
# ledger.ledger_reader: require_role(AUDIT) unless AIGC_LEDGER_PUBLIC (off by default).
AUDITORS = frozenset({AUDIT, ADMIN})
# require(Role.ADMIN): keys, policy, webhooks, moderation lists and images.
ADMINS = frozenset({ADMIN})

ROLE_TABLE: dict[tuple[str, str], frozenset[Role]] = {
    # gateway/routes/generations.py
    ("POST", "/v1/generations"): GENERATORS,
    ("GET", "/v1/generations"): GENERATION_READERS,
    ("GET", "/v1/generations/{generation_id}"): GENERATION_READERS,
    ("GET", "/v1/generations/{generation_id}/events"): GENERATION_READERS,
    ("GET", "/v1/generations/{generation_id}/content"): GENERATION_READERS,
    ("GET", "/v1/generations/{generation_id}/manifest"): GENERATION_READERS,
    # gateway/routes/stamp.py
    ("POST", "/v1/stamp"): GENERATORS,
    # gateway/routes/openai_compat.py
    ("POST", "/v1/chat/completions"): GENERATORS,
    ("POST", "/v1/images/generations"): GENERATORS,
    ("GET", "/v1/models"): GENERATORS,
    # gateway/routes/moderation.py
    ("POST", "/v1/moderations"): GENERATORS,
    ("GET", "/v1/moderation/terms"): ADMINS,
    ("POST", "/v1/moderation/terms"): ADMINS,
    ("DELETE", "/v1/moderation/terms/{term_id}"): ADMINS,
    ("GET", "/v1/moderation/images"): ADMINS,
    ("POST", "/v1/moderation/images"): ADMINS,
    ("DELETE", "/v1/moderation/images/{image_id}"): ADMINS,
    # gateway/routes/policy.py
    ("GET", "/v1/policy"): ADMINS,
    ("PUT", "/v1/policy"): ADMINS,
    # gateway/routes/reviews.py
    ("GET", "/v1/reviews"): REVIEWERS,
    ("GET", "/v1/reviews/{task_id}"): REVIEWERS,
    ("GET", "/v1/reviews/{task_id}/history"): HISTORY_READERS,
    ("POST", "/v1/reviews/{task_id}/claim"): REVIEWERS,
    ("POST", "/v1/reviews/{task_id}/release"): REVIEWERS,
    ("POST", "/v1/reviews/{task_id}/decision"): REVIEWERS,
    ("POST", "/v1/reviews/decisions"): REVIEWERS,
    ("GET", "/v1/reviews/stats"): HISTORY_READERS,
    # gateway/routes/ledger.py
    ("GET", "/v1/ledger/checkpoint"): AUDITORS,
    ("GET", "/v1/ledger/key"): AUDITORS,
    ("GET", "/v1/ledger/entries/{index}"): AUDITORS,
    ("GET", "/v1/ledger/proofs/inclusion"): AUDITORS,
    ("GET", "/v1/ledger/proofs/consistency"): AUDITORS,
    ("GET", "/v1/ledger/anchors"): AUDITORS,
    # gateway/routes/keys.py
    ("GET", "/v1/keys"): ADMINS,
    ("POST", "/v1/keys"): ADMINS,
    ("DELETE", "/v1/keys/{key_id}"): ADMINS,
    # gateway/routes/webhooks.py
    ("GET", "/v1/webhooks/secret"): ADMINS,
    ("POST", "/v1/webhooks/secret/rotate"): ADMINS,
    ("GET", "/v1/webhooks/deliveries"): ADMINS,
}

# gateway/routes/verify.py: verify_caller admits anyone while AIGC_VERIFY_PUBLIC is true
# (the default); a key, when presented, must still be valid.
PUBLIC_OPERATIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/verify"),
        ("GET", "/v1/services/supportedAlgorithms"),
        ("GET", "/v1/matches/byBinding"),
        ("POST", "/v1/matches/byBinding"),
        ("POST", "/v1/matches/byContent"),
        ("GET", "/v1/manifests/{manifest_id}"),
    }
)

# Ways to call without a valid key; each must be 401.
UNAUTHENTICATED: dict[str, dict[str, str]] = {
    "no key": {},
    "unknown key": {"Authorization": "Bearer aigc_0000000000000000_not-a-real-secret"},
    "malformed key": {"Authorization": "Bearer not-a-gateway-key"},
    "wrong scheme": {"Authorization": "Basic YWRtaW46YWRtaW4="},
}


def _call(
    client: httpx.Client,
    openapi: dict[str, Any],
    method: str,
    template: str,
    headers: dict[str, str],
) -> httpx.Response:
    """The operation with an empty body (``{}`` where it takes JSON): enough to reach the
    role check, never enough to change anything."""
    operation = openapi["paths"][template][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return client.request(method, fill_path(template), json={}, headers=headers)
    return client.request(method, fill_path(template), headers=headers)


def _unauthenticated_problem(response: httpx.Response) -> str | None:
    if response.status_code != 401:
        return f"{response.status_code}, expected 401: {response.text[:160]}"
    if response.headers.get("www-authenticate", "").split(" ")[0].lower() != "bearer":
        return f"WWW-Authenticate is {response.headers.get('www-authenticate')!r}"
    shape = error_shape_problem(response)
    if shape is not None:
        return shape
    code = response.json()["error"]["code"]
    return None if code == "unauthenticated" else f"error.code {code!r}"


def _forbidden_problem(response: httpx.Response) -> str | None:
    if response.status_code != 403:
        return f"{response.status_code}, expected 403: {response.text[:160]}"
    shape = error_shape_problem(response)
    if shape is not None:
        return shape
    code = response.json()["error"]["code"]
    return None if code == "forbidden" else f"error.code {code!r}"


def _admitted_problem(response: httpx.Response) -> str | None:
    if response.status_code in (401, 403) or response.status_code >= 500:
        return f"{response.status_code}, expected the role to be admitted: {response.text[:160]}"
    return None


def test_the_roles_are_the_ones_the_table_knows() -> None:
    assert set(ALL_ROLES) == {GENERATE, REVIEW, AUDIT, ADMIN, SENIOR}


def test_the_table_covers_the_api(openapi: dict[str, Any]) -> None:
    documented = {(m, p) for m, p, _ in operations(openapi) if p.startswith("/v1/")}
    missing = documented - set(ROLE_TABLE) - PUBLIC_OPERATIONS
    stale = (set(ROLE_TABLE) | PUBLIC_OPERATIONS) - documented
    assert not missing, f"operations without an entry in ROLE_TABLE: {sorted(missing)}"
    assert not stale, f"entries for operations the API no longer has: {sorted(stale)}"
    assert not set(ROLE_TABLE) & PUBLIC_OPERATIONS


@pytest.mark.parametrize(
    ("method", "template"), sorted(ROLE_TABLE), ids=[f"{m} {p}" for m, p in sorted(ROLE_TABLE)]
)
def test_only_the_named_roles_get_in(
    method: str,
    template: str,
    gateway: LiveGateway,
    openapi: dict[str, Any],
    http: httpx.Client,
) -> None:
    allowed = ROLE_TABLE[(method, template)]
    assert ADMIN in allowed, "admin passes every role check"
    failures: list[str] = []
    for name, headers in UNAUTHENTICATED.items():
        problem = _unauthenticated_problem(_call(http, openapi, method, template, headers))
        if problem is not None:
            failures.append(f"{name}: {problem}")
    for role in ALL_ROLES:
        response = _call(http, openapi, method, template, gateway.auth(TENANT_A, role))
        check = _admitted_problem if role in allowed else _forbidden_problem
        problem = check(response)
        if problem is not None:
            failures.append(f"role {role.value}: {problem}")
    assert not failures, f"{method} {template}:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    ("method", "template"),
    sorted(PUBLIC_OPERATIONS),
    ids=[f"{m} {p}" for m, p in sorted(PUBLIC_OPERATIONS)],
)
def test_public_operations_need_no_key_but_refuse_a_bad_one(
    method: str, template: str, openapi: dict[str, Any], http: httpx.Client
) -> None:
    anonymous = _call(http, openapi, method, template, {})
    assert _admitted_problem(anonymous) is None, anonymous.text
    bad_key = _call(http, openapi, method, template, UNAUTHENTICATED["unknown key"])
    assert _unauthenticated_problem(bad_key) is None, bad_key.text
