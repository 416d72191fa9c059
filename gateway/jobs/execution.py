"""Where a request's pipeline runs: in the API process, or as a Celery job on a worker.

    execution = InProcessExecution(pipeline)          # AIGC_EXECUTION=in_process
    execution = CeleryExecution(runtime_parts, app)   # AIGC_EXECUTION=celery
    generation = execution.submit_generation(order)   # released/held/blocked, or queued
    status = execution.accepted_status                # 201, or 202 once queued

The native endpoints answer with whatever ``submit_*`` returns; the OpenAI-compatible
ones call ``generate_now``, which in Celery mode waits for the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from celery import Celery
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from common.errors import GatewayError, UnavailableError, UpstreamError
from common.types import ContentKind
from gateway.content_store import ContentStore
from gateway.jobs.celery_app import RUN_JOB_TASK
from gateway.jobs.models import JobTask
from gateway.jobs.payloads import generation_payload, upload_payload
from gateway.jobs.queues import queue_for
from gateway.jobs.settings import JobSettings
from gateway.jobs.store import JobStore, new_job_id
from gateway.models import Generation, GenerationStatus
from gateway.pipeline import GenerationOrder, Pipeline, PipelineHooks, StampOrder
from gateway.pipeline.records import EventLog, column_values, suffix_of, write_generation
from gateway.ports import ReviewSummary

__all__ = [
    "BrokerUnavailableError",
    "CeleryExecution",
    "Execution",
    "GenerationFailedError",
    "GenerationTimeoutError",
    "InProcessExecution",
    "JobSender",
]

log = logging.getLogger(__name__)

_OPEN = (GenerationStatus.QUEUED.value, GenerationStatus.RUNNING.value)


class BrokerUnavailableError(UnavailableError):
    """The broker did not take the job (503); nothing of the request was kept."""

    code = "broker_unavailable"


class GenerationFailedError(UpstreamError):
    """The worker's job failed (502); ``details.generation_id`` names the record."""

    code = "generation_failed"


class GenerationTimeoutError(GatewayError):
    """A synchronous endpoint waited ``jobs.sync_wait_s`` for its job (504); the job goes
    on, and ``details.generation_id`` is there to poll."""

    http_status = 504
    code = "generation_timeout"


class Execution(Protocol):
    accepted_status: int

    def submit_generation(self, order: GenerationOrder) -> Generation: ...

    def submit_upload(self, order: StampOrder) -> Generation: ...

    def generate_now(self, order: GenerationOrder) -> Generation: ...

    def generate_all_now(self, orders: list[GenerationOrder]) -> list[Generation]: ...

    def complete_review(
        self, generation_id: str, approved: bool, summary: ReviewSummary, reason: str | None
    ) -> Generation: ...

    def readiness_problem(self) -> str | None: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


class InProcessExecution:
    """Today's behaviour: the request's thread runs the whole pipeline."""

    accepted_status = 201

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def submit_generation(self, order: GenerationOrder) -> Generation:
        return self._pipeline.generate(order)

    def submit_upload(self, order: StampOrder) -> Generation:
        return self._pipeline.stamp_upload(order)

    def generate_now(self, order: GenerationOrder) -> Generation:
        return self._pipeline.generate(order)

    def generate_all_now(self, orders: list[GenerationOrder]) -> list[Generation]:
        generations = []
        for order in orders:
            generations.append(self._pipeline.generate(order))
            if generations[-1].status == GenerationStatus.BLOCKED.value:
                break  # the request is refused: the rest need not run
        return generations

    def complete_review(
        self, generation_id: str, approved: bool, summary: ReviewSummary, reason: str | None
    ) -> Generation:
        return self._pipeline.complete_review(generation_id, approved, summary, reason)

    def readiness_problem(self) -> str | None:
        return None

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None


