"""The custody records a pipeline hands the ledger, and the review summary it keeps.

    event = ledger_event("stamp", generation, refs, actor="gateway", decision="released")
    generation.meta["review_summary"] = summary_to_dict(summary)   # read back by a worker

Each event cites the previous one of its generation (``previous_leaf_hash``), so the
chain of custody can be replayed; hashes and ids only, never content (PIPL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.types import TenantId, utc_timestamp
from gateway.models import Generation, utcnow
from gateway.pipeline.records import raw_sha256
from gateway.ports import LedgerAttr, LedgerEvent, LedgerRef, ReviewSummary

__all__ = [
    "LEDGER_EVENT_OF_STAGE",
    "ledger_event",
    "review_event",
    "summary_from_dict",
    "summary_to_dict",
]

# Which ledger event each pipeline stage appends (for re-reading references later).
LEDGER_EVENT_OF_STAGE = {
    "ledger_generation": "generation",
    "decision": "moderation",
    "review": "review_decision",
    "ledger": "stamp",
}


def ledger_event(
    event_type: str,
    generation: Generation,
    refs: list[LedgerRef],
    *,
    actor: str,
    decision: str | None,
    extra: Mapping[str, LedgerAttr] | None = None,
) -> LedgerEvent:
    stamped = event_type == "stamp"
    return LedgerEvent(
        type=event_type,
        generation_id=generation.id,
        tenant_id=TenantId(generation.tenant_id),
        actor=actor,
        time=utc_timestamp(utcnow()),
        artifact_sha256=generation.artifact_sha256 if stamped else raw_sha256(generation.raw_path),
        manifest_hash=generation.manifest_hash if stamped else None,
        watermark_id=generation.watermark_id if stamped else None,
        decision=decision,
        policy_version=generation.policy_version,
        previous_leaf_hash=refs[-1].leaf_hash if refs else None,
        attrs=dict(extra or {}),
    )


def review_event(
    generation: Generation, refs: list[LedgerRef], summary: ReviewSummary
) -> LedgerEvent:
    return ledger_event(
        "review_decision",
        generation,
        refs,
        actor=summary.reviewer,
        decision=summary.decision,
        extra={
            "reason_code": summary.reason_code or "",
            "reviewers": ",".join(summary.reviewers),
        },
    )


def summary_to_dict(summary: ReviewSummary) -> dict[str, Any]:
    return {
        "reviewer": summary.reviewer,
        "decision": summary.decision,
        "decided_at": summary.decided_at,
        "reason_code": summary.reason_code,
        "reviewers": list(summary.reviewers),
    }


def summary_from_dict(stored: Mapping[str, Any]) -> ReviewSummary:
    return ReviewSummary(**{**stored, "reviewers": tuple(stored.get("reviewers", ()))})
