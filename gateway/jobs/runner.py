"""A worker's side of a job: claim it, keep its lease, run the pipeline, settle it.

    runner = JobRunner(pipeline, jobs, store, settings, worker="w1@host")
    outcome = runner.run(job_id)   # done | failed | retry (with a delay) | skipped

``skipped`` is a message whose job another worker holds or already finished: a
redelivery after a lost worker, or a reaper's resend that crossed the first message.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from common.errors import GatewayError, UnavailableError, UpstreamError
from gateway.content_store import ContentStore
from gateway.jobs.models import JobStatus
from gateway.jobs.payloads import order_of
from gateway.jobs.settings import JobSettings
from gateway.jobs.store import JobClaim, JobStore
from gateway.pipeline import Pipeline

__all__ = ["JobOutcome", "JobRunner", "RunResult", "is_retryable"]

log = logging.getLogger(__name__)


class JobOutcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    RETRY = "retry"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: JobOutcome
    queue: str | None = None
    retry_in_s: float | None = None
    seconds: float = 0.0


def is_retryable(exc: GatewayError) -> bool:
    """A dependency that may come back: a generator not ready, an upstream 5xx or 429,
    the ledger or the object store unavailable (all ``UpstreamError``: 502/503/504).
    Errors of the request itself (4xx) would fail again the same way."""
    return isinstance(exc, UpstreamError) or exc.http_status == 429


class JobRunner:
    def __init__(
        self,
        pipeline: Pipeline,
        jobs: JobStore,
        store: ContentStore,
        settings: JobSettings,
        *,
        worker: str,
    ) -> None:
        self._pipeline = pipeline
        self._jobs = jobs
        self._store = store
        self._settings = settings
        self._worker = worker

    def run(self, job_id: str) -> RunResult:
        started = time.perf_counter()
        claim = self._jobs.claim(job_id, worker=self._worker, lease_s=self._settings.lease_s)
        if claim is None:
            return RunResult(JobOutcome.SKIPPED)
        with _LeaseKeeper(self._jobs, claim, self._settings.lease_s):
            outcome, retry_in = self._settle(claim)
        return RunResult(outcome, claim.queue, retry_in, time.perf_counter() - started)

    def _settle(self, claim: JobClaim) -> tuple[JobOutcome, float | None]:
        try:
            order = order_of(claim.task, claim.payload, self._store)
            self._pipeline.resume(claim.generation_id, order, fresh=claim.fresh)
        except GatewayError as exc:
            return self._after_error(claim, exc)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            # The database went away mid-job: as retryable as any other dependency.
            unavailable = UnavailableError(f"database unavailable: {type(exc).__name__}")
            return self._after_error(claim, unavailable)
        except Exception as exc:  # a defect: fail the job with a reason, never loop on it
            log.exception("job %s raised an unexpected error", claim.job_id)
            internal = GatewayError(f"internal error: {type(exc).__name__}")
            return self._fail(claim, internal), None
        self._jobs.finish(claim, JobStatus.DONE)
        return JobOutcome.DONE, None

    def _after_error(self, claim: JobClaim, exc: GatewayError) -> tuple[JobOutcome, float | None]:
        reason = f"{exc.code}: {exc.message}"
        if is_retryable(exc) and claim.attempt < self._settings.max_attempts:
            try:
                self._jobs.requeue(claim, reason)
            except sa.exc.SQLAlchemyError:
                # Not even the job's row can be written: its lease lapses and the reaper
                # of whichever process sees the database first puts it back.
                log.warning("job %s: %s; left to the reaper", claim.job_id, reason)
                return JobOutcome.SKIPPED, None
            backoff = self._settings.retry_backoff_s * 2 ** (claim.attempt - 1)
            log.info("job %s: %s; retry %d in %.1f s", claim.job_id, reason, claim.attempt, backoff)
            return JobOutcome.RETRY, min(backoff, self._settings.retry_backoff_max_s)
        return self._fail(claim, exc), None

    def _fail(self, claim: JobClaim, exc: GatewayError) -> JobOutcome:
        self._pipeline.fail(claim.generation_id, exc)
        self._jobs.finish(claim, JobStatus.FAILED, f"{exc.code}: {exc.message}")
        return JobOutcome.FAILED


class _LeaseKeeper:
    """Renews a claim's lease every third of its length while the job runs: a worker
    that dies stops renewing, so its job is taken up again a lease later."""

    def __init__(self, jobs: JobStore, claim: JobClaim, lease_s: float) -> None:
        self._jobs = jobs
        self._claim = claim
        self._lease_s = lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="job-lease", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _renew(self) -> None:
        while not self._stop.wait(self._lease_s / 3):
            try:
                if not self._jobs.renew(self._claim, lease_s=self._lease_s):
                    log.warning("job %s was taken over by another worker", self._claim.job_id)
                    return
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("could not renew the lease of job %s", self._claim.job_id)
