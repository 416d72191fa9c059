"""The webhook outbox: deliveries written first, delivered by leased claims, kept across a
restart, delivered once by several processes — against receivers on loopback.

Runs on SQLite and, with ``AIGC_TEST_DB=postgres``, on PostgreSQL (where claims use
``FOR UPDATE SKIP LOCKED``; the portable conditional claim is tested there too).
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import sqlalchemy as sa

from common.sqltable import table_of
from common.types import ContentKind, TenantId
from gateway.auth import ensure_tenant
from gateway.db import session_scope
from gateway.models import Generation, WebhookDelivery, utcnow
from gateway.pipeline import GenerationOrder
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from gateway.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookSettings,
    verify_signature,
)
from gateway.webhooks.dispatcher import OutboxDispatcher
from gateway.webhooks.outbox import NewDelivery, OutboxStatus, WebhookOutbox, WebhookOutboxRow
from ledger.interface import LedgerUnavailableError
from tests.support.dns import FakeDns, fake_dns
from tests.support.gateway import fake_catalog
from tests.support.receiver import Receiver, running_receiver

pytestmark = pytest.mark.db

TENANT = TenantId("acme")
# Loopback receivers need private networks allowed (SSRF); short backoffs and polls keep
# the tests fast without changing what is tested.
FAST = {
    "allow_private_networks": True,
    "initial_backoff_s": 0.05,
    "max_backoff_s": 0.1,
    "poll_interval_s": 0.2,
}
RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return fake_dns(monkeypatch)


@pytest.fixture
def runtimes(database_url: str, data_dir: Path) -> Iterator[RuntimeFactory]:
    """Gateway processes on one database and data directory: ``runtimes(serving=…,
    **webhook_settings)``; every one is closed at the end."""
    built: list[Runtime] = []

    def make(*, serving: bool = True, **webhooks: Any) -> Runtime:
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            webhooks={**FAST, **webhooks},
            ledger={"anchor": {"enabled": False}},
        )
        runtime = build_runtime(settings, catalog=fake_catalog())
        built.append(runtime)
        runtime.start(serving=serving)
        with session_scope(runtime.engine) as session:
            ensure_tenant(session, TENANT, settings.default_policy)
        return runtime

    yield make
    for runtime in built:
        runtime.close()


def generate(runtime: Runtime, callback_url: str | None) -> Generation:
    order = GenerationOrder(
        tenant_id=TENANT,
        kind=ContentKind.TEXT,
        prompt="春季新品",
        policy="cn-marketing",
        actor="test",
        callback_url=callback_url,
    )
    return runtime.pipeline.generate(order)


def outbox_rows(runtime: Runtime) -> list[WebhookOutboxRow]:
    table = table_of(WebhookOutboxRow)
    with runtime.engine.connect() as connection:
        found = connection.execute(sa.select(table).order_by(table.c.created_at)).mappings()
        return [WebhookOutboxRow(**row) for row in found]


def attempts_logged(runtime: Runtime) -> list[WebhookDelivery]:
    """The delivery log, oldest attempt first."""
    rows, _ = runtime.webhooks.log.list(TENANT, None, 200)
    return rows[::-1]


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def receiver_on(port: int) -> Iterator[list[dict[str, str]]]:
    """A receiver that comes up on a port chosen earlier (one that was down until now)."""
    headers_seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            headers_seen.append(dict(self.headers.items()))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield headers_seen
    finally:
        server.shutdown()
        server.server_close()


def new_delivery(url: str, n: int = 0, addresses: tuple[str, ...] = ()) -> NewDelivery:
    body = json.dumps({"id": f"gen_{n}", "status": "released"}).encode()
    return NewDelivery(TENANT, f"gen_{n}", "generation.released", url, body, addresses)


@contextmanager
def dispatching(
    outbox: WebhookOutbox, seen: list[httpx.Request] | None = None, **settings: Any
) -> Iterator[OutboxDispatcher]:
    """A dispatcher of its own over ``outbox`` (strict by default: private networks
    refused), for deliveries the runtime's settings would not make. With ``seen``, no
    network: every request is kept there and answered 204."""

    def answer(request: httpx.Request) -> httpx.Response:
        assert seen is not None
        seen.append(request)
        return httpx.Response(204)

    dispatcher = OutboxDispatcher(
        outbox,
        WebhookSettings(poll_interval_s=0.1, **settings),
        secrets=lambda _tenant: [b"k"],
        transport=httpx.MockTransport(answer) if seen is not None else None,
    )
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        dispatcher.close()


# ---------------------------------------------------------------------- delivery


def test_delivery_reaches_a_loopback_receiver(runtimes: RuntimeFactory, receiver: Receiver) -> None:
    runtime = runtimes()
    generation = generate(runtime, receiver.url)
    assert runtime.webhooks.wait_idle(10)

    (request,) = receiver.requests
    (row,) = outbox_rows(runtime)
    verify_signature(
        runtime.secrets.webhook_secret(TENANT), request.body, request.headers[SIGNATURE_HEADER]
    )
    assert request.headers[EVENT_HEADER] == "generation.released"
    assert request.headers[DELIVERY_HEADER] == row.id
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == row.payload.encode()  # the bytes fixed when it was enqueued
    assert json.loads(request.body)["id"] == generation.id
    assert (row.status, row.attempts, row.generation_id) == ("delivered", 1, generation.id)
    assert (row.claimed_by, row.lease_until, row.last_status_code) == (None, None, 200)
    assert [(a.attempt, a.delivered, a.delivery_id) for a in attempts_logged(runtime)] == [
        (1, True, row.id)
    ]


def test_receiver_down_then_up_is_delivered_by_a_retry(runtimes: RuntimeFactory) -> None:
    port = free_port()
    runtime = runtimes(initial_backoff_s=0.3, max_backoff_s=0.5)
    generate(runtime, f"http://127.0.0.1:{port}/hooks")
    wait_for(lambda: len(attempts_logged(runtime)) == 1)  # refused: nothing listens yet

    with receiver_on(port) as received:
        assert runtime.webhooks.wait_idle(10)
    (row,) = outbox_rows(runtime)
    assert [h[DELIVERY_HEADER] for h in received] == [row.id]
    assert [(a.attempt, a.delivered, a.error) for a in attempts_logged(runtime)] == [
        (1, False, "ConnectError"),
        (2, True, None),
    ]
    assert (row.status, row.attempts) == ("delivered", 2)


def test_attempts_are_bounded_then_the_row_is_dead(
    runtimes: RuntimeFactory, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 5
    runtime = runtimes(max_attempts=2)
    generate(runtime, receiver.url)
    assert runtime.webhooks.wait_idle(10)
    (row,) = outbox_rows(runtime)
    assert (row.status, row.attempts, row.last_status_code) == ("dead", 2, 500)
    assert row.last_error == "HTTP 500"
    assert len(receiver.requests) == 2


def test_client_errors_end_the_row_at_once(runtimes: RuntimeFactory, receiver: Receiver) -> None:
    receiver.statuses = [410]
    runtime = runtimes()
    generate(runtime, receiver.url)
    assert runtime.webhooks.wait_idle(10)
    (row,) = outbox_rows(runtime)
    assert (row.status, row.attempts, len(receiver.requests)) == ("dead", 1, 1)


def test_network_like_answers_are_retried_under_one_delivery_id(
    runtimes: RuntimeFactory, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503, 429, 408]
    runtime = runtimes(initial_backoff_s=0.1, max_backoff_s=0.1)
    generate(runtime, receiver.url)
    assert runtime.webhooks.wait_idle(10)

    (row,) = outbox_rows(runtime)
    assert [r.headers[DELIVERY_HEADER] for r in receiver.requests] == [row.id] * 5
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 5, 200)
    logged = attempts_logged(runtime)
    assert [a.status_code for a in logged] == [500, 503, 429, 408, 200]
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in itertools.pairwise(logged)]
    assert min(gaps) >= 0.05  # each retry waited its (jittered) backoff


def test_a_slow_receiver_never_holds_up_the_generation(
    runtimes: RuntimeFactory, receiver: Receiver
) -> None:
    receiver.delay_s = 1.0
    runtime = runtimes()
    generate(runtime, receiver.url)
    # Had the generation waited for the callback, the receiver would have answered.
    assert [r.status for r in outbox_rows(runtime)] != ["delivered"]
    assert runtime.webhooks.wait_idle(10)
    assert [r.status for r in outbox_rows(runtime)] == ["delivered"]


# ---------------------------------------------------------------------- restart, crash


def test_a_retry_pending_at_close_is_delivered_by_the_next_runtime(
    runtimes: RuntimeFactory, receiver: Receiver
) -> None:
    receiver.statuses = [503]
    first = runtimes(initial_backoff_s=1.0, max_backoff_s=1.0)  # the retry is 0.5–1 s away
    generate(first, receiver.url)
    # The first attempt failed and its retry is scheduled (pending again, one attempt).
    wait_for(lambda: [(r.status, r.attempts) for r in outbox_rows(first)] == [("pending", 1)])
    first.close()  # a restart: the retry is kept in the outbox, not in memory
    (kept,) = outbox_rows(first)
    assert (kept.status, kept.attempts, len(receiver.requests)) == ("pending", 1, 1)

    second = runtimes()
    assert second.webhooks.wait_idle(10)
    assert [r.headers[DELIVERY_HEADER] for r in receiver.requests] == [kept.id, kept.id]
    (row,) = outbox_rows(second)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert [a.attempt for a in attempts_logged(second)] == [1, 2]


def test_enqueue_joins_the_callers_transaction(
    runtimes: RuntimeFactory, receiver: Receiver
) -> None:
    """Rolled back: no webhook. Committed with no dispatcher running (a process that
    died right after its commit): the next process to start delivers it."""
    oneshot = runtimes(serving=False)  # no dispatcher threads
    generation = generate(oneshot, None)
    generation.callback_url = receiver.url

    def failed_release() -> None:
        with oneshot.engine.begin() as connection:
            oneshot.webhooks.enqueue(connection, generation)
            raise RuntimeError("the release failed")

    with pytest.raises(RuntimeError):
        failed_release()
    assert outbox_rows(oneshot) == []

    with oneshot.engine.begin() as connection:
        delivery_id = oneshot.webhooks.enqueue(connection, generation)
    time.sleep(0.3)
    assert receiver.requests == []  # not nudged: waits in the outbox

    server = runtimes()
    assert server.webhooks.wait_idle(10)
    assert [r.headers[DELIVERY_HEADER] for r in receiver.requests] == [delivery_id]


def test_an_expired_lease_is_claimed_again(runtimes: RuntimeFactory) -> None:
    runtime = runtimes(serving=False)
    outbox = runtime.webhooks.outbox
    delivery_id = outbox.add(new_delivery("http://127.0.0.1:9/hooks"))
    crashed = outbox.claim("crashed:1:aa/1", lease_s=60)
    assert crashed is not None
    assert crashed.id == delivery_id
    assert outbox.claim("other:2:bb/1", lease_s=60) is None  # the lease is live

    later = utcnow() + timedelta(seconds=61)
    outbox.clock = lambda: later
    taken = outbox.claim("other:2:bb/2", lease_s=60)
    assert taken is not None
    assert (taken.id, taken.attempts) == (delivery_id, 0)
    # The crashed claimer's late outcome is fenced off; the new claimer's counts.
    assert outbox.mark_delivered(crashed, status_code=200) is False
    assert outbox.mark_delivered(taken, status_code=200) is True
    row = outbox.get(delivery_id)
    assert row is not None
    assert (row.status, row.attempts, row.claimed_by) == ("delivered", 1, None)


def test_a_dispatcher_takes_over_a_lapsed_claim(
    runtimes: RuntimeFactory, receiver: Receiver
) -> None:
    runtime = runtimes(serving=False)
    outbox = runtime.webhooks.outbox
    delivery_id = outbox.add(new_delivery(receiver.url))
    assert outbox.claim("crashed:1:aa/1", lease_s=0.6) is not None  # then it died
    claimed_at = time.monotonic()

    runtime.webhooks.start()
    assert runtime.webhooks.wait_idle(10)
    assert time.monotonic() - claimed_at >= 0.5  # not before the lease lapsed
    assert [r.headers[DELIVERY_HEADER] for r in receiver.requests] == [delivery_id]


# ---------------------------------------------------------------------- several processes


def test_two_runtimes_deliver_each_row_once(runtimes: RuntimeFactory, receiver: Receiver) -> None:
    receiver.delay_s = 0.01  # long enough for the dispatchers' claims to overlap
    first = runtimes()
    # The tenant's secret exists before both processes sign with it (two processes
    # creating the master key file at the same instant race on its temporary file).
    first.webhooks.store.signing_secrets(TENANT)
    second = runtimes()
    ids = [first.webhooks.outbox.add(new_delivery(receiver.url, n)) for n in range(24)]
    first.webhooks.nudge()
    second.webhooks.nudge()
    assert first.webhooks.wait_idle(20)

    delivered = [r.headers[DELIVERY_HEADER] for r in receiver.requests]
    assert sorted(delivered) == sorted(ids)  # every row, none twice
    assert {r.status for r in outbox_rows(first)} == {"delivered"}
    assert sorted(a.delivery_id for a in attempts_logged(first)) == sorted(ids)


@pytest.mark.parametrize("skip_locked", [None, False], ids=["backend-default", "conditional"])
def test_concurrent_claims_take_each_row_once(
    runtimes: RuntimeFactory, skip_locked: bool | None
) -> None:
    runtime = runtimes(serving=False)
    outbox = WebhookOutbox(runtime.engine)
    ids = [outbox.add(new_delivery("http://127.0.0.1:9/hooks", n)) for n in range(30)]
    taken: list[str] = []
    lock = threading.Lock()

    def claim_all(worker: int) -> None:
        for n in itertools.count():
            entry = outbox.claim(f"w{worker}/{n}", lease_s=60, skip_locked=skip_locked)
            if entry is None:
                return
            with lock:
                taken.append(entry.id)

    workers = [threading.Thread(target=claim_all, args=(w,)) for w in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert sorted(taken) == sorted(ids)


# ---------------------------------------------------------------------- checks, settings


def test_a_row_is_checked_again_under_the_delivering_settings(
    runtimes: RuntimeFactory, receiver: Receiver
) -> None:
    """Enqueued while private networks were allowed, delivered by a process that refuses
    them: refused at delivery, never sent."""
    runtime = runtimes(serving=False)
    outbox = runtime.webhooks.outbox
    delivery_id = outbox.add(new_delivery(receiver.url))
    strict = OutboxDispatcher(
        outbox, WebhookSettings(poll_interval_s=0.1), secrets=lambda _tenant: [b"k"]
    )
    strict.start()
    try:
        assert strict.wait_idle(10)
    finally:
        strict.close()
    row = outbox.get(delivery_id)
    assert row is not None
    assert (row.status, row.last_error) == (OutboxStatus.DEAD, "resolves to a private address")
    assert receiver.requests == []


def test_a_lease_shorter_than_an_attempt_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="lease_s"):
        WebhookSettings(timeout_s=30, lease_s=60)


def test_the_outbox_row_commits_with_the_release_it_announces(
    runtimes: RuntimeFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not serving: no dispatcher runs, so what is in the outbox is what the release wrote.
    runtime = runtimes(serving=False)
    released = generate(runtime, receiver.url)
    [row] = outbox_rows(runtime)
    assert (row.generation_id, row.event) == (released.id, "generation.released")
    assert json.loads(row.payload)["status"] == "released"

    # A release whose transaction fails writes no webhook (and the generation fails).
    ledger = runtime.pipeline.ledger
    append_chain = ledger.append_chain

    def refuse_the_stamp(events: Any, **kwargs: Any) -> Any:
        if events[0].type == "stamp":
            raise LedgerUnavailableError("the ledger could not record the event")
        return append_chain(events, **kwargs)

    monkeypatch.setattr(ledger, "append_chain", refuse_the_stamp)
    with pytest.raises(LedgerUnavailableError):
        generate(runtime, receiver.url)
    assert len(outbox_rows(runtime)) == 1


# ---------------------------------------------------------------------- pins, SSRF at delivery


def test_retries_connect_to_the_pinned_address(
    runtimes: RuntimeFactory, receiver: Receiver, dns: FakeDns
) -> None:
    """A row pinned when its URL was checked is never resolved again, retries included,
    so a later DNS answer (rebinding to an internal address) is never asked for."""
    dns.answers["hooks.test"] = [["10.255.255.1"]]
    url = f"http://hooks.test:{receiver.port}/hooks/aigc"
    receiver.statuses = [503]
    runtime = runtimes(serving=False)
    runtime.webhooks.outbox.add(new_delivery(url, addresses=("127.0.0.1",)))
    runtime.webhooks.start()
    assert runtime.webhooks.wait_idle(10)

    assert dns.lookups == []
    assert {r.headers["Host"] for r in receiver.requests} == {f"hooks.test:{receiver.port}"}
    assert len(receiver.requests) == 2
    (row,) = outbox_rows(runtime)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert {a.address for a in attempts_logged(runtime)} == {"127.0.0.1"}


def test_a_row_without_a_pin_is_resolved_once(
    runtimes: RuntimeFactory, receiver: Receiver, dns: FakeDns
) -> None:
    dns.answers["hooks.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    receiver.statuses = [500, 500]
    runtime = runtimes(serving=False)
    runtime.webhooks.outbox.add(new_delivery(f"http://hooks.test:{receiver.port}/hooks/aigc"))
    runtime.webhooks.start()
    assert runtime.webhooks.wait_idle(10)

    assert dns.lookups == ["hooks.test"]  # the first attempt's answer is kept on the row
    (row,) = outbox_rows(runtime)
    assert (row.status, row.attempts, row.addresses) == ("delivered", 3, ["127.0.0.1"])
    assert len(receiver.requests) == 3


@pytest.mark.parametrize(
    ("answer", "attempts", "error"),
    [
        (["169.254.169.254"], 1, "resolves to a private address"),  # final at once
        ([], 2, "host does not resolve"),  # may resolve later: retried, then given up
    ],
    ids=["private", "unresolvable"],
)
def test_a_host_resolved_at_delivery_must_be_public(
    runtimes: RuntimeFactory, dns: FakeDns, answer: list[str], attempts: int, error: str
) -> None:
    dns.answers["hooks.test"] = [answer]
    outbox = runtimes(serving=False).webhooks.outbox
    delivery_id = outbox.add(new_delivery("http://hooks.test/x"))
    with dispatching(outbox, max_attempts=2, initial_backoff_s=0.05) as strict:
        assert strict.wait_idle(10)
    row = outbox.get(delivery_id)
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.DEAD, attempts, error)


def test_a_pinned_private_address_is_refused_when_private_networks_are_off(
    runtimes: RuntimeFactory, dns: FakeDns
) -> None:
    outbox = runtimes(serving=False).webhooks.outbox
    # Pinned by a process that allowed private networks; this one does not.
    delivery_id = outbox.add(new_delivery("https://hooks.example.com/x", addresses=("10.0.0.1",)))
    sent: list[httpx.Request] = []
    with dispatching(outbox, sent) as strict:
        assert strict.wait_idle(10)
    row = outbox.get(delivery_id)
    assert row is not None
    assert (row.status, row.last_error) == (OutboxStatus.DEAD, "resolves to a private address")
    assert (sent, dns.lookups) == ([], [])


def test_https_delivery_keeps_host_and_server_name(runtimes: RuntimeFactory) -> None:
    outbox = runtimes(serving=False).webhooks.outbox
    url = "https://hooks.example.com:8443/aigc?x=1"
    delivery_id = outbox.add(new_delivery(url, addresses=("93.184.216.34",)))
    seen: list[httpx.Request] = []
    with dispatching(outbox, seen) as dispatcher:
        assert dispatcher.wait_idle(10)
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34:8443/aigc?x=1"
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert request.headers[DELIVERY_HEADER] == delivery_id
    verify_signature(b"k", request.content, request.headers[SIGNATURE_HEADER])
    row = outbox.get(delivery_id)
    assert row is not None
    assert (row.status, row.last_status_code) == (OutboxStatus.DELIVERED, 204)


def test_finished_rows_past_their_keep_time_are_purged(runtimes: RuntimeFactory) -> None:
    """Delivered and dead rows go after ``keep_finished_days``; pending ones never do."""
    runtime = runtimes(serving=False)
    past = datetime.now(UTC) - timedelta(days=40)
    old = WebhookOutbox(runtime.engine, clock=lambda: past)
    outbox = WebhookOutbox(runtime.engine)
    finished = {}
    for n, (writer, outcome) in enumerate(((old, "delivered"), (old, "dead"), (outbox, "recent"))):
        delivery_id = writer.add(new_delivery("http://127.0.0.1:9/h", n))
        entry = writer.claim(f"w/{n}", lease_s=60)
        assert entry is not None
        assert entry.id == delivery_id
        if outcome == "dead":
            writer.mark_dead(entry, status_code=410, error="gone")
        else:
            writer.mark_delivered(entry, status_code=200)
        finished[outcome] = delivery_id
    pending = old.add(new_delivery("http://127.0.0.1:9/h", 9))

    with dispatching(outbox, seen=[], keep_finished_days=30):
        wait_for(lambda: outbox.get(finished["delivered"]) is None)
    assert outbox.get(finished["dead"]) is None
    assert outbox.get(finished["recent"]) is not None  # finished, within its keep time
    assert outbox.get(pending) is not None  # old but not finished when the purge ran