class JobSender:
    """Sends a job id to its queue; a broker that refuses is ``BrokerUnavailableError``."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send(self, job_id: str, queue: str, countdown: float | None = None) -> None:
        try:
            self.app.send_task(
                RUN_JOB_TASK, args=[job_id], queue=queue, routing_key=queue, countdown=countdown
            )
        except Exception as exc:  # kombu and the transports raise many kinds
            raise BrokerUnavailableError(
                f"the job broker did not accept the job: {type(exc).__name__}",
                details={"retry_after_s": 5},
            ) from exc

    def queue_length(self, queue: str) -> int | None:
        """Messages waiting in ``queue``; ``None`` when the broker cannot say."""
        try:
            with self.app.connection_for_write() as connection, connection.channel() as channel:
                declared = channel.queue_declare(queue=queue, passive=True)
        except Exception:
            return None
        return int(declared.message_count)

    def probe(self) -> str | None:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            return f"broker unreachable: {type(exc).__name__}"
        return None


@dataclass(frozen=True, slots=True)
class CeleryParts:
    engine: Engine
    store: ContentStore
    pipeline: Pipeline
    jobs: JobStore
    settings: JobSettings


class CeleryExecution:
    """Admit the generation and its job in one transaction, then send the job's id.

    The row is written before the message is sent: a worker never receives a job it
    cannot read, and a message lost after the row committed is sent again by the reaper.
    If the broker refuses, the rows are withdrawn and the client gets 503 — no
    half-written generation.
    """

    accepted_status = 202

    def __init__(self, parts: CeleryParts, sender: JobSender) -> None:
        self._parts = parts
        self._sender = sender
        self._reaper = Reaper(parts.jobs, parts.settings, sender)
        self._probe = _CachedProbe(sender.probe, ttl_s=3.0)

    @property
    def jobs(self) -> JobStore:
        return self._parts.jobs

    def submit_generation(self, order: GenerationOrder) -> Generation:
        generation = self._parts.pipeline.admit_generation(order)
        payload = generation_payload(order)
        self._admit_and_send(generation, JobTask.GENERATE, order.kind, payload)
        return generation

    def submit_upload(self, order: StampOrder) -> Generation:
        stored = self._parts.store.put(order.data, suffix_of(order.media_type))
        generation = self._parts.pipeline.admit_upload(order)
        payload = upload_payload(order, stored.path)
        self._admit_and_send(generation, JobTask.STAMP_UPLOAD, order.kind, payload)
        return generation

    def generate_now(self, order: GenerationOrder) -> Generation:
        return self.generate_all_now([order])[0]

    def generate_all_now(self, orders: list[GenerationOrder]) -> list[Generation]:
        """Submit every order first (workers run them side by side), then wait for each."""
        submitted = [self.submit_generation(order) for order in orders]
        deadline = time.monotonic() + self._parts.settings.sync_wait_s
        return [
            self._final_or_raise(self.wait_final(g.id, max(deadline - time.monotonic(), 0.0)))
            for g in submitted
        ]

    @staticmethod
    def _final_or_raise(final: Generation) -> Generation:
        if final.status == GenerationStatus.FAILED.value:
            # In the API process the pipeline's own error would reach the client; here
            # only its recorded reason is left.
            raise GenerationFailedError(
                f"generation {final.id} failed: {final.block_reason or 'no reason recorded'}",
                details={"generation_id": final.id},
            )
        return final

    def complete_review(
        self, generation_id: str, approved: bool, summary: ReviewSummary, reason: str | None
    ) -> Generation:
        """A rejection is recorded here (nothing to stamp); an approval is ledgered and its
        release queued for a worker in one transaction."""
        pipeline = self._parts.pipeline
        if not approved:
            return pipeline.complete_review(generation_id, approved, summary, reason)
        job_id = new_job_id()
        queue = queue_for(JobTask.RELEASE, ContentKind.TEXT, self._parts.settings)
        tenant_id = pipeline.load(generation_id).tenant_id

        def admit(connection: Connection) -> None:
            self.jobs.admit(
                connection,
                job_id=job_id,
                generation_id=generation_id,
                tenant_id=tenant_id,
                task=JobTask.RELEASE,
                queue=queue,
                payload={},
            )

        generation = pipeline.record_approval(generation_id, summary, admit)
        try:
            self._sender.send(job_id, queue)
        except BrokerUnavailableError:
            # The approval is recorded and its job queued in the database: the reaper
            # sends it once the broker is back. The reviewer's decision is not lost.
            log.warning("broker down: release of %s is queued for the reaper", generation_id)
        return generation

    def wait_final(self, generation_id: str, timeout_s: float) -> Generation:
        deadline = time.monotonic() + timeout_s
        pause = 0.01
        while True:
            generation = self._parts.pipeline.load(generation_id)
            if generation.status not in _OPEN:
                return generation
            if time.monotonic() >= deadline:
                raise GenerationTimeoutError(
                    f"generation {generation_id} is still {generation.status} after "
                    f"{timeout_s:g} s; poll GET /v1/generations/{generation_id}",
                    details={"generation_id": generation_id, "status": generation.status},
                )
            time.sleep(pause)
            pause = min(pause * 1.5, 0.2)

    def readiness_problem(self) -> str | None:
        return self._probe.get()

    def start(self) -> None:
        self._reaper.start()

    def close(self) -> None:
        self._reaper.stop()

    def _admit_and_send(
        self, generation: Generation, task: JobTask, kind: ContentKind, payload: dict[str, Any]
    ) -> None:
        job_id = new_job_id()
        queue = queue_for(task, kind, self._parts.settings)
        event = _queued_event(generation.id, job_id, queue)
        with self._parts.engine.begin() as connection:
            write_generation(
                self._parts.engine, connection, column_values(generation), [event], False
            )
            self.jobs.admit(
                connection,
                job_id=job_id,
                generation_id=generation.id,
                tenant_id=generation.tenant_id,
                task=task,
                queue=queue,
                payload=payload,
            )
        try:
            self._sender.send(job_id, queue)
        except BrokerUnavailableError:
            self.jobs.withdraw(job_id)
            raise


def _queued_event(generation_id: str, job_id: str, queue: str) -> dict[str, Any]:
    """The generation's first pipeline event (seq 0): admitted, and to which queue."""
    log_of_admission = EventLog(generation_id, 0, PipelineHooks(), row_exists=False)
    record = {"outcome": "queued", "detail": {"job_id": job_id, "queue": queue}}
    return log_of_admission.row("queued", "celery", record, 0.0)


