"""Verification over HTTP: ``POST /v1/verify``, the soft-binding resolution API, ``/verify``.

Everything here is public unless ``settings.verify_public`` is false (then any valid key
with the ``audit`` role, or ``admin``); a presented key must be valid either way. Each
client — its API key, else its address (the socket peer unless a trusted proxy forwarded
it) — may make ``limits.verify_requests_per_minute`` requests a minute, and a key's
tenant ``limits.verify_tenant_requests_per_minute`` (``gateway.ratelimit``; shared
through Redis when configured); more answer 429 with ``Retry-After``. At most
``limits.verify_concurrent_per_client`` verifications of one client run at once (429),
and ``limits.verify_concurrent_total`` in the process (503 once the short wait is over).
Images from callers without a key are refused (413) above
``limits.verify_public_max_image_pixels``, on their declared size. Uploads are read into
memory up to the upload limit, verified and dropped: nothing is stored::

    app.include_router(verify.router)
    # curl -F file=@photo.png http://127.0.0.1:8000/v1/verify
    # curl -H 'Content-Type: application/json' -d '{"text": "…"}' .../v1/verify

Soft-binding resolution follows the C2PA Soft Binding Resolution API (OpenAPI 1.0.0):
``GET /v1/services/supportedAlgorithms``, ``GET|POST /v1/matches/byBinding``,
``POST /v1/matches/byContent`` and ``GET /v1/manifests/{manifestId}``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from common.errors import (
    AuthenticationError,
    GatewayError,
    InvalidInputError,
    PayloadTooLargeError,
    RateLimitedError,
    UnsupportedMediaTypeError,
)
from common.mediatype import is_json_media_type, media_type
from gateway.auth import Principal, require_role
from gateway.deps import RuntimeDep, optional_principal
from gateway.models import Role
from gateway.ratelimit import (
    Bucket,
    ConcurrencyLimiter,
    RateLimiter,
    build_rate_limiter,
)
from gateway.verification import VerificationReport, VerificationReportPublic, Verifier
from provenance.media import declared_image_size

if TYPE_CHECKING:
    import jinja2

    from gateway.settings import LimitSettings

__all__ = ["router"]

router = APIRouter(tags=["verification"])

OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]

_STATIC_TYPES = {
    "verify.css": "text/css; charset=utf-8",
    "verify.js": "text/javascript; charset=utf-8",
}
# Only our own script and styles; the page never loads anything from elsewhere.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_READ_CHUNK_BYTES = 1 << 20


# --- rate limiting and concurrency ------------------------------------------------------


def _limiter(request: Request, runtime: RuntimeDep) -> RateLimiter:
    # Built on first use, not in create_app: tests and operators may adjust the settings.
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "verify_rate_limiter", None)
    if limiter is None:
        limiter = build_rate_limiter(runtime.settings.limits, runtime.settings.redis_url)
        state.verify_rate_limiter = limiter
    return limiter


def _concurrency(request: Request) -> ConcurrencyLimiter:
    state = request.app.state
    limiter: ConcurrencyLimiter | None = getattr(state, "verify_concurrency", None)
    if limiter is None:
        limits = request.app.state.runtime.settings.limits
        limiter = ConcurrencyLimiter(
            limits.verify_concurrent_total,
            limits.verify_concurrent_per_client,
            limits.verify_queue_wait_s,
        )
        state.verify_concurrency = limiter
    return limiter


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal | None
    client: str


async def verify_caller(
    request: Request, runtime: RuntimeDep, principal: OptionalPrincipal
) -> Caller:
    """Admit the caller (public, or an audit key when not) and charge its buckets."""
    if not runtime.settings.verify_public:
        if principal is None:
            raise AuthenticationError("verification needs an API key on this gateway")
        require_role(principal, Role.AUDIT)
    client = f"key:{principal.key_id}" if principal else f"ip:{_client_address(request)}"
    buckets = _buckets(client, principal, runtime.settings.limits)
    retry_after_s = await run_in_threadpool(_limiter(request, runtime).take_all, buckets)
    if retry_after_s is not None:
        raise RateLimitedError(
            "too many verification requests; retry later",
            details={"retry_after_s": round(retry_after_s, 1)},
        )
    return Caller(principal, client)


VerifyCaller = Annotated[Caller, Depends(verify_caller)]


def _buckets(client: str, principal: Principal | None, limits: LimitSettings) -> list[Bucket]:
    buckets = [Bucket(client, limits.verify_requests_per_minute)]
    if principal is not None:
        # All keys of a tenant share one more bucket: minting keys buys no allowance.
        tenant = Bucket(f"tenant:{principal.tenant_id}", limits.verify_tenant_requests_per_minute)
        buckets.append(tenant)
    return buckets


def _client_address(request: Request) -> str:
    # The socket peer, or what a trusted proxy forwarded: uvicorn rewrites request.client
    # only for the addresses in server.forwarded_allow_ips (none by default).
    return request.client.host if request.client else "unknown"


async def get_verifier(request: Request) -> Verifier:
    verifier: Verifier = request.app.state.runtime.verifier
    return verifier


VerifierDep = Annotated[Verifier, Depends(get_verifier)]


# --- POST /v1/verify -------------------------------------------------------------------


class VerifyTextBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)


_VERIFY_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "sidecar": {
                            "type": "string",
                            "format": "binary",
                            "description": "a detached .c2pa manifest store for the file",
                        },
                    },
                }
            },
            "application/json": {"schema": VerifyTextBody.model_json_schema()},
        },
    }
}


@router.post("/v1/verify", response_model=VerificationReportPublic, openapi_extra=_VERIFY_OPENAPI)
async def verify(
    request: Request, runtime: RuntimeDep, verifier: VerifierDep, caller: VerifyCaller
) -> JSONResponse:
    """Check every provenance signal of a file (multipart ``file``) or text (JSON)."""
    async with _concurrency(request).client_slot(caller.client):
        report = await _verify_body(request, runtime.settings.limits, verifier, caller)
    # The body is the report's own JSON, already shaped by its model: FastAPI would only
    # validate it again. ``response_model`` still documents it in /openapi.json.
    return JSONResponse(report.to_dict())


async def _verify_body(
    request: Request, limits: LimitSettings, verifier: Verifier, caller: Caller
) -> VerificationReport:
    declared = media_type(request.headers.get("content-type"))
    if declared == "multipart/form-data":
        upload = await _read_upload(request, limits.max_upload_bytes)
        _check_image_size(upload.data, caller, limits)
        return await _bounded(
            request, verifier.verify_file, upload.data, upload.media_type, upload.sidecar
        )
    if is_json_media_type(declared):
        body = _text_body(await _json_body(request))
        return await _bounded(request, verifier.verify_text, body.text)
    raise UnsupportedMediaTypeError(
        "send multipart/form-data with a 'file' part, or JSON {\"text\": ...}"
    )


_T = TypeVar("_T")


async def _bounded(request: Request, func: Callable[..., _T], *args: Any) -> _T:
    """Run a verifier call on a worker thread, inside the process's verification pool."""
    async with _concurrency(request).pool_slot():
        return await run_in_threadpool(func, *args)


