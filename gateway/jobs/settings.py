"""Settings of the job system (``AIGC_JOBS__…``), used when ``AIGC_EXECUTION=celery``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JobSettings"]


class JobSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A running job's worker renews its lease every third of this; a worker that died
    # stops renewing, and the job is taken up again once the lease has lapsed.
    lease_s: float = Field(default=30.0, gt=0)
    # Runs of one job before it is failed: the first plus retries of retryable errors
    # (generator not ready, upstream 5xx/429, ledger or store unavailable) and restarts
    # after a lost worker.
    max_attempts: int = Field(default=5, ge=1)
    retry_backoff_s: float = Field(default=2.0, ge=0)  # doubled per retry
    retry_backoff_max_s: float = Field(default=60.0, ge=0)
    # A queued job whose message was sent this long ago and not yet claimed is sent again
    # (a broker restarted without persistence loses its messages).
    republish_after_s: float = Field(default=60.0, gt=0)
    reaper_interval_s: float = Field(default=5.0, gt=0)
    # Redis redelivers an unacknowledged message after this; above the longest job, so a
    # slow job is never handed to a second worker while the first still runs it.
    visibility_timeout_s: int = Field(default=3600, gt=0)
    # The OpenAI-compatible endpoints wait this long for their job, then answer 504 with
    # the generation id (the job goes on; poll GET /v1/generations/{id}).
    sync_wait_s: float = Field(default=120.0, gt=0)
    # Sending a task to the broker: how long before the request fails with 503.
    publish_timeout_s: float = Field(default=3.0, gt=0)
    # Prefix of the queue names (text, image, 3d, stamp), for brokers shared by several
    # deployments.
    queue_prefix: str = Field(default="aigc.", max_length=32)
