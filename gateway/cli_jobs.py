"""``aigc-gateway worker`` and ``aigc-gateway jobs``: Celery workers and their jobs.

aigc-gateway worker --concurrency 8 --queues text,stamp
aigc-gateway jobs list --status failed
aigc-gateway jobs requeue job_0123…
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from typing import Annotated

import typer

from common.errors import ConfigurationError, GatewayError
from common.types import ContentKind
from gateway.db import create_engine_for, migrate
from gateway.jobs.celery_app import make_celery
from gateway.jobs.execution import JobSender
from gateway.jobs.models import JobStatus
from gateway.jobs.queues import WorkQueue, queue_names
from gateway.jobs.runner import JobRunner
from gateway.jobs.store import JobStore, JobView
from gateway.jobs.wiring import register_job_task
from gateway.runtime import Runtime, build_runtime
from gateway.settings import ExecutionMode, Settings

__all__ = ["jobs_app", "worker_command"]

log = logging.getLogger(__name__)

jobs_app = typer.Typer(
    help="List queued, running and failed jobs; requeue a failed one.", no_args_is_help=True
)

_ALL_QUEUES = ",".join(queue.value for queue in WorkQueue)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        typer.echo(f"invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def _wanted_queues(spec: str) -> list[WorkQueue]:
    try:
        return [WorkQueue(name.strip()) for name in spec.split(",") if name.strip()]
    except ValueError as exc:
        known = ", ".join(queue.value for queue in WorkQueue)
        raise typer.BadParameter(f"unknown queue in {spec!r}; known: {known}") from exc


def worker_command(
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Jobs run at once (threads of this process).")
    ] = 8,
    queues: Annotated[
        str,
        typer.Option(
            help=f"Comma-separated queues to take ({_ALL_QUEUES}); a GPU image worker "
            "takes only 'image'."
        ),
    ] = _ALL_QUEUES,
    name: Annotated[str, typer.Option(help="Worker name (default: worker-<pid>@<host>).")] = "",
) -> None:
    """Run a Celery worker with the gateway's settings (AIGC_BROKER_URL, AIGC_DATABASE_URL…).

    Jobs are acknowledged after they ran, so a killed worker loses none: its jobs are
    taken up again once their lease lapses (AIGC_JOBS__LEASE_S).
    """
    wanted = _wanted_queues(queues)
    settings = _settings().model_copy(update={"execution": ExecutionMode.CELERY})
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    hostname = name or f"worker-{os.getpid()}@{socket.gethostname()}"
    started = time.perf_counter()
    typer.echo(f"worker {hostname}: loading the pipeline …", err=True)
    try:
        runtime = build_runtime(settings)
        runtime.start(anchoring=False)
    except ConfigurationError as exc:
        typer.echo(f"cannot start: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    _warm_generators(runtime, wanted)
    app = make_celery(settings.broker_url, settings.jobs)
    sender = JobSender(app)
    runner = JobRunner(
        runtime.pipeline, JobStore(runtime.engine), runtime.store, settings.jobs, worker=hostname
    )
    register_job_task(app, runner, sender)
    names = queue_names(wanted, settings.jobs)
    typer.echo(
        f"worker {hostname}: ready in {time.perf_counter() - started:.1f} s; "
        f"{concurrency} slots on {', '.join(names)} via {_redacted(settings.broker_url)}",
        err=True,
    )
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--queues={','.join(names)}",
                f"--hostname={hostname}",
                f"--loglevel={settings.log_level.upper()}",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        runtime.close()


_KIND_OF_QUEUE = {
    WorkQueue.TEXT: ContentKind.TEXT,
    WorkQueue.IMAGE: ContentKind.IMAGE,
    WorkQueue.MODEL3D: ContentKind.MODEL3D,
}


def _warm_generators(runtime: Runtime, wanted: list[WorkQueue]) -> None:
    """Load the default model of each generation queue before taking jobs: the first
    job should not pay for it, and a model that cannot load is said now, not per job
    (its jobs are retried as "generator not ready" meanwhile)."""
    for queue in wanted:
        kind = _KIND_OF_QUEUE.get(queue)
        if kind is None:
            continue
        started = time.perf_counter()
        try:
            generator = runtime.catalog.get(kind, None)
            load = getattr(generator, "load", None)
            if callable(load):
                load()
        except GatewayError as exc:
            typer.echo(f"  {queue.value}: generator not ready: {exc.message}", err=True)
            continue
        typer.echo(
            f"  {queue.value}: {generator.name} loaded in {time.perf_counter() - started:.1f} s",
            err=True,
        )


def _redacted(url: str) -> str:
    """A broker URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def _job_line(job: JobView) -> str:
    return "\t".join(
        (
            job.id,
            job.generation_id,
            job.task,
            job.queue,
            job.status,
            str(job.attempts),
            job.worker or "-",
            job.last_error or "",
        )
    )


def _store(settings: Settings) -> JobStore:
    """The jobs table alone: listing or requeuing needs no models, scanners or chain."""
    engine = create_engine_for(settings.database_url_resolved)
    migrate(engine)
    return JobStore(engine)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most jobs shown.")] = 50,
) -> None:
    """Jobs, newest first: id, generation, task, queue, status, attempts, worker, error."""
    for job in _store(_settings()).list(status, limit):
        typer.echo(_job_line(job))


@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument(help="A job id (job_…).")]) -> None:
    """One job's state."""
    try:
        typer.echo(_job_line(_store(_settings()).get(job_id)))
    except GatewayError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc


@jobs_app.command("requeue")
def jobs_requeue(job_id: Annotated[str, typer.Argument(help="A failed job's id.")]) -> None:
    """Send a failed job to its queue again (its attempts start from zero)."""
    settings = _settings()
    store = _store(settings)
    try:
        job = store.requeue_failed(job_id)
        JobSender(make_celery(settings.broker_url, settings.jobs)).send(job.id, job.queue)
    except GatewayError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"requeued {job.id} on {job.queue}")
