"""Reviewer queue at scale: the queue page and the list API over 10,000 pending tasks.

Tasks are put in through ``ReviewService.enqueue`` (the real path: task, categories,
audit event), a mix of text and image tasks, ad-law, PII and bias findings, three
policies and ages from minutes to days. Then, signed in as a reviewer, it times the
queue page (``GET /review/queue``, server-rendered, first page and with filters) and the
service's listing that ``GET /v1/reviews`` calls, against the same page over an empty
queue (the baseline) in the same run. Target (issue 19): the page's p50 ≤ 150 ms.

    .venv/bin/python bench/review_queue.py                 # SQLite file, 10,000 tasks
    .venv/bin/python bench/review_queue.py --postgres      # a scratch PostgreSQL database
    .venv/bin/python bench/review_queue.py --quick         # 300 tasks, 5 repetitions
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from common.types import ContentKind  # noqa: E402
from review_ui.interface import EnqueueRequest, Reviewer  # noqa: E402
from review_ui.models import create_review_tables  # noqa: E402
from review_ui.service import ReviewService  # noqa: E402
from review_ui.settings import ReviewSettings  # noqa: E402
from review_ui.web import build_review_router  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REVIEWER = Reviewer("lead", "acme", "Bench Lead")
KEY = "bench-review-key"
COPY = "这款面霜是全网最佳的选择，第一品牌，联系 13800138000 获取优惠。"
FINDINGS = (
    {"scanner": "ad_law", "category": "ad_law.absolute_term", "score": 0.9, "span": (7, 9),
     "evidence": "最佳", "clause": "广告法 第九条第三项"},
    {"scanner": "pii", "category": "pii.cn_mobile", "score": 0.99, "span": (20, 31),
     "evidence": "13800138000"},
    {"scanner": "bias", "category": "bias.region", "score": 0.4},
)  # fmt: skip
IMAGE_FINDING = {"scanner": "image_hash", "category": "image_match.protected", "score": 0.8}


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def fill(service: ReviewService, clock: _Clock, count: int) -> None:
    start = clock.now
    for index in range(count):
        clock.now = start + timedelta(seconds=30 * index)  # ages from minutes to days
        image = index % 5 == 0
        service.enqueue(
            EnqueueRequest(
                generation_id=f"gen_{index:06d}",
                tenant_id="acme",
                kind=ContentKind.IMAGE if image else ContentKind.TEXT,
                prompt=f"写一段面霜广告 #{index}",
                output_text=None if image else COPY,
                findings=[IMAGE_FINDING if image else FINDINGS[index % 3]],
                policy_name=("cn-marketing", "cn-strict", "global")[index % 3],
                policy_version=f"{index % 7:064x}",
                reason_codes={"ad_law.absolute_term": "广告法 第九条第三项", "other": "其他"},
                priority=index % 100,
            )
        )


def timed(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """p50 and p90 milliseconds of ``action``."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def signed_in(service: ReviewService) -> TestClient:
    app = FastAPI()
    app.include_router(
        build_review_router(service, {KEY: REVIEWER}.get, b"bench-secret-0123456789")
    )
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    form = client.get("/review/login").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form)
    assert token is not None
    response = client.post("/review/login", data={"api_key": KEY, "csrf_token": token.group(1)})
    assert response.status_code == 303, response.text
    return client


def page_rows(client: TestClient, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, response.text[:300]
    return response.text.count('class="task-row')


@contextmanager
def database(postgres: bool) -> Iterator[sa.Engine]:
    if not postgres:
        with tempfile.TemporaryDirectory() as directory:
            engine = sa.create_engine(f"sqlite:///{directory}/review.db")
            yield engine
            engine.dispose()
        return
    name = f"aigc_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
        admin.dispose()


def run(count: int, repeats: int, postgres: bool) -> None:
    with database(postgres) as engine:
        create_review_tables(engine)
        clock = _Clock()
        service = ReviewService(engine, ReviewSettings(), clock=clock)
        client = signed_in(service)
        baseline = timed(lambda: page_rows(client, "/review/queue"), repeats)
        started = time.perf_counter()
        fill(service, clock, count)
        fill_s = time.perf_counter() - started
        clock.now += timedelta(minutes=5)
        pages = {
            "queue page, first 50": "/review/queue",
            "queue page, category=pii": "/review/queue?category=pii",
            "queue page, q=gen_004242": "/review/queue?q=gen_004242",
            "queue page, q=最佳 (text)": "/review/queue?q=%E6%9C%80%E4%BD%B3",
            "queue page, older than 1 day": "/review/queue?older_than_min=1440",
        }
        listings: dict[str, Callable[[], object]] = {
            "list API, first 50": lambda: service.list_tasks("acme"),
            "list API, kind=image, policy=global": lambda: service.list_tasks(
                "acme", kind="image", policy="global"
            ),
            "list API, q=最佳, status=pending": lambda: service.list_tasks(
                "acme", search="最佳", status="pending"
            ),
        }
        kind = "PostgreSQL" if postgres else "SQLite"
        print(f"\n{kind}: {count} pending tasks (filled in {fill_s:.1f} s), {repeats} repetitions")
        print("| request | rows | p50 ms | p90 ms |")
        print("|---|---:|---:|---:|")
        print(f"| queue page, empty queue (baseline) | 0 | {baseline[0]:.1f} | {baseline[1]:.1f} |")
        for label, url in pages.items():
            rows = page_rows(client, url)
            p50, p90 = timed(lambda url=url: page_rows(client, url), repeats)
            print(f"| {label} | {rows} | {p50:.1f} | {p90:.1f} |")
        for label, listing in listings.items():
            p50, p90 = timed(listing, repeats)
            print(f"| {label} | — | {p50:.1f} | {p90:.1f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database")
    parser.add_argument("--quick", action="store_true", help="300 tasks, 5 repetitions")
    args = parser.parse_args(argv)
    count, repeats = (300, 5) if args.quick else (args.items, args.repeats)
    run(count, repeats, args.postgres)


if __name__ == "__main__":
    main()
