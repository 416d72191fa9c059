"""A real review service on in-memory SQLite, for other packages' tests (fakes over mocks).

service = in_memory_review_service(on_final_decision=outcomes.append)
task = service.enqueue(EnqueueRequest(...))
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from review_ui.interface import DecisionOutcome, ReviewEvent
from review_ui.models import create_review_tables
from review_ui.service import ReviewService, utc_now
from review_ui.settings import ReviewSettings

__all__ = ["in_memory_review_service"]


def in_memory_review_service(
    settings: ReviewSettings | None = None,
    on_final_decision: Callable[[DecisionOutcome], None] | None = None,
    *,
    on_event: Callable[[ReviewEvent], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ReviewService:
    """One connection shared by every thread (StaticPool), so the database outlives calls."""
    engine = sa.create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=sa.StaticPool
    )
    create_review_tables(engine)
    return ReviewService(engine, settings, on_final_decision, on_event=on_event, clock=clock)
