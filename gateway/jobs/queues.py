"""Queue names: one per kind of work, so GPU workers can take only what they serve.

queue_for(JobTask.GENERATE, ContentKind.IMAGE, settings.jobs)   # "aigc.image"
"""

from __future__ import annotations

from enum import StrEnum

from common.types import ContentKind
from gateway.jobs.models import JobTask
from gateway.jobs.settings import JobSettings

__all__ = ["WorkQueue", "queue_for", "queue_names"]


class WorkQueue(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    MODEL3D = "3d"
    STAMP = "stamp"  # uploads to stamp, approved items to release: no generator needed


_GENERATION_QUEUE = {
    ContentKind.TEXT: WorkQueue.TEXT,
    ContentKind.IMAGE: WorkQueue.IMAGE,
    ContentKind.MODEL3D: WorkQueue.MODEL3D,
}


def queue_for(task: JobTask, kind: ContentKind, settings: JobSettings) -> str:
    queue = _GENERATION_QUEUE[kind] if task is JobTask.GENERATE else WorkQueue.STAMP
    return settings.queue_prefix + queue.value


def queue_names(wanted: list[WorkQueue], settings: JobSettings) -> list[str]:
    return [settings.queue_prefix + queue.value for queue in wanted]
