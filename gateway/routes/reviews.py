"""The review queue over HTTP (role ``review``) and the reviewer pages at ``/review``.

A reviewer is a person, named by the label the admin gave their key (several keys, one
person: ``keys create --role review --label "Li Na"`` twice): claims, votes, the four-eyes
checks and the audit history use ``reviewer:<label>``. A key without a label is its own
reviewer, ``key:<id>``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from common.errors import InvalidInputError
from common.types import ContentKind
from gateway.auth import Principal, authenticate
from gateway.db import session_scope
from gateway.deps import HistoryReader, ReviewKey, ReviewServiceDep
from gateway.models import ApiKey, Generation, Role
from gateway.runtime import Runtime
from review_ui.interface import (
    MAX_BULK_TASKS,
    BulkDecisionRequest,
    ReviewDecision,
    Reviewer,
    ReviewTaskView,
)
from review_ui.web import PreviewImage, build_review_router

__all__ = ["build_reviewer_pages", "router"]

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "escalate"]
    reason_code: str | None = Field(
        default=None, max_length=64, description="From the policy's list; required to reject."
    )
    note: str | None = Field(default=None, max_length=4000)
    edited_output: str | None = Field(
        default=None,
        max_length=100_000,
        description=(
            "With approve, on a single-review text task: the text to release instead of the "
            "output. It is moderated again; flagged, it returns to the queue."
        ),
    )


class BulkDecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1,
        max_length=MAX_BULK_TASKS,
        description="Review task ids, each decided on its own.",
    )
    decision: Literal["approve", "reject"]
    reason_code: str | None = Field(
        default=None, max_length=64, description="One reason for all; required to reject."
    )
    note: str | None = Field(default=None, max_length=4000)


def _reviewer_id(principal: Principal) -> str:
    person = " ".join(principal.label.split())[:_MAX_PERSON_CHARS]
    return f"reviewer:{person}" if person else f"key:{principal.key_id}"


_MAX_PERSON_CHARS = 100  # ledger ids hold at most 128 characters


@router.get("", summary="Review tasks of the caller's tenant, most urgent first")
def list_reviews(
    principal: ReviewKey,
    reviews: ReviewServiceDep,
    status: str | None = None,
    queue: str | None = None,
    category: str | None = None,
    kind: str | None = None,
    policy: str | None = None,
    older_than_s: Annotated[
        float | None, Query(ge=0, le=10 * 366 * 86400, description="Minimum age in seconds")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="A task or generation id, text, or a category"),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    page = reviews.list_tasks(
        principal.tenant_id,
        status=status,
        queue=queue,
        category=category,
        kind=kind,
        policy=policy,
        older_than_s=older_than_s,
        search=q,
        cursor=cursor,
        limit=limit,
    )
    return {"items": [t.to_dict() for t in page.items], "next_cursor": page.next_cursor}


@router.post(
    "/decisions",
    summary="Approve or reject several single-review tasks with one reason",
    description=(
        "Each task is claimed and decided on its own — its own vote, its own ledger event. "
        "The answer lists every id with `status` 200 and its `outcome`, or the status and "
        "`error` that stopped it (404 unknown, 409 claimed by someone else, already "
        "decided, or a double-review or senior-queue task, which bulk decisions never "
        "settle; 422 a reason code this task's policy lacks). One failure stops none of "
        "the others."
    ),
)
def decide_reviews(
    body: BulkDecisionBody, principal: ReviewKey, reviews: ReviewServiceDep
) -> dict[str, Any]:
    results = reviews.decide_many(
        BulkDecisionRequest(
            task_ids=tuple(body.ids),
            reviewer=_reviewer_id(principal),
            tenant_id=principal.tenant_id,
            decision=ReviewDecision(body.decision),
            reason_code=body.reason_code,
            note=body.note,
            senior=principal.is_senior_reviewer,
        )
    )
    succeeded = sum(1 for result in results if result.error is None)
    return {
        "results": [result.to_dict() for result in results],
        "succeeded": succeeded,
        "failed": len(results) - succeeded,
    }


@router.get(
    "/stats",
    summary="Decisions per reviewer and day, time to decision, agreement, SLA, queue depth",
    description=(
        "Over [since, until] (ISO 8601; until defaults to now, since to the first vote). "
        "Time to decision runs from a task's creation to its end; `sla.ended_late` counts "
        "tasks that ended after more than `breach_after_s`, `sla.open_late` those still "
        "open at `until` and older than that; `queue_depth` samples open tasks 24 times."
    ),
)
def review_stats(
    principal: HistoryReader,
    reviews: ReviewServiceDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    if since is not None and until is not None and since > until:
        raise InvalidInputError("since must not be after until")
    return reviews.dashboard(tenant_id=principal.tenant_id, since=since, until=until).to_dict()


@router.get("/{task_id}", summary="One review task")
def read_review(task_id: str, principal: ReviewKey, reviews: ReviewServiceDep) -> dict[str, Any]:
    return reviews.get(task_id, principal.tenant_id).to_dict()


@router.get("/{task_id}/history", summary="The task's audit events (reviewers and auditors)")
def review_history(
    task_id: str, principal: HistoryReader, reviews: ReviewServiceDep
) -> dict[str, Any]:
    events = reviews.history(task_id, principal.tenant_id)
    return {"items": [jsonable_encoder(asdict(e)) for e in events], "next_cursor": None}


@router.post("/{task_id}/claim", summary="Claim (lease) a task; your own re-claim renews")
def claim_review(task_id: str, principal: ReviewKey, reviews: ReviewServiceDep) -> dict[str, Any]:
    view = reviews.claim(
        task_id,
        reviewer=_reviewer_id(principal),
        tenant_id=principal.tenant_id,
        senior=principal.is_senior_reviewer,
    )
    return view.to_dict()


@router.post("/{task_id}/release", summary="Give a claimed task back to the queue")
def release_review(task_id: str, principal: ReviewKey, reviews: ReviewServiceDep) -> dict[str, Any]:
    view = reviews.release(task_id, reviewer=_reviewer_id(principal), tenant_id=principal.tenant_id)
    return view.to_dict()


@router.post("/{task_id}/decision", summary="Approve, reject or escalate a claimed task")
def decide_review(
    task_id: str, body: DecisionBody, principal: ReviewKey, reviews: ReviewServiceDep
) -> dict[str, Any]:
    """Approval resumes the pipeline (stamp, ledger) before this answers."""
    outcome = reviews.decide(
        task_id,
        reviewer=_reviewer_id(principal),
        tenant_id=principal.tenant_id,
        decision=ReviewDecision(body.decision),
        reason_code=body.reason_code,
        note=body.note,
        edited_output=body.edited_output,
    )
    return outcome.to_dict()


def build_reviewer_pages(runtime: Runtime) -> APIRouter:
    """The server-rendered reviewer UI, signed in with a review (or admin) key."""

    def authenticate_reviewer(api_key: str) -> Reviewer | None:
        try:
            with session_scope(runtime.engine) as session:
                principal = authenticate(session, api_key)
        except Exception:  # any failure to authenticate is simply "not a reviewer"
            return None
        if not principal.has_role(Role.REVIEW):
            return None
        return Reviewer(
            id=_reviewer_id(principal),
            tenant_id=principal.tenant_id,
            display_name=principal.label,
            senior=principal.is_senior_reviewer,
            key_id=principal.key_id,
        )

    def still_valid(reviewer: Reviewer) -> bool:
        with session_scope(runtime.engine) as session:
            row = session.get(ApiKey, reviewer.key_id or reviewer.id.removeprefix("key:"))
        return row is not None and row.revoked_at is None

    def load_preview(task: ReviewTaskView) -> PreviewImage | None:
        if task.kind != ContentKind.IMAGE.value:
            return None
        with session_scope(runtime.engine) as session:
            generation = session.get(Generation, task.generation_id)
        if generation is None or generation.tenant_id != task.tenant_id or not generation.raw_path:
            return None
        data = runtime.store.read(generation.raw_path)
        return PreviewImage(data=data, media_type=generation.media_type or "image/png")

    return build_review_router(
        runtime.review_service,
        authenticate_reviewer,
        runtime.secrets.session_key(),
        reviewer_still_valid=still_valid,
        load_preview=load_preview,
    )
