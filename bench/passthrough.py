"""Named pass-through stages, for the overhead benchmark only (``gateway_overhead.py``).

Replacing every domain stage with one of these isolates what HTTP, authentication and
bookkeeping cost. They do not belong in the product — a moderation that allows
everything must not exist there (governance fails closed) — so they live here. Their
names are what the pipeline events record, so a generation that skipped a stage says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from common.types import Action, Direction
from gateway.ports import (
    CheckedContent,
    LedgerEvent,
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
    """Records nothing; the rider's writes run in a transaction of their own."""

    name = "ledger-not-configured"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def append(self, event: LedgerEvent) -> LedgerRef:
        return _no_ref(event)

    def append_chain(
        self, events: Sequence[LedgerEvent], *, rider: LedgerRider | None = None
    ) -> list[LedgerRef]:
        refs = [_no_ref(event) for event in events]
        if rider is not None:
            with self._engine.begin() as connection:
                rider(connection, refs)
        return refs


def _no_ref(event: LedgerEvent) -> LedgerRef:
    # Index -1 and no leaf hash: nothing a verifier could take for a real entry.
    return LedgerRef(-1, "", event.type)
