"""Celery mode without a broker: jobs admitted by the API are run by ``JobRunner`` here.

The sender records what would go to the broker; the runner is what a worker's task
calls. Redelivery, lost workers, retries and lost payloads are driven step by step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from common.errors import InvalidInputError, UnavailableError
from gateway.app import create_app
from gateway.jobs.execution import BrokerUnavailableError, CeleryExecution, CeleryParts, JobSender
from gateway.jobs.models import JobStatus
from gateway.jobs.runner import JobOutcome, JobRunner
from gateway.jobs.store import JobStore
from gateway.models import Role
from gateway.runtime import Runtime, build_runtime
from gateway.settings import ExecutionMode, Settings
from ledger.settings import AnchorSettings, LedgerSettings
from tests.support.gateway import bearer, fake_catalog, issue_key

pytestmark = pytest.mark.db


class RecordingSender(JobSender):
    """Keeps what would be sent; ``down`` makes it refuse like a broker that is down."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, float | None]] = []
        self.down = False

    def send(self, job_id: str, queue: str, countdown: float | None = None) -> None:
        if self.down:
            raise BrokerUnavailableError(
                "the job broker did not accept the job: test", details={"retry_after_s": 5}
            )
        self.sent.append((job_id, queue, countdown))

    def probe(self) -> str | None:
        return "broker unreachable: test" if self.down else None

    def queue_length(self, queue: str) -> int | None:
        return None


@pytest.fixture
def celery_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        execution=ExecutionMode.CELERY,
        ledger=LedgerSettings(anchor=AnchorSettings(node="eth_tester")),
        jobs={"lease_s": 0.5, "retry_backoff_s": 0.0, "republish_after_s": 0.2},
    )


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def celery_runtime(celery_settings: Settings, sender: RecordingSender) -> Iterator[Runtime]:
    runtime = build_runtime(celery_settings, catalog=fake_catalog())
    parts = CeleryParts(
        runtime.engine,
        runtime.store,
        runtime.pipeline,
        JobStore(runtime.engine),
        celery_settings.jobs,
    )
    runtime.__dict__["execution"] = CeleryExecution(parts, sender)
    runtime.start(anchoring=False)
    yield runtime
    runtime.close()


@pytest.fixture
def api(celery_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=celery_runtime), raise_server_exceptions=False) as client:
        yield client


def make_runner(runtime: Runtime, worker: str = "w1") -> JobRunner:
    return JobRunner(
        runtime.pipeline,
        JobStore(runtime.engine),
        runtime.store,
        runtime.settings.jobs,
        worker=worker,
    )


def leaves_of(runtime: Runtime, generation_id: str) -> list[str]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT event_type FROM ledger_leaves WHERE generation_id = :g ORDER BY leaf_index"
            ),
            {"g": generation_id},
        )
        return [row[0] for row in rows]


def queue_one(api: TestClient, runtime: Runtime, sender: RecordingSender) -> tuple[str, str, str]:
    """A text generation admitted by the API: the caller's key, its id and its job's."""
    key = issue_key(runtime, "acme", Role.GENERATE)
    generation_id = submit(api, key).json()["id"]
    return key, generation_id, sender.sent[-1][0]


def upload_text(api: TestClient, key: str) -> Any:
    """A text file sent to be stamped; its 202 is checked."""
    response = api.post(
        "/v1/stamp",
        files={"file": ("copy.txt", "夏季新品上市".encode(), "text/plain")},
        headers=bearer(key),
    )
    assert response.status_code == 202, response.text
    return response


def submit(api: TestClient, key: str, prompt: str = "春季连衣裙", **extra: Any) -> Any:
    response = api.post(
        "/v1/generations", json={"kind": "text", "prompt": prompt}, headers=bearer(key), **extra
    )
    assert response.status_code == 202, response.text
    return response


