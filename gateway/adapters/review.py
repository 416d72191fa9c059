"""The review port over ``review_ui.ReviewService``, and the hooks that resume the pipeline.

The service calls back after each committed change: every event goes to the ledger, and
a final approve or reject resumes the generation (stamp and release, or block).
"""

from __future__ import annotations

from collections.abc import Callable

from common.types import ContentKind, TenantId, utc_timestamp
from gateway.ports import LedgerAttr, LedgerEvent, LedgerPort, ModerationVerdict, ReviewSummary
from review_ui.interface import (
    DecisionOutcome,
    EnqueueRequest,
    FinalOutcome,
    ReviewEvent,
    ReviewEventKind,
)
from review_ui.service import ReviewService

__all__ = ["QueueReview", "ledger_event_hook", "resume_hook"]

# Ledger event type per review event. The final decision is ledgered by the pipeline
# itself (the review_decision event the manifest then cites); enqueueing is already the
# moderation event. The rest is ledgered as it happens.
_LEDGER_TYPE = {
    ReviewEventKind.CLAIMED: "review_claim",
    ReviewEventKind.CLAIM_RENEWED: "review_claim",
    ReviewEventKind.RELEASED: "review_release",
    ReviewEventKind.LEASE_EXPIRED: "review_release",
    ReviewEventKind.DECIDED: "review_decision",
    ReviewEventKind.ESCALATED: "review_decision",
}


class QueueReview:
    name = "review-queue"

    def __init__(self, service: ReviewService) -> None:
        self.service = service

    def enqueue(
        self,
        *,
        generation_id: str,
        tenant_id: str,
        kind: ContentKind,
        prompt: str | None,
        output_text: str | None,
        verdict: ModerationVerdict,
        previous_output: str | None = None,
    ) -> str:
        request = EnqueueRequest(
            previous_output=previous_output,
            generation_id=generation_id,
            tenant_id=tenant_id,
            kind=kind,
            prompt=prompt or "",
            output_text=output_text,
            findings=[f.to_dict() for f in verdict.findings],
            policy_name=verdict.policy_name,
            policy_version=verdict.policy_version,
            reason_codes=verdict.reason_codes,  # the same common.types.ReasonCode
            double_review=verdict.double_review,
            queue=verdict.review_queue,
        )
        view = self.service.enqueue(request)
        return str(view.id)


def ledger_event_hook(ledger: LedgerPort) -> Callable[[ReviewEvent], None]:
    def append(event: ReviewEvent) -> None:
        if event.kind in _LEDGER_TYPE:
            ledger.append(_ledger_record(event))

    return append


def _ledger_record(event: ReviewEvent) -> LedgerEvent:
    fields = event.to_ledger_dict()
    attrs: dict[str, LedgerAttr] = {"review_event": event.kind.value}
    attrs |= {
        k: v
        for k, v in fields.items()
        if k not in {"type", "generation_id", "tenant", "at", "policy_version", "decision"}
        and isinstance(v, str | int | bool)
    }
    return LedgerEvent(
        type=_LEDGER_TYPE[event.kind],
        generation_id=event.generation_id,
        tenant_id=TenantId(event.tenant_id),
        actor=event.reviewer or "review-queue",
        time=utc_timestamp(event.at),
        decision=event.decision.value if event.decision else None,
        policy_version=event.policy_version,
        attrs=attrs,
    )


def resume_hook(
    complete_review: Callable[[str, bool, ReviewSummary, str | None], object],
) -> Callable[[DecisionOutcome], None]:
    """Approve → stamp and release; reject → block with the reviewer's reason."""

    def on_final(outcome: DecisionOutcome) -> None:
        if outcome.final not in (FinalOutcome.APPROVED, FinalOutcome.REJECTED):
            return
        summary = ReviewSummary(
            reviewer=outcome.reviewers[-1] if outcome.reviewers else "unknown",
            decision=outcome.final.value,
            decided_at=outcome.decided_at.isoformat(),
            reason_code=outcome.reason_code,
            reviewers=outcome.reviewers,
            edited_output=outcome.edited_output,
        )
        reason = None
        if outcome.final is FinalOutcome.REJECTED:
            reason = f"rejected by review: {outcome.reason_code or 'no reason code'}"
            if outcome.note:
                reason += f" — {outcome.note}"
        complete_review(
            outcome.generation_id, outcome.final is FinalOutcome.APPROVED, summary, reason
        )

    return on_final
