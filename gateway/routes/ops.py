"""Operations endpoints: liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.deps import RuntimeDep

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and configured models present",
    responses={503: {"description": "Not ready; `problems` says why"}},
)
def readyz(runtime: RuntimeDep) -> Response:
    problems: list[str] = []
    try:
        with runtime.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        problems.append(f"database unreachable: {type(exc).__name__}")
    problems.extend(runtime.readiness_problems())
    body: dict[str, Any] = {
        "status": "ready" if not problems else "not_ready",
        "problems": problems,
    }
    return JSONResponse(body, status_code=200 if not problems else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(runtime: RuntimeDep) -> Response:
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
