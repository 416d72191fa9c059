"""Held for review → claimed → approved (stamped, released, ledgered) or rejected (blocked)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.models import Role
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


@pytest.fixture
def keys(runtime: Runtime) -> dict[str, str]:
    return {
        "gen": issue_key(runtime, "acme", Role.GENERATE),
        "rev": issue_key(runtime, "acme", Role.REVIEW),
        "rev2": issue_key(runtime, "acme", Role.REVIEW),
        "other": issue_key(runtime, "globex", Role.REVIEW),
        "audit": issue_key(runtime, "acme", Role.AUDIT),
    }


def held_generation(client: TestClient, keys: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        "/v1/generations",
        json={"kind": "text", "prompt": "全网最佳的保温杯", "callback_url": None},
        headers=bearer(keys["gen"]),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "pending_review"
    assert body["moderation"]["decision"] == "review"
    assert any(f["category"].startswith("ad_law") for f in body["moderation"]["findings"])
    assert body["artifact"] is None
    return body


def task_of(client: TestClient, keys: dict[str, str], generation_id: str) -> dict[str, Any]:
    items = client.get("/v1/reviews?status=pending", headers=bearer(keys["rev"])).json()["items"]
    return next(t for t in items if t["generation_id"] == generation_id)


def test_approval_stamps_and_releases(client: TestClient, keys: dict[str, str]) -> None:
    generation = held_generation(client, keys)
    content = client.get(f"/v1/generations/{generation['id']}/content", headers=bearer(keys["gen"]))
    assert content.status_code == 409
    task = task_of(client, keys, generation["id"])
    assert task["policy_version"] == generation["moderation"]["policy_version"]
    claim = client.post(f"/v1/reviews/{task['id']}/claim", headers=bearer(keys["rev"]))
    assert claim.status_code == 200
    assert claim.json()["claimed_by"].startswith("key:")
    assert (
        client.post(f"/v1/reviews/{task['id']}/claim", headers=bearer(keys["rev2"])).status_code
        == 409
    )
    decision = client.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "approve", "note": "self-comparison, allowed"},
        headers=bearer(keys["rev"]),
    )
    assert decision.status_code == 200, decision.text
    released = client.get(f"/v1/generations/{generation['id']}", headers=bearer(keys["gen"])).json()
    assert released["status"] == "released"
    assert released["provenance"]["ledger_index"] is not None
    assert released["output_text"]
    events = client.get(f"/v1/generations/{generation['id']}/events", headers=bearer(keys["gen"]))
    stages = [e["stage"] for e in events.json()["items"]]
    assert stages[-3:] == ["review", "stamp", "ledger"]


def test_rejection_blocks_with_reason(client: TestClient, keys: dict[str, str]) -> None:
    generation = held_generation(client, keys)
    task = task_of(client, keys, generation["id"])
    client.post(f"/v1/reviews/{task['id']}/claim", headers=bearer(keys["rev"]))
    missing_reason = client.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "reject"},
        headers=bearer(keys["rev"]),
    )
    assert missing_reason.status_code == 422
    unknown_reason = client.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "reject", "reason_code": "vibes"},
        headers=bearer(keys["rev"]),
    )
    assert unknown_reason.status_code == 422
    rejected = client.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "reject", "reason_code": "ad_law_absolute_term"},
        headers=bearer(keys["rev"]),
    )
    assert rejected.status_code == 200
    blocked = client.get(f"/v1/generations/{generation['id']}", headers=bearer(keys["gen"])).json()
    assert blocked["status"] == "blocked"
    assert "ad_law_absolute_term" in blocked["block_reason"]


def test_deciding_unclaimed_or_foreign_tasks(client: TestClient, keys: dict[str, str]) -> None:
    generation = held_generation(client, keys)
    task = task_of(client, keys, generation["id"])
    unclaimed = client.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "approve"},
        headers=bearer(keys["rev"]),
    )
    assert unclaimed.status_code == 409
    foreign = client.post(f"/v1/reviews/{task['id']}/claim", headers=bearer(keys["other"]))
    assert foreign.status_code == 404
    assert client.get("/v1/reviews", headers=bearer(keys["gen"])).status_code == 403


def test_review_queue_metrics(client: TestClient, keys: dict[str, str]) -> None:
    held_generation(client, keys)
    metrics = client.get("/metrics").text
    assert 'aigc_review_queue_depth{queue="ad_law"} 1.0' in metrics
    assert 'aigc_review_queue_oldest_age_seconds{queue="ad_law"}' in metrics


def test_only_a_senior_key_claims_in_the_senior_queue(client: TestClient, runtime: Runtime) -> None:
    generate = issue_key(runtime, "acme", Role.GENERATE)
    reviewer = issue_key(runtime, "acme", Role.REVIEW)
    other_reviewer = issue_key(runtime, "acme", Role.REVIEW)
    senior = issue_key(runtime, "acme", Role.SENIOR)
    body = {"kind": "text", "prompt": "全网最佳的保温杯"}
    assert client.post("/v1/generations", json=body, headers=bearer(generate)).status_code == 201
    task = client.get("/v1/reviews", headers=bearer(reviewer)).json()["items"][0]
    claim = client.post(f"/v1/reviews/{task['id']}/claim", headers=bearer(reviewer))
    assert claim.status_code == 200
    escalated = client.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "escalate", "reason_code": task["reason_codes"][0]["code"]},
        headers=bearer(reviewer),
    ).json()
    senior_task = escalated["escalated_to"]
    for plain in (reviewer, other_reviewer):
        refused = client.post(f"/v1/reviews/{senior_task}/claim", headers=bearer(plain))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "senior_reviewer_required"
    claimed = client.post(f"/v1/reviews/{senior_task}/claim", headers=bearer(senior))
    assert claimed.status_code == 200, claimed.text


def test_a_person_with_two_keys_is_one_reviewer(client: TestClient, runtime: Runtime) -> None:
    # Li Na escalates with her review key; her senior key is still Li Na: four eyes
    # means someone else must cast the next vote.
    generate = issue_key(runtime, "acme", Role.GENERATE)
    li_review = issue_key(runtime, "acme", Role.REVIEW, label="Li Na")
    li_senior = issue_key(runtime, "acme", Role.SENIOR, label="Li  Na")
    wang_senior = issue_key(runtime, "acme", Role.SENIOR, label="Wang Wei")
    body = {"kind": "text", "prompt": "全网最佳的保温杯"}
    assert client.post("/v1/generations", json=body, headers=bearer(generate)).status_code == 201
    task = client.get("/v1/reviews", headers=bearer(li_review)).json()["items"][0]
    claimed = client.post(f"/v1/reviews/{task['id']}/claim", headers=bearer(li_review)).json()
    assert claimed["claimed_by"] == "reviewer:Li Na"  # a name, not a key id
    escalated = client.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "escalate", "reason_code": task["reason_codes"][0]["code"]},
        headers=bearer(li_review),
    ).json()
    senior_task = escalated["escalated_to"]
    again = client.post(f"/v1/reviews/{senior_task}/claim", headers=bearer(li_senior))
    assert again.status_code == 409, again.text
    other = client.post(f"/v1/reviews/{senior_task}/claim", headers=bearer(wang_senior))
    assert other.status_code == 200
    history = client.get(f"/v1/reviews/{task['id']}/history", headers=bearer(li_review)).json()
    assert {e["reviewer"] for e in history["items"] if e["reviewer"]} == {"reviewer:Li Na"}


def test_auditors_see_who_decided_what(client: TestClient, runtime: Runtime) -> None:
    generate = issue_key(runtime, "acme", Role.GENERATE)
    reviewer = issue_key(runtime, "acme", Role.REVIEW, label="Zhang San")
    auditor = issue_key(runtime, "acme", Role.AUDIT)
    body = {"kind": "text", "prompt": "全网最佳的保温杯"}
    created = client.post("/v1/generations", json=body, headers=bearer(generate)).json()
    task_id = created["review_task_id"]
    client.post(f"/v1/reviews/{task_id}/claim", headers=bearer(reviewer))
    decided = client.post(
        f"/v1/reviews/{task_id}/decision", json={"decision": "approve"}, headers=bearer(reviewer)
    )
    assert decided.status_code == 200, decided.text
    history = client.get(f"/v1/reviews/{task_id}/history", headers=bearer(auditor))
    assert history.status_code == 200, history.text
    read = client.get(f"/v1/generations/{created['id']}", headers=bearer(auditor)).json()
    assert read["status"] == "released"
    assert [(v["reviewer"], v["decision"]) for v in read["review_votes"]] == [
        ("reviewer:Zhang San", "approve")
    ]
    assert client.post(f"/v1/reviews/{task_id}/claim", headers=bearer(auditor)).status_code == 403


def test_reason_codes_offered_are_those_the_findings_need(
    client: TestClient, runtime: Runtime
) -> None:
    generate = issue_key(runtime, "acme", Role.GENERATE)
    reviewer = issue_key(runtime, "acme", Role.REVIEW)
    body = {"kind": "text", "prompt": "全网最佳的保温杯"}
    created = client.post("/v1/generations", json=body, headers=bearer(generate)).json()
    task = client.get(f"/v1/reviews/{created['review_task_id']}", headers=bearer(reviewer)).json()
    offered = [code["code"] for code in task["reason_codes"]]
    assert offered == ["ad_law_absolute_term", "other"]  # no image_rights for a slogan


def test_a_bulk_decision_settles_each_task_and_says_which_failed(
    client: TestClient, keys: dict[str, str]
) -> None:
    held = [held_generation(client, keys) for _ in range(3)]
    tasks = [task_of(client, keys, generation["id"]) for generation in held]
    taken = client.post(f"/v1/reviews/{tasks[2]['id']}/claim", headers=bearer(keys["rev2"]))
    assert taken.status_code == 200
    ids = [tasks[0]["id"], tasks[1]["id"], tasks[2]["id"], "no-such-task", tasks[0]["id"]]
    response = client.post(
        "/v1/reviews/decisions",
        json={"ids": ids, "decision": "approve", "note": "comparative claim, allowed"},
        headers=bearer(keys["rev"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["id"], r["status"]) for r in body["results"]] == [
        (tasks[0]["id"], 200),
        (tasks[1]["id"], 200),
        (tasks[2]["id"], 409),
        ("no-such-task", 404),
    ]  # a repeated id is decided once
    assert (body["succeeded"], body["failed"]) == (2, 2)
    assert body["results"][0]["outcome"]["final"] == "approved"
    assert body["results"][2]["error"]["code"] == "review_conflict"
    for generation in held[:2]:  # each released by its own stamp, ledgered on its own
        released = client.get(f"/v1/generations/{generation['id']}", headers=bearer(keys["gen"]))
        assert released.json()["status"] == "released"
        assert released.json()["provenance"]["ledger_index"] is not None
    untouched = client.get(f"/v1/reviews/{tasks[2]['id']}", headers=bearer(keys["rev2"]))
    assert untouched.json()["claimed_by"] == taken.json()["claimed_by"]


def test_a_bulk_rejection_needs_one_reason_and_never_escalates(
    client: TestClient, keys: dict[str, str]
) -> None:
    task = task_of(client, keys, held_generation(client, keys)["id"])
    for body, code in (
        ({"ids": [task["id"]], "decision": "reject"}, "reason_code_required"),
        ({"ids": [task["id"]], "decision": "escalate", "reason_code": "other"}, None),
        ({"ids": [], "decision": "approve"}, None),
    ):
        response = client.post("/v1/reviews/decisions", json=body, headers=bearer(keys["rev"]))
        assert response.status_code == 422, response.text
        if code is not None:
            assert response.json()["error"]["code"] == code
    assert (
        client.get(f"/v1/reviews/{task['id']}", headers=bearer(keys["rev"])).json()["status"]
        == "pending"
    )
    unknown_reason = client.post(
        "/v1/reviews/decisions",
        json={"ids": [task["id"]], "decision": "reject", "reason_code": "vibes"},
        headers=bearer(keys["rev"]),
    )
    assert unknown_reason.json()["results"][0]["status"] == 422
    # Refused after its claim: the claim is given back, not left to lapse.
    after = client.get(f"/v1/reviews/{task['id']}", headers=bearer(keys["rev"])).json()
    assert (after["status"], after["claimed_by"]) == ("pending", None)
    rejected = client.post(
        "/v1/reviews/decisions",
        json={"ids": [task["id"]], "decision": "reject", "reason_code": "ad_law_absolute_term"},
        headers=bearer(keys["rev"]),
    )
    assert rejected.json()["results"][0]["outcome"]["final"] == "rejected"


def test_review_stats_over_http(client: TestClient, keys: dict[str, str]) -> None:
    task = task_of(client, keys, held_generation(client, keys)["id"])
    client.post(
        "/v1/reviews/decisions",
        json={"ids": [task["id"]], "decision": "approve"},
        headers=bearer(keys["rev"]),
    )
    stats = client.get("/v1/reviews/stats", headers=bearer(keys["rev"]))
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert (body["votes"], body["approved"]) == (1, 1)
    assert sum(b["count"] for b in body["time_to_decision"]["buckets"]) == 1
    assert client.get("/v1/reviews/stats", headers=bearer(keys["other"])).json()["votes"] == 0
    backwards = client.get(
        "/v1/reviews/stats?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z",
        headers=bearer(keys["rev"]),
    )
    assert backwards.status_code == 422
    assert client.get("/v1/reviews/stats", headers=bearer(keys["gen"])).status_code == 403


def _decide_with_edit(
    client: TestClient, keys: dict[str, str], task_id: str, edited: str, decision: str = "approve"
) -> Any:
    client.post(f"/v1/reviews/{task_id}/claim", headers=bearer(keys["rev"]))
    return client.post(
        f"/v1/reviews/{task_id}/decision",
        json={"decision": decision, "edited_output": edited, "reason_code": "other"},
        headers=bearer(keys["rev"]),
    )


def test_an_edited_approval_releases_the_edited_text(
    client: TestClient, keys: dict[str, str]
) -> None:
    generation = held_generation(client, keys)
    task = task_of(client, keys, generation["id"])
    original = task["output_text"]
    edited = "这款保温杯保温效果出色，适合通勤使用。"
    decision = _decide_with_edit(client, keys, task["id"], edited)
    assert decision.status_code == 200, decision.text
    assert decision.json()["edited"] is True
    gen_headers = bearer(keys["gen"])
    released = client.get(f"/v1/generations/{generation['id']}", headers=gen_headers).json()
    assert released["status"] == "released"
    assert edited in released["output_text"]
    assert original not in released["output_text"]
    events = client.get(f"/v1/generations/{generation['id']}/events", headers=gen_headers)
    items = events.json()["items"]
    assert [e["stage"] for e in items][-4:] == ["edit_moderation", "review", "stamp", "ledger"]
    review = next(e for e in items if e["stage"] == "review")
    index = review["ledger_index"]
    leaf = client.get(f"/v1/ledger/entries/{index}", headers=bearer(keys["audit"]))
    attrs = leaf.json()["leaf"]["attrs"]
    assert attrs["edited_output_sha256"] == hashlib.sha256(edited.encode()).hexdigest()
    assert attrs["original_output_sha256"] != attrs["edited_output_sha256"]
    assert attrs["edit_moderation"] == "allow"


def test_an_edit_that_is_flagged_again_goes_back_to_the_queue(
    client: TestClient, keys: dict[str, str]
) -> None:
    generation = held_generation(client, keys)
    task = task_of(client, keys, generation["id"])
    still_absolute = "全网第一的保温杯，国家级品质。"
    assert _decide_with_edit(client, keys, task["id"], still_absolute).status_code == 200
    held = client.get(f"/v1/generations/{generation['id']}", headers=bearer(keys["gen"])).json()
    assert held["status"] == "pending_review"
    again = task_of(client, keys, generation["id"])
    assert again["id"] != task["id"]
    assert again["output_text"] == still_absolute
    assert again["previous_output"] == task["output_text"]  # both versions
    assert any(f["category"].startswith("ad_law") for f in again["findings"])


def test_an_edit_goes_only_with_an_approval_of_text(
    client: TestClient, keys: dict[str, str]
) -> None:
    task = task_of(client, keys, held_generation(client, keys)["id"])
    refused = _decide_with_edit(client, keys, task["id"], "改过的文字", decision="reject")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "edit_not_allowed"
    blank = _decide_with_edit(client, keys, task["id"], "   ")
    assert blank.json()["error"]["code"] == "edit_not_allowed"


def test_the_review_list_filters_by_kind_text_and_age(
    client: TestClient, keys: dict[str, str]
) -> None:
    generation = held_generation(client, keys)
    headers = bearer(keys["rev"])

    def ids(query: str) -> list[str]:
        response = client.get(f"/v1/reviews?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [t["generation_id"] for t in response.json()["items"]]

    assert generation["id"] in ids(f"q={generation['id']}")
    assert generation["id"] in ids("q=保温杯&kind=text")
    assert ids("kind=image") == []
    assert ids("older_than_s=86400") == []
    assert client.get("/v1/reviews?kind=hologram", headers=headers).status_code == 422
    assert client.get("/v1/reviews?older_than_s=-1", headers=headers).status_code == 422
