"""Fixtures for the review queue tests: an engine with the review tables, a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from common.types import ContentKind
from review_ui.interface import DecisionOutcome, EnqueueRequest, ReviewEvent, ReviewTaskView
from review_ui.models import create_review_tables
from review_ui.service import ReviewService
from review_ui.settings import ReviewSettings

AD_LAW_OUTPUT = "这款面霜是全网最佳的选择，第一品牌。"
REASON_CODES = {
    "ad_law.absolute_term": "广告法 第九条第三项 / Advertising Law Art. 9(3)",
    "bias.region": "生成式AI暂行办法 第四条第二项",
    "other": "Other",
}


class FakeClock:
    """A clock the test moves by hand (aware UTC)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Recorder:
    """Collects what the service hands to the gateway's hooks."""

    def __init__(self) -> None:
        self.events: list[ReviewEvent] = []
        self.outcomes: list[DecisionOutcome] = []


def make_engine(database_url: str) -> sa.Engine:
    """An engine configured like the gateway's (WAL, busy timeout, foreign keys)."""
    if database_url.startswith("sqlite"):
        # Writers queue on SQLite's file lock; wait instead of failing with "locked".
        engine = sa.create_engine(
            database_url, connect_args={"timeout": 30, "check_same_thread": False}
        )
        sa.event.listen(engine, "connect", _configure_sqlite)
        return engine
    return sa.create_engine(database_url, pool_size=10, max_overflow=20)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    create_review_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def service(engine: sa.Engine, clock: FakeClock, recorder: Recorder) -> ReviewService:
    return ReviewService(
        engine,
        ReviewSettings(lease_s=900, double_review_categories=["pii"]),
        recorder.outcomes.append,
        on_event=recorder.events.append,
        clock=clock,
    )


def enqueue_text(service: ReviewService, **overrides: Any) -> ReviewTaskView:
    """A typical ad-law task: '最佳' and '第一' flagged in the output."""
    args: dict[str, Any] = {
        "generation_id": "gen_1",
        "tenant_id": "acme",
        "kind": ContentKind.TEXT,
        "prompt": "写一段面霜广告",
        "output_text": AD_LAW_OUTPUT,
        "findings": [
            {
                "scanner": "ad_law",
                "category": "ad_law.absolute_term",
                "score": 0.9,
                "span": (7, 9),
                "evidence": "最佳",
                "clause": "广告法 第九条第三项",
            },
            {
                "scanner": "ad_law",
                "category": "ad_law.absolute_term",
                "score": 0.8,
                "span": (13, 15),
                "evidence": "第一",
                "clause": "广告法 第九条第三项",
            },
        ],
        "policy_name": "cn-marketing",
        "policy_version": "3",
        "reason_codes": REASON_CODES,
    }
    args.update(overrides)
    return service.enqueue(EnqueueRequest(**args))
