"""Everything one gateway process holds, built from ``Settings`` — no globals.

    runtime = build_runtime(settings)
    runtime.start()          # directories, migrations, first-start admin key, anchoring
    runtime.pipeline.generate(order)
    runtime.close()

The HTTP app, the CLI and the tests all build a ``Runtime``; tests may pass their own
parts (a fake generator catalog, say) as keyword arguments.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from common.privatefiles import write_private
from gateway.adapters.moderation import EngineModeration
from gateway.adapters.review import QueueReview
from gateway.auth import PrincipalCache, create_api_key, ensure_tenant
from gateway.catalog import GeneratorCatalog
from gateway.content_store import ContentStore, open_content_store
from gateway.db import create_engine_for, migrate, session_scope
from gateway.invalidation import Invalidations
from gateway.metrics import GatewayMetrics
from gateway.models import ApiKey, Role
from gateway.pipeline import Pipeline, PipelineHooks
from gateway.ports import LedgerPort, ModerationPort, ReviewPort, StampPort
from gateway.settings import ExecutionMode, Settings
from gateway.wiring import (
    DomainWiring,
    SecretFiles,
    TenantWebhooks,
    forget_tenant_lists_on_change,
)
from ledger.anchor.anchorer import Anchorer
from ledger.service import Ledger
from provenance.stamper import Stamper
from provenance.watermark import ImageWatermarker
from review_ui.service import ReviewService

if TYPE_CHECKING:
    from gateway.idempotency import IdempotencyKeys
    from gateway.jobs.execution import Execution
    from gateway.tenant_policy import TenantPolicies
    from gateway.verification import Verifier

__all__ = ["ADMIN_TENANT", "ComponentState", "Runtime", "build_runtime"]

log = logging.getLogger(__name__)

ADMIN_TENANT = "default"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    store: ContentStore
    metrics: GatewayMetrics
    catalog: GeneratorCatalog
    pipeline: Pipeline
    moderation: ModerationPort
    # The engine behind ``moderation``: tenant lists, image registry, policies.
    moderation_admin: EngineModeration
    review: ReviewPort
    stamping: StampPort
    ledger: LedgerPort
    review_service: ReviewService
    domains: DomainWiring
    secrets: SecretFiles
    webhooks: TenantWebhooks
    principals: PrincipalCache
    # Cache invalidations shared with the other processes (through Redis when set).
    invalidations: Invalidations
    started: bool = field(default=False)
    anchoring: bool = field(default=False)

    @property
    def admin_key_path(self) -> Path:
        return self.settings.secrets_dir_resolved / "admin_api_key"

    @property
    def ledger_service(self) -> Ledger:
        return self.domains.ledger_service

    @property
    def anchorer(self) -> Anchorer | None:
        return self.domains.anchorer

    @property
    def watermarker(self) -> ImageWatermarker:
        return self.domains.watermarker

    @property
    def stamper(self) -> Stamper:
        return self.domains.stamper

    @cached_property
    def idempotency(self) -> IdempotencyKeys:
        from gateway.idempotency import IdempotencyKeys

        return IdempotencyKeys(self.engine)

    @cached_property
    def tenant_policies(self) -> TenantPolicies:
        from gateway.tenant_policy import TenantPolicies

        return TenantPolicies(
            self.engine,
            self.moderation_admin,
            self.invalidations,
            self.ledger,
            self.settings.default_policy,
        )

    @cached_property
    def execution(self) -> Execution:
        """Where pipelines run: this process, or Celery workers (AIGC_EXECUTION=celery)."""
        from gateway.jobs.wiring import build_execution

        return build_execution(self.settings, self.engine, self.store, self.pipeline)

    @cached_property
    def verifier(self) -> Verifier:
        """Checks every provenance signal of a file or text (``POST /v1/verify``)."""
        return self.domains.verifier(self.store)

    def start(self, *, serving: bool = True, anchoring: bool = True) -> None:
        """Create directories, apply migrations and issue the first admin key.

        A serving process also checks every policy file and warms the moderation scanners
        (so a bad configuration stops the start, not a request) and starts anchoring. A
        one-shot CLI command (``serving=False``) skips both: it needs neither. A worker
        serves but leaves anchoring to the API processes (``anchoring=False``).
        """
        if self.started:
            return
        make_created_files_private()
        for directory in (self.settings.data_dir, self.settings.content_dir_resolved):
            _private_directory(directory)
        migrate(self.engine)
        _tighten_sqlite_file(self.engine)
        if serving and self.moderation is self.moderation_admin:  # not a test's stand-in
            self.moderation_admin.validate(self.settings.default_policy)
        self._bootstrap_admin_key()
        if serving:  # deliver webhooks, first those earlier processes left in the outbox
            self.webhooks.start()
        if serving:  # a one-shot command publishes its changes and listens to none
            self.invalidations.start()
        if serving:  # Celery mode: the reaper re-sends jobs whose worker or message was lost
            self.execution.start()
        if serving and anchoring and self.anchorer is not None:
            self.anchorer.start()
            self.anchoring = True
        self.started = True

    def close(self) -> None:
        anchorer = self._built_anchorer()
        if anchorer is not None:  # the loop, then the local chain (an anvil child process)
            anchorer.close()
        self.anchoring = False
        execution = vars(self).get("execution")  # only if something built it
        if execution is not None:
            execution.close()
        self.webhooks.close()
        self.invalidations.close()
        self.engine.dispose()
        self.started = False

    def readiness_problems(self) -> list[str]:
        """Every problem of every component, each prefixed with the component's name."""
        return self.readiness_problems_of(self.readiness())

    @staticmethod
    def readiness_problems_of(components: dict[str, ComponentState]) -> list[str]:
        # Generator problems name their generator already ("tiny-text: model missing").
        return [
            problem if name == "generators" else f"{name.replace('_', ' ')}: {problem}"
            for name, state in components.items()
            for problem in state.problems
        ]

    def readiness(self) -> dict[str, ComponentState]:
        """Each part a request depends on: what it is and whether it works (``/readyz``)."""
        anchorer = self._built_anchorer()
        chain_problems = anchorer.readiness_problems() if anchorer is not None else []
        return {
            "database": _database_state(self.engine),
            "broker": _broker_state(self.settings, self.execution.readiness_problem()),
            "object_store": ComponentState(
                self.store.describe(), _listed(self.store.readiness_problem())
            ),
            "chain": ComponentState(
                "anchoring" if anchorer is not None else "not anchoring in this process",
                [problem.removeprefix("chain: ") for problem in chain_problems],
                self.readiness_warnings(),
            ),
            "generators": ComponentState("configured", self.catalog.readiness_problems()),
            "moderation": ComponentState(
                self.moderation.name, _listed(self.moderation.readiness_problem())
            ),
            # Requests go on without Redis (local caches, per-process rate limits): a
            # warning, so a load balancer does not take every process out at once.
            "coordination": ComponentState(
                "redis pub/sub" if self.settings.redis_url else "this process only",
                [],
                _listed(self.invalidations.readiness_problem()),
            ),
        }

    def readiness_warnings(self) -> list[str]:
        """What works with less assurance than it should (anchoring to an in-process chain
        because anvil is not installed): ``/readyz`` shows these and stays ready."""
        anchorer = self._built_anchorer()
        return anchorer.readiness_warnings() if anchorer is not None else []

    def _built_anchorer(self) -> Anchorer | None:
        """The anchorer if something built it already: a probe or ``close`` must not start
        a chain only to ask it or to stop it."""
        built = vars(self.domains).get("anchorer")  # where cached_property keeps it
        return built if isinstance(built, Anchorer) else None

    def _bootstrap_admin_key(self) -> None:
        with session_scope(self.engine) as session:
            if session.exec(select(ApiKey).limit(1)).first() is not None:
                return
            ensure_tenant(session, ADMIN_TENANT, self.settings.default_policy)
            issued = create_api_key(session, ADMIN_TENANT, Role.ADMIN, label="first-start admin")
            write_private(self.admin_key_path, (issued.plain_key + "\n").encode())
        log.warning(
            "first start: created an admin API key for tenant '%s'; it is in %s (mode 0600)",
            ADMIN_TENANT,
            self.admin_key_path,
        )