def test_a_queued_generation_is_released_by_its_job(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    response = submit(api, key)
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["Location"] == f"/v1/generations/{body['id']}"
    [(job_id, queue, _)] = sender.sent
    assert queue == "aigc.text"
    assert api.get(response.headers["Location"], headers=bearer(key)).json()["status"] == "queued"

    result = make_runner(celery_runtime).run(job_id)
    assert result.outcome is JobOutcome.DONE
    released = api.get(f"/v1/generations/{body['id']}", headers=bearer(key)).json()
    assert released["status"] == "released"
    assert "春季连衣裙" in released["output_text"]
    assert leaves_of(celery_runtime, body["id"]) == ["generation", "moderation", "stamp"]
    events = api.get(f"/v1/generations/{body['id']}/events", headers=bearer(key)).json()
    stages = [event["stage"] for event in events["items"]]
    assert stages[0] == "queued"
    assert stages[-2:] == ["stamp", "ledger"]
    assert [event["seq"] for event in events["items"]] == list(range(len(stages)))


def test_a_redelivered_message_does_nothing_twice(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    _, generation_id, job_id = queue_one(api, celery_runtime, sender)
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.DONE
    assert make_runner(celery_runtime, "w2").run(job_id).outcome is JobOutcome.SKIPPED
    assert leaves_of(celery_runtime, generation_id) == ["generation", "moderation", "stamp"]


def test_a_job_whose_worker_died_is_taken_up_again(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key, generation_id, job_id = queue_one(api, celery_runtime, sender)
    jobs = JobStore(celery_runtime.engine)
    # A worker claims the job and dies: nobody renews the lease.
    assert jobs.claim(job_id, worker="dead", lease_s=0.2) is not None
    status = api.get(f"/v1/generations/{generation_id}", headers=bearer(key)).json()["status"]
    assert status == "running"
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.SKIPPED  # lease held
    time.sleep(0.3)
    lapsed = jobs.reap(max_attempts=5, republish_after_s=60)
    assert lapsed.resend == [(job_id, "aigc.text")]
    assert jobs.get(job_id).status == "queued"
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.DONE
    assert jobs.get(job_id).attempts == 2
    assert leaves_of(celery_runtime, generation_id) == ["generation", "moderation", "stamp"]


def test_a_run_that_stopped_after_its_custody_goes_on_from_there(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender, monkeypatch: Any
) -> None:
    _, generation_id, job_id = queue_one(api, celery_runtime, sender)
    stamping = celery_runtime.pipeline.stamping
    original = stamping.stamp
    calls: list[int] = []

    def flaky_stamp(subject: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise UnavailableError("signing key store not ready")
        return original(subject)

    monkeypatch.setattr(stamping, "stamp", flaky_stamp)
    first = make_runner(celery_runtime).run(job_id)
    assert first.outcome is JobOutcome.RETRY
    assert first.retry_in_s is not None
    assert JobStore(celery_runtime.engine).get(job_id).status == "queued"
    assert leaves_of(celery_runtime, generation_id) == ["generation", "moderation"]
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.DONE
    assert leaves_of(celery_runtime, generation_id) == ["generation", "moderation", "stamp"]


def test_an_error_of_the_request_fails_the_job_without_retries(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender, monkeypatch: Any
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    generation_id = submit(api, key).json()["id"]
    generator = celery_runtime.catalog.get(
        celery_runtime.pipeline.generators.default_kind_of("echo-text")
        if hasattr(celery_runtime.pipeline.generators, "default_kind_of")
        else __import__("common.types", fromlist=["ContentKind"]).ContentKind.TEXT,
        "echo-text",
    )

    def refuse(_request: Any) -> Any:
        raise InvalidInputError("the prompt asks for an unsupported size")

    monkeypatch.setattr(generator, "generate", refuse)
    result = make_runner(celery_runtime).run(sender.sent[0][0])
    assert result.outcome is JobOutcome.FAILED
    body = api.get(f"/v1/generations/{generation_id}", headers=bearer(key)).json()
    assert body["status"] == "failed"
    job = JobStore(celery_runtime.engine).get(sender.sent[0][0])
    assert job.status == "failed"
    assert "unsupported size" in (job.last_error or "")


def test_a_lost_upload_fails_its_job_with_a_reason(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    response = upload_text(api, key)
    [(job_id, queue, _)] = sender.sent
    assert queue == "aigc.stamp"
    raw = JobStore(celery_runtime.engine)
    with celery_runtime.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE jobs SET payload = :p WHERE id = :j"),
            {"p": '{"kind": "text"}', "j": job_id},
        )
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.FAILED
    body = api.get(f"/v1/generations/{response.json()['id']}", headers=bearer(key)).json()
    assert body["status"] == "failed"
    assert raw.get(job_id).last_error.startswith("job_payload_lost")  # type: ignore[union-attr]


def test_an_upload_is_stamped_by_its_job(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    response = upload_text(api, key)
    assert make_runner(celery_runtime).run(sender.sent[0][0]).outcome is JobOutcome.DONE
    body = api.get(f"/v1/generations/{response.json()['id']}", headers=bearer(key)).json()
    assert body["status"] == "released"
    assert "夏季新品上市" in body["output_text"]


def test_a_broker_that_is_down_leaves_no_generation(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    sender.down = True
    response = api.post(
        "/v1/generations", json={"kind": "text", "prompt": "春季连衣裙"}, headers=bearer(key)
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "broker_unavailable"
    assert "Retry-After" in response.headers
    listed = api.get("/v1/generations", headers=bearer(key)).json()
    assert listed["items"] == []
    assert JobStore(celery_runtime.engine).list() == []
    ready = api.get("/readyz")
    assert ready.status_code == 503
    assert any(problem.startswith("broker:") for problem in ready.json()["problems"])


def test_the_same_idempotency_key_returns_the_queued_generation(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    headers = {**bearer(key), "Idempotency-Key": "order-42"}
    body = {"kind": "text", "prompt": "春季连衣裙"}
    first = api.post("/v1/generations", json=body, headers=headers)
    again = api.post("/v1/generations", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(sender.sent) == 1


def claimed_review(
    api: TestClient, runtime: Runtime, sender: RecordingSender
) -> tuple[str, str, str, dict[str, Any]]:
    """A generation a worker held for review, its task claimed: the generate and review
    keys, the generation id and the task."""
    gen_key = issue_key(runtime, "acme", Role.GENERATE)
    rev_key = issue_key(runtime, "acme", Role.REVIEW)
    generation_id = submit(api, gen_key, "全网最佳的保温杯").json()["id"]
    assert make_runner(runtime).run(sender.sent[0][0]).outcome is JobOutcome.DONE
    held = api.get(f"/v1/generations/{generation_id}", headers=bearer(gen_key)).json()
    assert held["status"] == "pending_review"
    tasks = api.get("/v1/reviews?status=pending", headers=bearer(rev_key)).json()["items"]
    task: dict[str, Any] = next(t for t in tasks if t["generation_id"] == generation_id)
    api.post(f"/v1/reviews/{task['id']}/claim", headers=bearer(rev_key))
    return gen_key, rev_key, generation_id, task


def test_an_approval_queues_the_release_and_a_worker_stamps_it(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    gen_key, rev_key, generation_id, task = claimed_review(api, celery_runtime, sender)
    runner = make_runner(celery_runtime)
    decided = api.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "approve", "note": "self-comparison, allowed"},
        headers=bearer(rev_key),
    )
    assert decided.status_code == 200, decided.text
    queued = api.get(f"/v1/generations/{generation_id}", headers=bearer(gen_key)).json()
    assert queued["status"] == "queued"
    release_job, queue, _ = sender.sent[-1]
    assert queue == "aigc.stamp"
    assert runner.run(release_job).outcome is JobOutcome.DONE
    assert runner.run(release_job).outcome is JobOutcome.SKIPPED
    released = api.get(f"/v1/generations/{generation_id}", headers=bearer(gen_key)).json()
    assert released["status"] == "released"
    leaves = leaves_of(celery_runtime, generation_id)
    assert leaves[:2] == ["generation", "moderation"]
    assert leaves[-1] == "stamp"
    assert leaves.count("stamp") == 1
    assert "review_decision" in leaves


def test_an_edited_approval_is_released_by_a_worker_with_the_edited_text(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    gen_key, rev_key, generation_id, task = claimed_review(api, celery_runtime, sender)
    runner = make_runner(celery_runtime)
    edited = "这款保温杯保温效果出色。"
    decided = api.post(
        f"/v1/reviews/{task['id']}/decision",
        json={"decision": "approve", "edited_output": edited},
        headers=bearer(rev_key),
    )
    assert decided.status_code == 200, decided.text
    release_job, queue, _ = sender.sent[-1]
    assert queue == "aigc.stamp"
    assert runner.run(release_job).outcome is JobOutcome.DONE
    released = api.get(f"/v1/generations/{generation_id}", headers=bearer(gen_key)).json()
    assert released["status"] == "released"
    assert edited in released["output_text"]
    assert leaves_of(celery_runtime, generation_id).count("stamp") == 1


def test_openai_chat_waits_for_the_worker(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    runner = make_runner(celery_runtime)
    stop = threading.Event()

    def worker() -> None:
        done: set[str] = set()
        while not stop.is_set():
            for job_id, _, _ in list(sender.sent):
                if job_id not in done:
                    runner.run(job_id)
                    done.add(job_id)
            time.sleep(0.01)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        response = api.post(
            "/v1/chat/completions",
            json={"model": "echo-text", "messages": [{"role": "user", "content": "春季连衣裙"}]},
            headers=bearer(key),
        )
    finally:
        stop.set()
        thread.join()
    assert response.status_code == 200, response.text
    assert "春季连衣裙" in response.json()["choices"][0]["message"]["content"]


def test_openai_chat_times_out_with_the_generation_id(
    api: TestClient, celery_runtime: Runtime, monkeypatch: Any
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    monkeypatch.setattr(celery_runtime.settings.jobs, "sync_wait_s", 0.2)
    response = api.post(
        "/v1/chat/completions",
        json={"model": "echo-text", "messages": [{"role": "user", "content": "春季连衣裙"}]},
        headers=bearer(key),
    )
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "generation_timeout"
    generation_id = error["details"]["generation_id"]
    polled = api.get(f"/v1/generations/{generation_id}", headers=bearer(key))
    assert polled.json()["status"] == "queued"


def test_a_job_lost_too_often_is_failed_with_a_reason(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key, generation_id, job_id = queue_one(api, celery_runtime, sender)
    jobs = JobStore(celery_runtime.engine)
    for _ in range(2):
        assert jobs.claim(job_id, worker="dead", lease_s=0.05) is not None
        time.sleep(0.1)
        jobs.reap(max_attempts=2, republish_after_s=60)
    assert jobs.get(job_id).status == JobStatus.FAILED
    body = api.get(f"/v1/generations/{generation_id}", headers=bearer(key)).json()
    assert body["status"] == "failed"
    requeued = jobs.requeue_failed(job_id)
    assert requeued.status == "queued"
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.DONE


def test_a_queued_job_whose_message_was_lost_is_sent_again(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    submit(api, key)
    job_id = sender.sent[0][0]
    time.sleep(0.3)  # republish_after_s is 0.2 here
    lapsed = JobStore(celery_runtime.engine).reap(max_attempts=5, republish_after_s=0.2)
    assert lapsed.stale == [(job_id, "aigc.text")]
    again = JobStore(celery_runtime.engine).reap(max_attempts=5, republish_after_s=0.2)
    assert again.stale == []  # just sent


def test_metrics_show_job_depth_and_latency_per_queue(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender
) -> None:
    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    submit(api, key)
    submit(api, key)
    queued = api.get("/metrics").text
    assert 'aigc_job_queue_depth{queue="aigc.text",status="queued"} 2.0' in queued
    make_runner(celery_runtime).run(sender.sent[0][0])
    metrics = api.get("/metrics").text
    assert 'aigc_job_queue_depth{queue="aigc.text",status="queued"} 1.0' in metrics
    assert 'aigc_job_latency_seconds{quantile="0.5",queue="aigc.text"}' in metrics


def test_the_jobs_command_lists_and_requeues_a_failed_job(
    api: TestClient,
    celery_runtime: Runtime,
    sender: RecordingSender,
    celery_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app as cli

    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    submit(api, key)
    job_id = sender.sent[0][0]
    jobs = JobStore(celery_runtime.engine)
    assert jobs.claim(job_id, worker="dead", lease_s=0.01) is not None
    time.sleep(0.05)
    jobs.reap(max_attempts=1, republish_after_s=60)
    env = {
        "AIGC_DATA_DIR": str(celery_settings.data_dir),
        "AIGC_DATABASE_URL": celery_settings.database_url_resolved,
        "AIGC_LEDGER__ANCHOR__NODE": "eth_tester",
        "AIGC_EXECUTION": "celery",
        # A prefix of this test's own on the machine's Redis: no worker takes it.
        "AIGC_JOBS__QUEUE_PREFIX": f"test-{job_id[-8:]}.",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    listed = CliRunner().invoke(cli, ["jobs", "list", "--status", "failed"])
    assert listed.exit_code == 0, listed.output
    assert job_id in listed.stdout
    assert "worker lost" in listed.stdout
    requeued = CliRunner().invoke(cli, ["jobs", "requeue", job_id])
    assert requeued.exit_code == 0, requeued.output
    assert jobs.get(job_id).status == "queued"
    again = CliRunner().invoke(cli, ["jobs", "requeue", job_id])
    assert again.exit_code == 1
    assert "only a failed job is requeued" in again.output


def test_the_reaper_resends_a_stale_job_only_where_its_queue_is_empty(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender, monkeypatch: Any
) -> None:
    from gateway.jobs.execution import Reaper

    key = issue_key(celery_runtime, "acme", Role.GENERATE)
    submit(api, key)
    job_id = sender.sent[0][0]
    reaper = Reaper(JobStore(celery_runtime.engine), celery_runtime.settings.jobs, sender)
    monkeypatch.setattr(sender, "queue_length", lambda _queue: 3)  # still queued: a long queue
    time.sleep(0.3)
    reaper.run_once()
    assert len(sender.sent) == 1
    monkeypatch.setattr(sender, "queue_length", lambda _queue: 0)  # its message was lost
    time.sleep(0.3)
    reaper.run_once()
    assert [sent[0] for sent in sender.sent] == [job_id, job_id]


def test_a_database_outage_mid_job_is_retried(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender, monkeypatch: Any
) -> None:
    _, generation_id, job_id = queue_one(api, celery_runtime, sender)
    resume = celery_runtime.pipeline.resume
    calls: list[int] = []

    def flaky_resume(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE generations", {}, Exception("server closed"))
        return resume(*args, **kwargs)

    monkeypatch.setattr(celery_runtime.pipeline, "resume", flaky_resume)
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.RETRY
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.DONE
    assert leaves_of(celery_runtime, generation_id) == ["generation", "moderation", "stamp"]


def test_a_requeued_failed_job_reads_back_what_its_first_run_left(
    api: TestClient, celery_runtime: Runtime, sender: RecordingSender, monkeypatch: Any
) -> None:
    # A stamp that fails for good after the custody is committed; an operator requeues it.
    key, generation_id, job_id = queue_one(api, celery_runtime, sender)
    stamping = celery_runtime.pipeline.stamping
    original = stamping.stamp

    def refuse(_subject: Any) -> Any:
        raise InvalidInputError("the signing profile refuses this output")

    monkeypatch.setattr(stamping, "stamp", refuse)
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.FAILED
    jobs = JobStore(celery_runtime.engine)
    jobs.requeue_failed(job_id)
    monkeypatch.setattr(stamping, "stamp", original)
    assert make_runner(celery_runtime).run(job_id).outcome is JobOutcome.DONE
    assert leaves_of(celery_runtime, generation_id) == ["generation", "moderation", "stamp"]
    events = api.get(f"/v1/generations/{generation_id}/events", headers=bearer(key)).json()
    seqs = [event["seq"] for event in events["items"]]
    assert seqs == sorted(set(seqs))  # no event numbered twice
