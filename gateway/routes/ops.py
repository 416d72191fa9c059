"""Operations endpoints: liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

from typing import Any

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
    summary="Readiness: database, broker, object store, chain, models and scanners",
    responses={503: {"description": "Not ready; `problems` says why"}},
)
def readyz(runtime: RuntimeDep) -> Response:
    components = runtime.readiness()
    problems = runtime.readiness_problems_of(components)
    warnings = [warning for state in components.values() for warning in state.warnings]
    body: dict[str, Any] = {
        "status": "ready" if not problems else "not_ready",
        "problems": problems,
        "warnings": warnings,
        "components": {name: state.to_dict() for name, state in components.items()},
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
