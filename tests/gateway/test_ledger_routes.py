"""Ledger endpoints: signed checkpoint, entries, proofs that verify, access and bad input."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from gateway.models import Role
from gateway.runtime import Runtime
from ledger.checkpoint import NoteVerifier
from ledger.verify import verify_inclusion
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


@pytest.fixture
def auditor(runtime: Runtime, client: TestClient) -> str:
    writer = issue_key(runtime, "acme", Role.GENERATE)
    for prompt in ("春装", "夏装", "秋装"):
        response = client.post(
            "/v1/generations", json={"kind": "text", "prompt": prompt}, headers=bearer(writer)
        )
        assert response.status_code == 201
    return issue_key(runtime, "acme", Role.AUDIT)


def test_checkpoint_is_a_signed_note_covering_every_append(
    client: TestClient, auditor: str
) -> None:
    response = client.get("/v1/ledger/checkpoint", headers=bearer(auditor))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body, _, signatures = response.text.partition("\n\n")
    origin, size, root = body.split("\n")
    assert int(size) == 9  # generation, moderation, stamp per released generation
    assert len(base64.b64decode(root)) == 32
    assert signatures.startswith("— ")
    key = client.get("/v1/ledger/key", headers=bearer(auditor)).json()
    assert key["origin"] == origin
    NoteVerifier.from_vkey(key["vkey"]).verify_checkpoint(response.text, origin=origin)


def test_entries_and_inclusion_proofs_verify(client: TestClient, auditor: str) -> None:
    entry = client.get("/v1/ledger/entries/4", headers=bearer(auditor)).json()
    assert set(entry) == {"index", "leaf_hash", "leaf"}
    assert "prompt" not in entry["leaf"]
    proof = client.get(
        "/v1/ledger/proofs/inclusion", params={"index": 4, "tree_size": 9}, headers=bearer(auditor)
    ).json()
    assert proof["encoding"] == "hex"
    verify_inclusion(
        entry["leaf_hash"], index=4, tree_size=9, proof=proof["hashes"], root=proof["root_hash"]
    )
    as_b64 = client.get(
        "/v1/ledger/proofs/inclusion",
        params={"index": 4, "tree_size": 9, "encoding": "base64"},
        headers=bearer(auditor),
    ).json()
    assert [base64.b64decode(h).hex() for h in as_b64["hashes"]] == proof["hashes"]


def test_consistency_proof(client: TestClient, auditor: str) -> None:
    response = client.get(
        "/v1/ledger/proofs/consistency", params={"first": 3, "second": 9}, headers=bearer(auditor)
    )
    assert response.status_code == 200
    assert response.json()["hashes"]


def test_bad_ledger_requests(client: TestClient, auditor: str) -> None:
    assert client.get("/v1/ledger/entries/999", headers=bearer(auditor)).status_code == 404
    beyond = client.get(
        "/v1/ledger/proofs/inclusion", params={"index": 0, "tree_size": 99}, headers=bearer(auditor)
    )
    assert beyond.status_code == 400
    assert client.get("/v1/ledger/entries/x", headers=bearer(auditor)).status_code == 422


def test_ledger_needs_the_audit_role(client: TestClient, runtime: Runtime) -> None:
    assert client.get("/v1/ledger/checkpoint").status_code == 401
    generator = issue_key(runtime, "acme", Role.GENERATE)
    assert client.get("/v1/ledger/checkpoint", headers=bearer(generator)).status_code == 403


def test_each_generation_is_a_linked_chain_of_events_in_two_ledger_transactions(
    client: TestClient, runtime: Runtime, auditor: str
) -> None:
    entries = [
        client.get(f"/v1/ledger/entries/{index}", headers=bearer(auditor)).json()
        for index in range(9)
    ]
    for first in range(0, 9, 3):  # generation, moderation, stamp per generation
        generation, moderation, stamp = (e["leaf"] for e in entries[first : first + 3])
        assert [generation["type"], moderation["type"], stamp["type"]] == [
            "generation",
            "moderation",
            "stamp",
        ]
        assert generation["previous_leaf_hash"] is None
        assert moderation["previous_leaf_hash"] == entries[first]["leaf_hash"]
        assert stamp["previous_leaf_hash"] == entries[first + 1]["leaf_hash"]
        assert generation["policy_version"] is None  # recorded before the verdict
        # The output and its verdict were appended together: no checkpoint between them.
        ledger = runtime.ledger_service
        assert ledger.checkpoint_at(first + 1) is None
        assert ledger.checkpoint_at(first + 2) is not None
        assert ledger.checkpoint_at(first + 3) is not None


def test_leaves_name_tenant_and_actor_by_keyed_hash(
    client: TestClient, runtime: Runtime, auditor: str
) -> None:
    leaf = client.get("/v1/ledger/entries/0", headers=bearer(auditor)).json()["leaf"]
    identities = runtime.domains.leaf_identities
    assert leaf["tenant"] == identities.tenant("acme")
    assert leaf["actor"].startswith("a_")
    assert "acme" not in str(leaf)
    assert "key:" not in str(leaf)
    assert leaf["generation_id"].startswith("gen_")  # the tenant's own auditor sees its ids


def test_another_tenants_auditor_sees_no_generation_ids(
    client: TestClient, runtime: Runtime, auditor: str
) -> None:
    stranger = issue_key(runtime, "rival", Role.AUDIT)
    entry = client.get("/v1/ledger/entries/0", headers=bearer(stranger)).json()
    assert entry["leaf"]["generation_id"] is None
    assert entry["redacted"] == ["generation_id"]
    own = client.get("/v1/ledger/entries/0", headers=bearer(auditor)).json()
    assert own["leaf_hash"] == entry["leaf_hash"]  # the proof still checks with the hash