def _check_image_size(data: bytes, caller: Caller, limits: LimitSettings) -> None:
    """Callers without a key get a stricter pixel limit, checked on the declared size."""
    if caller.principal is not None:
        return
    size = declared_image_size(data)
    limit_px = limits.verify_public_max_image_pixels
    if size is None or size[0] * size[1] <= limit_px:
        return
    width, height = size
    raise PayloadTooLargeError(
        f"a {width}x{height} image exceeds the {limit_px}-pixel limit of verification "
        "without an API key",
        details={"width_px": width, "height_px": height, "max_pixels": limit_px},
    )


@dataclass(frozen=True, slots=True)
class _Upload:
    data: bytes
    media_type: str | None
    sidecar: bytes | None


async def _read_upload(request: Request, limit_bytes: int) -> _Upload:
    form = await request.form(max_files=2, max_fields=4)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInputError("the multipart body needs a 'file' part")
        data = await _read_capped(upload, limit_bytes)
        sidecar_part = form.get("sidecar")
        sidecar = None
        if isinstance(sidecar_part, UploadFile):
            sidecar = await _read_capped(sidecar_part, limit_bytes) or None
        return _Upload(data, upload.content_type, sidecar)
    finally:
        await form.close()


async def _read_capped(upload: UploadFile, limit_bytes: int) -> bytes:
    """The part's bytes, refusing (413) as soon as they pass the limit."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_READ_CHUNK_BYTES):
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLargeError(
                f"the file exceeds the upload limit of {limit_bytes} bytes",
                details={"limit_bytes": limit_bytes},
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _text_body(payload: Any) -> VerifyTextBody:
    try:
        return VerifyTextBody.model_validate(payload)
    except ValidationError as exc:  # the app's handler answers 422 in the contract's shape
        raise RequestValidationError(exc.errors()) from exc


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError("the body is not valid JSON") from exc


# --- C2PA soft-binding resolution API ---------------------------------------------------


class SoftBindingQuery(BaseModel):
    """``c2pa.softBindingQuery``: an algorithm name and its base64 value."""

    alg: str
    value: str


@router.get("/v1/services/supportedAlgorithms")
def supported_algorithms(
    verifier: VerifierDep, _caller: VerifyCaller
) -> dict[str, list[dict[str, str]]]:
    return verifier.supported_algorithms()


@router.get("/v1/matches/byBinding")
def matches_by_binding(
    verifier: VerifierDep,
    _caller: VerifyCaller,
    alg: Annotated[str, Query(min_length=1)],
    value: Annotated[str, Query(min_length=1)],
    max_results: Annotated[int, Query(alias="maxResults", ge=1, le=100)] = 10,
) -> dict[str, list[dict[str, Any]]]:
    matches = verifier.matches_by_binding(alg, value)[:max_results]
    return {"matches": [match.to_dict() for match in matches]}


@router.post("/v1/matches/byBinding")
def matches_by_large_binding(
    body: SoftBindingQuery,
    verifier: VerifierDep,
    _caller: VerifyCaller,
    max_results: Annotated[int, Query(alias="maxResults", ge=1, le=100)] = 10,
) -> dict[str, list[dict[str, Any]]]:
    matches = verifier.matches_by_binding(body.alg, body.value)[:max_results]
    return {"matches": [match.to_dict() for match in matches]}


@router.post(
    "/v1/matches/byContent",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def matches_by_content(
    request: Request,
    runtime: RuntimeDep,
    verifier: VerifierDep,
    caller: VerifyCaller,
    max_results: Annotated[int, Query(alias="maxResults", ge=1, le=100)] = 10,
) -> dict[str, list[dict[str, Any]]]:
    """Manifests for an asset sent as the raw body (or a multipart ``file`` part)."""
    async with _concurrency(request).client_slot(caller.client):
        data, declared = await _content_body(request, runtime.settings.limits.max_upload_bytes)
        _check_image_size(data, caller, runtime.settings.limits)
        matches = await _bounded(request, verifier.matches_by_content, data, declared)
    return {"matches": [match.to_dict() for match in matches[:max_results]]}


async def _content_body(request: Request, limit_bytes: int) -> tuple[bytes, str | None]:
    content_type = request.headers.get("content-type")
    if media_type(content_type) == "multipart/form-data":
        upload = await _read_upload(request, limit_bytes)
        return upload.data, upload.media_type
    return await request.body(), content_type or None


@router.get("/v1/manifests/{manifest_id}")
def get_manifest(manifest_id: str, verifier: VerifierDep, _caller: VerifyCaller) -> Response:
    """The C2PA manifest store kept for a manifest id (claim URN) or generation id."""
    return Response(verifier.manifest_store(manifest_id), media_type="application/c2pa")


# --- the public page ---------------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
def verify_page(request: Request, lang: str | None = None) -> HTMLResponse:
    return _page(request, lang, report=None, error=None)


@router.post("/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_page_submit(
    request: Request,
    runtime: RuntimeDep,
    verifier: VerifierDep,
    caller: VerifyCaller,
    lang: str | None = None,
) -> HTMLResponse:
    """The no-JavaScript path: the form posts here and the report is rendered server-side."""
    try:
        async with _concurrency(request).client_slot(caller.client):
            report = await _verify_form(request, runtime.settings.limits, verifier, caller)
    except GatewayError as exc:
        return _page(request, lang, report=None, error=exc, status_code=exc.http_status)
    return _page(request, lang, report=report, error=None)


async def _verify_form(
    request: Request, limits: LimitSettings, verifier: Verifier, caller: Caller
) -> VerificationReport:
    form = await request.form(max_files=2, max_fields=4)
    try:
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await _read_capped(upload, limits.max_upload_bytes)
            _check_image_size(data, caller, limits)
            return await _bounded(request, verifier.verify_file, data, upload.content_type)
        text = form.get("text")
        if isinstance(text, str) and text.strip():
            # HTML form submission turns every line break of a textarea into CRLF (HTML
            # §4.10.21.8); the text as generated had LF.
            return await _bounded(request, verifier.verify_text, text.replace("\r\n", "\n"))
        raise InvalidInputError("choose a file or paste some text")
    finally:
        await form.close()


@router.get("/verify/static/{name}", include_in_schema=False)
def verify_static(name: str) -> Response:
    media_type = _STATIC_TYPES.get(name)
    if media_type is None:
        return Response(status_code=404)
    return Response(_static_bytes(name), media_type=media_type)


def _page(
    request: Request,
    lang: str | None,
    *,
    report: VerificationReport | None,
    error: GatewayError | None,
    status_code: int = 200,
) -> HTMLResponse:
    from common.i18n import pick_language
    from gateway.web.strings import page_context

    language = pick_language(lang, request.headers.get("accept-language"))
    context = page_context(language, report.to_dict() if report else None, error)
    html = _templates().get_template("verify.html").render(**context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"},
    )


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


@functools.cache
def _static_bytes(name: str) -> bytes:
    return importlib.resources.files("gateway.web").joinpath("static", name).read_bytes()
