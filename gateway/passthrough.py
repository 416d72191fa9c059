"""Named pass-through stages for domains that are not wired into this process.

Their names are what the pipeline events record, so a generation that skipped a stage
says so plainly instead of looking checked, stamped or ledgered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.errors import ConfigurationError
from common.types import ContentKind
from gateway.ports import (
    Action,
    CheckedContent,
    Direction,
    LedgerRef,
    ModerationVerdict,
    StampOutcome,
    StampSubject,
)

__all__ = [
    "LedgerNotConfigured",
    "ModerationNotConfigured",
    "ReviewNotConfigured",
    "StampingNotConfigured",
]


class ModerationNotConfigured:
    name = "moderation-not-configured"

    def check(
        self, content: CheckedContent, direction: Direction, policy: str, tenant_id: str
    ) -> ModerationVerdict:
        return ModerationVerdict(action=Action.ALLOW, policy_name=policy, policy_version="none")

    def readiness_problem(self) -> str | None:
        return None


class ReviewNotConfigured:
    name = "review-not-configured"

    def enqueue(
        self,
        *,
        generation_id: str,
        tenant_id: str,
        kind: ContentKind,
        prompt: str | None,
        output_text: str | None,
        verdict: ModerationVerdict,
    ) -> str:
        # Failing closed: without a queue, nothing marked for review may be released.
        raise ConfigurationError("moderation asked for human review but no review queue is set up")


class StampingNotConfigured:
    name = "stamping-not-configured"

    def stamp(self, subject: StampSubject) -> StampOutcome:
        return StampOutcome(
            data=subject.data,
            media_type=subject.media_type,
            watermark_id=None,
            manifest_label=None,
            manifest_hash=None,
            manifest_bytes=None,
        )


class LedgerNotConfigured:
    name = "ledger-not-configured"

    def append(self, record: Mapping[str, Any]) -> LedgerRef | None:
        return None
