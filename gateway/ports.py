"""What the pipeline needs from each domain, in the gateway's own terms.

Each port is a small ``Protocol``; ``gateway.adapters`` implements them over the domain
packages (``moderation``, ``review_ui``, ``provenance``, ``ledger``). Every port answers
with a value: the product has no stage that silently passes (``bench/passthrough.py``
holds the stand-ins the overhead benchmark uses to isolate HTTP costs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection

from common.errors import ConflictError
from common.types import (
    Action,
    ContentKind,
    Direction,
    Finding,
    GenerationId,
    ReasonCode,
    TenantId,
)

__all__ = [
    "CheckedContent",
    "CustodyRecordedError",
    "LedgerEvent",
    "LedgerPort",
    "LedgerRef",
    "LedgerRider",
    "ModerationPort",
    "ModerationVerdict",
    "ReviewPort",
    "ReviewSummary",
    "StampOutcome",
    "StampPort",
    "StampStep",
    "StampSubject",
]


@dataclass(frozen=True, slots=True)
class CheckedContent:
    kind: ContentKind
    text: str | None = None
    data: bytes | None = None  # images and 3D assets
    media_type: str | None = None


@dataclass(frozen=True, slots=True)
class ModerationVerdict:
    action: Action
    policy_name: str
    policy_version: str
    # Each judged: its direction, the action its rule asks and the rule's clause.
    findings: tuple[Finding, ...] = ()
    reasons: tuple[str, ...] = ()
    review_queue: str = "default"
    double_review: bool = False
    # The reason codes a reviewer may give for these findings.
    reason_codes: tuple[ReasonCode, ...] = ()
    redacted_text: str | None = None  # input with personal data masked, when the policy says so

    @staticmethod
    def combine(first: ModerationVerdict, second: ModerationVerdict) -> ModerationVerdict:
        """The stricter action, with the findings of both."""
        stricter = first if first.action.severity >= second.action.severity else second
        return ModerationVerdict(
            action=stricter.action,
            policy_name=first.policy_name,
            policy_version=first.policy_version,
            findings=first.findings + second.findings,
            reasons=first.reasons + second.reasons,
            review_queue=stricter.review_queue,
            double_review=first.double_review or second.double_review,
            reason_codes=_union_by_code(first.reason_codes, second.reason_codes),
        )


def _union_by_code(
    first: tuple[ReasonCode, ...], second: tuple[ReasonCode, ...]
) -> tuple[ReasonCode, ...]:
    """The reason codes of the prompt's and the output's findings, each once."""
    seen = {code.code for code in first}
    return first + tuple(code for code in second if code.code not in seen)


class ModerationPort(Protocol):
    name: str

    def check(
        self, content: CheckedContent, direction: Direction, policy: str, tenant_id: TenantId
    ) -> ModerationVerdict: ...

    def readiness_problem(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    reviewer: str
    decision: str
    decided_at: str
    reason_code: str | None = None
    reviewers: tuple[str, ...] = ()
    # An approval that rewrote the text: the text (while it is applied) and that it was
    # (all a worker reads back: the text itself is then the raw content).
    edited_output: str | None = None
    edited: bool = False

    @property
    def was_edited(self) -> bool:
        return self.edited or self.edited_output is not None


class ReviewPort(Protocol):
    name: str

    def enqueue(
        self,
        *,
        generation_id: GenerationId,
        tenant_id: TenantId,
        kind: ContentKind,
        prompt: str | None,
        output_text: str | None,
        verdict: ModerationVerdict,
        previous_output: str | None = None,
    ) -> str:
        """Create the review task; returns its id. ``previous_output``: the text that a
        reviewer's edit (``output_text``) replaced, when moderation flagged the edit."""
        ...


@dataclass(frozen=True, slots=True)
class LedgerRef:
    index: int
    leaf_hash: str
    event: str = ""  # the ledger event type: generation, moderation, review_decision …


# Scalars a ledger event's attrs may hold: further ids, codes and hashes (the ledger's
# canonical JSON takes no floats).
LedgerAttr = str | int | bool


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One custody event as the gateway hands it to the ledger: hashes, ids and
    decisions only — never prompts or outputs (PIPL)."""

    type: str  # generation | moderation | review_decision | stamp | admin_action …
    # A generation's id, or what an admin action changed ("tenant_policy_v3").
    generation_id: str
    tenant_id: TenantId
    actor: str
    time: str  # common.types.utc_timestamp
    artifact_sha256: str | None = None
    manifest_hash: str | None = None
    watermark_id: str | None = None
    decision: str | None = None
    policy_version: str | None = None
    previous_leaf_hash: str | None = None
    attrs: Mapping[str, LedgerAttr] = field(default_factory=dict)


class CustodyRecordedError(ConflictError):
    """The generation already has this once-only custody event (generation, moderation,
    stamp) on the ledger: another run of the same job recorded it first."""

    code = "duplicate_ledger_event"


# The caller's own writes that belong with its ledger events: given the connection of the
# transaction that commits them, and their references.
LedgerRider = Callable[[Connection, Sequence["LedgerRef"]], None]


class LedgerPort(Protocol):
    name: str

    def append(self, event: LedgerEvent) -> LedgerRef:
        """Append one event."""
        ...

    def append_chain(
        self, events: Sequence[LedgerEvent], *, rider: LedgerRider | None = None
    ) -> list[LedgerRef]:
        """Append events contiguously in one transaction, each citing the one before.

        The first event keeps its own ``previous_leaf_hash``; every later one gets the
        leaf hash of its predecessor. One reference per event. ``rider`` is called
        exactly once, before this returns; if it raises, the events are not recorded and
        the error propagates.
        """
        ...


@dataclass(frozen=True, slots=True)
class StampSubject:
    generation_id: GenerationId
    tenant_id: TenantId
    kind: ContentKind
    data: bytes
    media_type: str
    generator: str
    model: str
    model_revision: str
    label_language: str
    verdict: ModerationVerdict
    review: ReviewSummary | None
    ledger_refs: Sequence[LedgerRef]
    output_format: str | None = None  # e.g. "jpeg" when the client asked for it


@dataclass(frozen=True, slots=True)
class StampStep:
    """One stamping step: applied or not, and why."""

    name: str  # visible_label, implicit_label, watermark, c2pa …
    applied: bool
    detail: str
    duration_ms: float

    def to_dict(self) -> dict[str, str | bool | float]:
        return {
            "name": self.name,
            "applied": self.applied,
            "detail": self.detail,
            "ms": self.duration_ms,
        }


@dataclass(frozen=True, slots=True)
class StampOutcome:
    data: bytes
    media_type: str
    watermark_id: str | None
    manifest_label: str | None
    manifest_hash: str | None
    manifest_bytes: bytes | None  # a sidecar manifest for formats that cannot embed
    implicit_label: str | None = None  # the GB 45438 implicit label, as written (JSON)
    steps: tuple[StampStep, ...] = field(default_factory=tuple)


class StampPort(Protocol):
    name: str

    def stamp(self, subject: StampSubject) -> StampOutcome: ...