class Reaper:
    """Every ``reaper_interval_s``: jobs whose worker was lost go back to their queue (or
    fail after ``max_attempts``), and queued jobs whose message may be lost are sent
    again. Safe to run in every process: each change is a conditional UPDATE."""

    def __init__(self, jobs: JobStore, settings: JobSettings, sender: JobSender) -> None:
        self._jobs = jobs
        self._settings = settings
        self._sender = sender
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="job-reaper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run_once(self) -> None:
        lapsed = self._jobs.reap(
            max_attempts=self._settings.max_attempts,
            republish_after_s=self._settings.republish_after_s,
        )
        for job_id in lapsed.failed:
            log.warning("job %s failed: its worker was lost too often", job_id)
        # A stale job's message is re-sent only where its queue is empty: a queue that
        # still holds messages is just long (re-sending there would only add duplicates).
        empty = {queue: self._sender.queue_length(queue) in (0, None) for _, queue in lapsed.stale}
        resend = [*lapsed.resend, *((job, queue) for job, queue in lapsed.stale if empty[queue])]
        for job_id, queue in resend:
            try:
                self._sender.send(job_id, queue)
            except BrokerUnavailableError:
                log.warning("broker down: job %s will be sent on a later pass", job_id)
                return

    def _loop(self) -> None:
        while not self._stop.wait(self._settings.reaper_interval_s):
            try:
                self.run_once()
            except Exception:  # the reaper must outlive a database hiccup
                log.exception("job reaper pass failed")


class _CachedProbe:
    """A readiness probe answered from its last result for ``ttl_s`` seconds."""

    def __init__(self, probe: Callable[[], str | None], ttl_s: float) -> None:
        self._probe = probe
        self._ttl_s = ttl_s
        self._at = 0.0
        self._value: str | None = None
        self._lock = threading.Lock()

    def get(self) -> str | None:
        with self._lock:
            if time.monotonic() - self._at > self._ttl_s:
                self._value = self._probe()
                self._at = time.monotonic()
            return self._value
