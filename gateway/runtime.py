"""Everything one gateway process holds, built from ``Settings`` — no globals.

    runtime = build_runtime(settings)
    runtime.start()          # directories, migrations, first-start admin key
    runtime.pipeline.generate(order)
    runtime.close()

The HTTP app, the CLI and the tests all build a ``Runtime``; tests may pass their own
parts (a fake generator catalog, say) as keyword arguments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from gateway.auth import create_api_key, ensure_tenant
from gateway.catalog import GeneratorCatalog
from gateway.content_store import ContentStore
from gateway.db import create_engine_for, migrate, session_scope
from gateway.metrics import GatewayMetrics
from gateway.models import ApiKey, Role
from gateway.passthrough import (
    LedgerNotConfigured,
    ModerationNotConfigured,
    ReviewNotConfigured,
    StampingNotConfigured,
)
from gateway.pipeline import Pipeline, PipelineHooks
from gateway.ports import LedgerPort, ModerationPort, ReviewPort, StampPort
from gateway.secrets import load_or_create_secret, write_secret_file
from gateway.settings import Settings

__all__ = ["ADMIN_TENANT", "Runtime", "build_runtime"]

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
    review: ReviewPort
    stamping: StampPort
    ledger: LedgerPort
    started: bool = field(default=False)

    @property
    def admin_key_path(self) -> Path:
        return self.settings.secrets_dir_resolved / "admin_api_key"

    def start(self) -> None:
        """Create directories, apply migrations, and issue the first admin key if needed."""
        if self.started:
            return
        for directory in (self.settings.data_dir, self.settings.content_dir_resolved):
            directory.mkdir(parents=True, exist_ok=True)
        migrate(self.engine)
        self._bootstrap_admin_key()
        self.started = True

    def close(self) -> None:
        self.engine.dispose()

    def text_watermark_key(self) -> int:
        """The secret hashing key of the green-list text watermark (64 bits)."""
        raw = load_or_create_secret(self.settings.secrets_dir_resolved / "text_watermark_key", 8)
        return int.from_bytes(raw[:8], "big")

    def readiness_problems(self) -> list[str]:
        problems = self.catalog.readiness_problems()
        moderation_problem = self.moderation.readiness_problem()
        if moderation_problem:
            problems.append(f"moderation: {moderation_problem}")
        return problems

    def _bootstrap_admin_key(self) -> None:
        with session_scope(self.engine) as session:
            if session.exec(select(ApiKey).limit(1)).first() is not None:
                return
            ensure_tenant(session, ADMIN_TENANT, self.settings.default_policy)
            issued = create_api_key(session, ADMIN_TENANT, Role.ADMIN, label="first-start admin")
            write_secret_file(self.admin_key_path, (issued.plain_key + "\n").encode())
        log.warning(
            "first start: created an admin API key for tenant '%s'; it is in %s (mode 0600)",
            ADMIN_TENANT,
            self.admin_key_path,
        )


def build_runtime(
    settings: Settings,
    *,
    catalog: GeneratorCatalog | None = None,
    moderation: ModerationPort | None = None,
    review: ReviewPort | None = None,
    stamping: StampPort | None = None,
    ledger: LedgerPort | None = None,
) -> Runtime:
    engine = create_engine_for(settings.database_url_resolved)
    store = ContentStore(settings.content_dir_resolved)
    metrics = GatewayMetrics()
    catalog = catalog or _default_catalog(settings)
    moderation = moderation or ModerationNotConfigured()
    review = review or ReviewNotConfigured()
    stamping = stamping or StampingNotConfigured()
    ledger = ledger or LedgerNotConfigured()
    hooks = PipelineHooks(on_stage=metrics.observe_stage)
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
    return Runtime(
        settings=settings,
        engine=engine,
        store=store,
        metrics=metrics,
        catalog=catalog,
        pipeline=pipeline,
        moderation=moderation,
        review=review,
        stamping=stamping,
        ledger=ledger,
    )


def _default_catalog(settings: Settings) -> GeneratorCatalog:
    return GeneratorCatalog({}, {}, {})
