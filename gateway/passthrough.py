"""Named pass-through stages for domains that are not wired into this process.

Their names are what the pipeline events record, so a generation that skipped a stage
says so plainly instead of looking checked, stamped or ledgered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.ports import (
    Action,
    CheckedContent,
    Direction,
    LedgerRef,
    LedgerRider,
    ModerationVerdict,
    StampOutcome,
    StampSubject,
)

__all__ = [
    "LedgerNotConfigured",
    "ModerationNotConfigured",
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

    def append_chain(
        self, records: Sequence[Mapping[str, Any]], *, rider: LedgerRider | None = None
    ) -> list[LedgerRef | None]:
        refs: list[LedgerRef | None] = [None for _ in records]
        if rider is not None:
            rider(None, refs)  # no ledger transaction to share: the caller opens its own
        return refs
