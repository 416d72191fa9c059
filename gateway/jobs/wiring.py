"""Building the execution mode, the worker's task and the job metrics from settings."""

from __future__ import annotations

import contextlib
import statistics
import time

from celery import Celery
from sqlalchemy.engine import Engine

from gateway.content_store import ContentStore
from gateway.jobs.celery_app import RUN_JOB_TASK, make_celery
from gateway.jobs.execution import (
    BrokerUnavailableError,
    CeleryExecution,
    CeleryParts,
    Execution,
    InProcessExecution,
    JobSender,
)
from gateway.jobs.runner import JobOutcome, JobRunner
from gateway.jobs.store import JobStore, finished_latencies
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Pipeline
from gateway.settings import ExecutionMode, Settings

__all__ = ["build_execution", "publish_job_metrics", "register_job_task"]

_LATENCY_WINDOW_S = 300.0


def build_execution(
    settings: Settings, engine: Engine, store: ContentStore, pipeline: Pipeline
) -> Execution:
    if settings.execution is ExecutionMode.IN_PROCESS:
        return InProcessExecution(pipeline)
    app = make_celery(settings.broker_url, settings.jobs)
    parts = CeleryParts(engine, store, pipeline, JobStore(engine), settings.jobs)
    return CeleryExecution(parts, JobSender(app))


def register_job_task(app: Celery, runner: JobRunner, sender: JobSender) -> None:
    """The one task: run a job by id; a retry is a new message after its backoff."""

    @app.task(  # type: ignore[untyped-decorator]  # celery ships no type hints
        name=RUN_JOB_TASK,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
    )
    def run_job(_task: object, job_id: str) -> str:
        result = runner.run(job_id)
        if result.outcome is JobOutcome.RETRY and result.queue is not None:
            # The job row is back to queued: should this send fail, the reaper sends it.
            with contextlib.suppress(BrokerUnavailableError):
                sender.send(job_id, result.queue, countdown=result.retry_in_s)
        return result.outcome.value


def publish_job_metrics(metrics: GatewayMetrics, engine: Engine) -> None:
    jobs = JobStore(engine)

    def refresh() -> None:
        metrics.job_queue_depth.clear()
        for (queue, status), count in jobs.depth_by_queue().items():
            metrics.job_queue_depth.labels(queue, status).set(count)
        metrics.job_latency.clear()
        latencies = finished_latencies(engine, time.time() - _LATENCY_WINDOW_S)
        for queue, seconds in latencies.items():
            for label, value in _quantiles(seconds).items():
                metrics.job_latency.labels(queue, label).set(value)

    metrics.on_collect(refresh)


def _quantiles(values: list[float]) -> dict[str, float]:
    if len(values) == 1:
        return {"0.5": values[0], "0.95": values[0]}
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return {"0.5": statistics.median(values), "0.95": cuts[18]}
