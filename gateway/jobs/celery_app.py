"""The Celery application: broker, queues and delivery guarantees, from ``Settings``.

Messages carry a job id only; the job's order lives in the ``jobs`` row. Tasks are
acknowledged late (after they ran) and rejected back to the queue when their worker is
lost, one message is prefetched per slot, and Redis's visibility timeout stays above
the longest job so a slow job is not handed to a second worker.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from gateway.jobs.queues import WorkQueue, queue_names
from gateway.jobs.settings import JobSettings

__all__ = ["RUN_JOB_TASK", "make_celery"]

RUN_JOB_TASK = "aigc.run_job"


def make_celery(broker_url: str, settings: JobSettings) -> Celery:
    app = Celery("aigc_gateway", broker=broker_url, set_as_current=False)
    queues = queue_names(list(WorkQueue), settings)
    app.conf.update(
        task_queues=[_queue(name) for name in queues],
        task_default_queue=queues[0],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # the outcome is the generation's row, not a result store
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.publish_timeout_s,
        broker_transport_options=_transport_options(broker_url, settings),
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0.1,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
    )
    return app


def _queue(name: str) -> Queue:
    # Each queue its own direct exchange: a worker bound to "image" sees nothing else.
    exchange = Exchange(name, type="direct")  # type: ignore[no-untyped-call]  # kombu: no hints
    return Queue(name, exchange, routing_key=name)  # type: ignore[no-untyped-call]  # kombu


def _transport_options(broker_url: str, settings: JobSettings) -> dict[str, Any]:
    if broker_url.startswith(("redis://", "rediss://")):
        return {
            "visibility_timeout": settings.visibility_timeout_s,
            "socket_connect_timeout": settings.publish_timeout_s,
            "socket_timeout": max(settings.publish_timeout_s, 5.0),
        }
    return {"confirm_publish": True}  # RabbitMQ: a publish returns once the broker has it