@dataclass(frozen=True, slots=True)
class ComponentState:
    """One part in ``/readyz``: what it is, what is wrong (not ready) and what is weaker
    than it should be (still ready)."""

    kind: str
    problems: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        status = "problem" if self.problems else ("warning" if self.warnings else "ok")
        return {
            "status": status,
            "kind": self.kind,
            "problems": self.problems,
            "warnings": self.warnings,
        }


def _listed(problem: str | None) -> list[str]:
    return [problem] if problem else []


def _database_state(engine: Engine) -> ComponentState:
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return ComponentState(engine.dialect.name, [f"unreachable: {type(exc).__name__}"])
    return ComponentState(engine.dialect.name, [])


def _broker_state(settings: Settings, problem: str | None) -> ComponentState:
    if settings.execution is ExecutionMode.IN_PROCESS:
        return ComponentState("not used (AIGC_EXECUTION=in_process)", [])
    scheme = settings.broker_url.split("://", 1)[0]
    return ComponentState(f"celery over {scheme}", _listed(problem))


def build_runtime(
    settings: Settings,
    *,
    catalog: GeneratorCatalog | None = None,
    moderation: ModerationPort | None = None,
    review: ReviewPort | None = None,
    stamping: StampPort | None = None,
    ledger: LedgerPort | None = None,
    invalidations: Invalidations | None = None,
) -> Runtime:
    """Wire every domain from settings; a part passed in replaces the configured one."""
    make_created_files_private()  # before the first key, database or content file
    engine = create_engine_for(settings.database_url_resolved)
    store = open_content_store(settings)
    metrics = GatewayMetrics()
    secrets = SecretFiles(settings.secrets_dir_resolved)
    domains = DomainWiring(settings, engine, secrets)
    catalog = catalog or domains.generator_catalog()
    ledger = ledger or domains.ledger_port()
    moderation_admin = domains.moderation_port()
    moderation = moderation or moderation_admin
    invalidations = invalidations or Invalidations(settings.redis_url)
    forget_tenant_lists_on_change(moderation_admin, invalidations)
    principals = PrincipalCache(settings.auth_cache_s)
    principals.listen(invalidations)
    stamping = stamping or domains.stamping_port()
    webhooks = TenantWebhooks(settings.webhooks, secrets, engine)
    webhooks.base_url = settings.public_base_url
    # The outbox row is written with the final state it announces; delivered at once.
    hooks = PipelineHooks(
        on_stage=metrics.observe_stage,
        on_final=lambda _generation: webhooks.nudge(),
        write_final=webhooks.enqueue,
    )
    # The review service resumes the pipeline on approval, and the pipeline enqueues
    # into the review service: the late-bound reference closes that loop.
    # Approvals go through the execution mode: in Celery mode the release is a job.
    runtime_ref: list[Runtime] = []
    review_service = domains.review_service(
        ledger, lambda *args: runtime_ref[0].execution.complete_review(*args)
    )
    review = review or QueueReview(review_service)
    pipeline = Pipeline(
        engine=engine,
        store=store,
        generators=catalog,
        moderation=moderation,
        review=review,
        stamping=stamping,
        ledger=ledger,
        hooks=hooks,
    )
    _publish_review_metrics(metrics, review_service)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        store=store,
        metrics=metrics,
        catalog=catalog,
        pipeline=pipeline,
        moderation=moderation,
        moderation_admin=moderation_admin,
        review=review,
        stamping=stamping,
        ledger=ledger,
        review_service=review_service,
        domains=domains,
        secrets=secrets,
        webhooks=webhooks,
        principals=principals,
        invalidations=invalidations,
    )
    runtime_ref.append(runtime)
    _publish_job_metrics(runtime)
    return runtime


def _publish_job_metrics(runtime: Runtime) -> None:
    if runtime.settings.execution is ExecutionMode.CELERY:
        from gateway.jobs.wiring import publish_job_metrics

        publish_job_metrics(runtime.metrics, runtime.engine)


def _publish_review_metrics(metrics: GatewayMetrics, service: ReviewService) -> None:
    def refresh() -> None:
        # Lapsed claims go back to pending (with their audit event) before counting.
        service.expire_leases()
        for metric in service.queue_metrics():
            metrics.review_queue_depth.labels(metric.queue).set(metric.depth)
            metrics.review_oldest_age.labels(metric.queue).set(metric.oldest_age_s)

    metrics.on_collect(refresh)


def make_created_files_private() -> None:
    """Prompts, findings and the raw artifacts of blocked items are private: every file
    and directory this process creates from now on is owner-only (umask 077)."""
    os.umask(0o077)


def _private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)  # one made by an earlier release (or by hand) may be 0755


def _tighten_sqlite_file(engine: Engine) -> None:
    """An SQLite file created before the umask (an older release) becomes 0600 too."""
    database = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            path = Path(database + suffix)
            if path.exists():
                path.chmod(0o600)
