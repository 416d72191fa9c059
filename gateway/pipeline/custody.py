"""The custody records a pipeline hands the ledger, reading them back, and the review
summary it keeps.

    event = ledger_event("stamp", generation, refs, actor="gateway", decision="released")
    generation.meta["review_summary"] = summary_to_dict(summary)   # read back by a worker

Each event cites the previous one of its generation (``previous_leaf_hash``), so the
chain of custody can be replayed; hashes and ids only, never content (PIPL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from common.types import TenantId, utc_timestamp
from gateway.db import session_scope
from gateway.models import Generation, PipelineEvent, utcnow
from gateway.pipeline.records import EventLog, column_values, raw_sha256, write_generation
from gateway.ports import (
    LedgerAttr,
    LedgerEvent,
    LedgerPort,
    LedgerRef,
    ModerationVerdict,
    ReviewSummary,
)

__all__ = [
    "LEDGER_EVENT_OF_STAGE",
    "append_custody_start",
    "ledger_event",
    "recorded_refs",
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
    """The reviewer's decision; with an edit, the hashes of both texts and how the
    edited one fared in moderation (the leaf's ``artifact_sha256`` is the edited text's)."""
    extra: dict[str, LedgerAttr] = {
        "reason_code": summary.reason_code or "",
        "reviewers": ",".join(summary.reviewers),
    }
    edit = generation.meta.get("review_edit")
    if summary.edited_output is not None and isinstance(edit, Mapping):
        extra |= {
            "original_output_sha256": str(edit["original_sha256"]),
            "edited_output_sha256": str(edit["edited_sha256"]),
            "edit_moderation": str(edit["moderation"]),
        }
    return ledger_event(
        "review_decision",
        generation,
        refs,
        actor=summary.reviewer,
        decision=summary.decision,
        extra=extra,
    )


def summary_to_dict(summary: ReviewSummary) -> dict[str, Any]:
    """What a worker reads back; an edit's text is not kept here but as the raw content."""
    return {
        "reviewer": summary.reviewer,
        "decision": summary.decision,
        "decided_at": summary.decided_at,
        "reason_code": summary.reason_code,
        "reviewers": list(summary.reviewers),
        "edited": summary.was_edited,
    }


def summary_from_dict(stored: Mapping[str, Any]) -> ReviewSummary:
    return ReviewSummary(**{**stored, "reviewers": tuple(stored.get("reviewers", ()))})


def append_custody_start(
    ledger: LedgerPort,
    engine: Engine,
    generation: Generation,
    verdict: ModerationVerdict,
    events: EventLog,
    output_event: LedgerEvent | None,
) -> list[LedgerRef]:
    """Ledger the output (when there is one) and the verdict on it, in that order.

    Both leaves go into one ledger transaction with one checkpoint: the moderation
    event's link to the generation event is a hash known before the append.
    """
    moderation = ledger_event(
        "moderation",
        generation,
        [],
        actor=f"policy:{verdict.policy_name}",
        decision=verdict.action.value,
    )
    # The generation's row is first written here, with the events so far, in the
    # ledger's transaction: no row without its custody leaves, and no extra commit.
    values = column_values(generation)
    rows = list(events.events)

    def write_row(connection: Connection, _refs: Sequence[LedgerRef]) -> None:
        write_generation(engine, connection, values, rows, events.row_exists)

    records = [moderation] if output_event is None else [output_event, moderation]
    refs = ledger.append_chain(records, rider=write_row)
    events.written()
    if output_event is not None:
        # Its own pipeline event, so the custody chain can be re-read stage by stage;
        # its time is inside the decision stage's, which ran the shared transaction.
        events.add(
            "ledger_generation",
            ledger.name,
            {"ledger": refs[0], "detail": {"transaction": "shared with decision"}},
        )
    return [ref for ref in refs if ref]


def recorded_refs(engine: Engine, generation_id: str) -> list[LedgerRef]:
    """The ledger leaves a generation's pipeline events recorded, in custody order."""
    query = (
        select(PipelineEvent)
        .where(PipelineEvent.generation_id == generation_id)
        .where(col(PipelineEvent.ledger_index).is_not(None))
        .order_by(col(PipelineEvent.seq))
    )
    with session_scope(engine) as session:
        rows = session.exec(query).all()
    return [
        LedgerRef(r.ledger_index, r.leaf_hash or "", LEDGER_EVENT_OF_STAGE.get(r.stage, ""))
        for r in rows
        if r.ledger_index is not None
    ]
