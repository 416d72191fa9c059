"""The FastAPI application factory.

    app = create_app(Settings())            # nothing connects until start-up
    uvicorn.run(app, host="127.0.0.1", port=8000)

Start-up applies migrations and issues the first admin key (see ``Runtime.start``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from gateway.docs_pages import install_docs_pages
from gateway.errors import install_error_handlers
from gateway.middleware import BodyLimitMiddleware, RequestContextMiddleware
from gateway.openapi import install_openapi
from gateway.routes import (
    generations,
    keys,
    ledger,
    moderation,
    openai_compat,
    ops,
    policy,
    reviews,
    stamp,
    verify,
    webhooks,
)
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)

DESCRIPTION = """
Moderates AI-generated content, routes doubtful items to human review, stamps what is
released (visible label, GB 45438 implicit label, invisible watermark, C2PA manifest)
and records every step on a tamper-evident Merkle ledger.

Authenticate with `Authorization: Bearer <api-key>`. Errors are
`{"error": {"code", "message", "details", "request_id"}}`.
"""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or build_runtime(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Blocking work (pipeline, database) runs on this many threads at most.
        to_thread.current_default_thread_limiter().total_tokens = runtime.settings.worker_threads
        runtime.start()
        log.info("aigc-gateway ready; data directory %s", runtime.settings.data_dir.resolve())
        yield
        runtime.close()

    app = FastAPI(
        title="aigc-gateway",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs_pages, from our own static files
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    routers = (
        ops,
        generations,
        stamp,
        openai_compat,
        moderation,
        policy,
        reviews,
        ledger,
        verify,
        keys,
        webhooks,
    )
    for module in routers:
        app.include_router(module.router)
    app.include_router(reviews.build_reviewer_pages(runtime))
    install_openapi(app)
    install_docs_pages(app)
    limits = runtime.settings.limits
    # Outermost first: the request id must exist before a 413 is answered.
    app.add_middleware(
        BodyLimitMiddleware,
        max_json_bytes=limits.max_body_bytes,
        max_upload_bytes=limits.max_upload_bytes,
        body_read_timeout_s=runtime.settings.server.body_read_timeout_s,
    )
    app.add_middleware(RequestContextMiddleware, metrics=runtime.metrics)
    return app
