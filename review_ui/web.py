"""The reviewer pages: a server-rendered FastAPI router the gateway mounts at ``/review``.

Reviewers sign in with their API key (the gateway's callback checks it and says who
they are); from then on a signed session cookie (HttpOnly, SameSite=Strict) carries
them, and every state-changing form carries a CSRF token — a POST without a valid one
is refused with 403. Pages: sign-in, the queue (filters, SLA age colours), one item
(highlighted findings, image preview, decision buttons with keyboard shortcuts, audit
history), and the lead's statistics (SVG charts drawn on the server). Strings in
Chinese and English. All user-supplied text is escaped by Jinja2's autoescaping, and a
strict Content-Security-Policy allows only our own script::

    router = build_review_router(
        service,
        authenticate_reviewer=lambda key: keys.reviewer_for(key),  # Reviewer | None
        session_secret=secrets_dir.joinpath("review_session.key").read_bytes(),
    )
    app.include_router(router)          # serves /review, /review/queue, /review/static/…
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from common.errors import GatewayError, InvalidInputError
from common.i18n import pick_language
from common.types import ContentKind, Language
from review_ui.categories import category_name
from review_ui.highlight import segment_text, snippet, text_diff, top_finding
from review_ui.i18n import STRINGS, translate
from review_ui.interface import (
    BulkDecisionRequest,
    FindingSource,
    Reviewer,
    ReviewTaskView,
    TaskNotFoundError,
    TaskStatus,
)
from review_ui.page_assets import STATIC_TYPES, read_static, secured, template_environment
from review_ui.queue_filters import age_label, minutes_to_s, status_filter
from review_ui.service import ReviewService
from review_ui.session import Session, SessionCodec
from review_ui.stats_page import DEFAULT_DAYS, MAX_DAYS, stats_context
from review_ui.transitions import parse_decision

__all__ = ["PreviewImage", "build_review_router"]

SESSION_COOKIE = "aigc_review_session"
LANGUAGE_COOKIE = "aigc_review_lang"
_PREVIEW_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
_STATUS_FILTERS = ("open", *(s.value for s in TaskStatus), "all")


@dataclass(frozen=True, slots=True)
class PreviewImage:
    """Bytes of an image preview the gateway loads for a task (served to its tenant only)."""

    data: bytes
    media_type: str


AuthenticateReviewer = Callable[[str], Reviewer | None]
PreviewLoader = Callable[[ReviewTaskView], PreviewImage | None]


def build_review_router(
    service: ReviewService,
    authenticate_reviewer: AuthenticateReviewer,
    session_secret: bytes,
    *,
    prefix: str = "/review",
    reviewer_still_valid: Callable[[Reviewer], bool] | None = None,
    load_preview: PreviewLoader | None = None,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """The reviewer pages under ``prefix`` (include with ``app.include_router``).

    ``authenticate_reviewer(api_key)`` returns the reviewer for a key holding the review
    role, or None. ``reviewer_still_valid`` (optional) is asked on every request, so a
    revoked key ends its sessions at once rather than at cookie expiry. With
    ``load_preview`` images are served through ``{prefix}/tasks/{id}/preview`` under the
    session; without it the page shows the task's ``image_url`` as is.
    """
    pages = _ReviewPages(
        service=service,
        authenticate=authenticate_reviewer,
        codec=SessionCodec(session_secret, service.settings.session_ttl_s),
        prefix=prefix.rstrip("/"),
        still_valid=reviewer_still_valid,
        load_preview=load_preview,
        clock=clock,
    )
    router = APIRouter(prefix=pages.prefix, include_in_schema=False)
    router.add_api_route("", pages.home, methods=["GET"])
    router.add_api_route("/", pages.home, methods=["GET"])
    router.add_api_route("/login", pages.login_form, methods=["GET"])
    router.add_api_route("/login", pages.login, methods=["POST"])
    router.add_api_route("/logout", pages.logout, methods=["POST"])
    router.add_api_route("/lang/{code}", pages.switch_language, methods=["GET"])
    router.add_api_route("/queue", pages.queue, methods=["GET"])
    router.add_api_route("/queue/next", pages.claim_next, methods=["POST"])
    router.add_api_route("/queue/bulk", pages.bulk_decide, methods=["POST"])
    router.add_api_route("/stats", pages.stats, methods=["GET"])
    router.add_api_route("/tasks/{task_id}", pages.task, methods=["GET"])
    router.add_api_route("/tasks/{task_id}/claim", pages.claim, methods=["POST"])
    router.add_api_route("/tasks/{task_id}/release", pages.release, methods=["POST"])
    router.add_api_route("/tasks/{task_id}/decision", pages.decide, methods=["POST"])
    router.add_api_route("/tasks/{task_id}/preview", pages.preview, methods=["GET"])
    router.add_api_route("/static/{name}", pages.static, methods=["GET"])
    return router


FormField = Annotated[str, Form()]


class _ReviewPages:
    """Request handlers; each one is a few lines over the service."""

    def __init__(
        self,
        *,
        service: ReviewService,
        authenticate: AuthenticateReviewer,
        codec: SessionCodec,
        prefix: str,
        still_valid: Callable[[Reviewer], bool] | None,
        load_preview: PreviewLoader | None,
        clock: Callable[[], float],
    ) -> None:
        self.service = service
        self.settings = service.settings
        self.authenticate = authenticate
        self.codec = codec
        self.prefix = prefix
        self.still_valid = still_valid
        self.load_preview = load_preview
        self.clock = clock
        self.templates = template_environment()
        self.static_files = {name: read_static(name) for name in STATIC_TYPES}

    # ------------------------------------------------------------------ sign-in

    def home(self, request: Request) -> Response:
        target = "/queue" if self._reviewer_session(request) else "/login"
        return self._redirect(target)

    def login_form(self, request: Request) -> Response:
        if self._reviewer_session(request):
            return self._redirect("/queue")
        session = self._session(request) or self.codec.new_session(None, now=self.clock())
        response = self._render(request, "login.html", session)
        self._set_session_cookie(response, session)
        return response

    def login(
        self, request: Request, api_key: FormField = "", csrf_token: FormField = ""
    ) -> Response:
        session = self._session(request)
        if session is None or not self.codec.csrf_ok(session, csrf_token):
            return self._forbidden(request, session)
        reviewer = self.authenticate(api_key.strip()) if api_key.strip() else None
        if reviewer is None:
            return self._render(request, "login.html", session, status_code=401, bad_key=True)
        # A fresh nonce on sign-in: any token seen before it is now worthless.
        signed_in = self.codec.new_session(reviewer, now=self.clock())
        response = self._redirect("/queue")
        self._set_session_cookie(response, signed_in)
        return response

    def logout(self, request: Request, csrf_token: FormField = "") -> Response:
        session = self._session(request)
        if not self.codec.csrf_ok(session, csrf_token):
            return self._forbidden(request, session)
        if session is not None and session.reviewer is not None:
            # Server-side: a copy of this cookie stops working too.
            self.service.sign_out(session.nonce, session.expires_at, now=self.clock())
        response = self._redirect("/login")
        response.delete_cookie(SESSION_COOKIE, path=self.prefix or "/")
        return response

    def switch_language(
        self, request: Request, code: str, next_path: Annotated[str, Query(alias="next")] = ""
    ) -> Response:
        if code not in (Language.ZH, Language.EN):
            return self._error(
                request, self._session(request), InvalidInputError("unknown language")
            )
        # Only back into the review pages: an open redirect would help phishing.
        local = next_path.startswith(self.prefix + "/") and not next_path.startswith("//")
        target = next_path if local else f"{self.prefix}/queue"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=365 * 86400,
            httponly=True,
            samesite="strict",
            secure=self.settings.cookie_secure,
            path=self.prefix or "/",
        )
        return secured(response)

    # ------------------------------------------------------------------ queue

    def queue(
        self,
        request: Request,
        status: str = "open",
        queue: str = "",
        category: str = "",
        older_than_min: Annotated[str, Query()] = "",
        q: Annotated[str, Query(max_length=200)] = "",
        cursor: str = "",
        notice: str = "",
    ) -> Response:
        session = self._reviewer_session(request)
        if session is None or session.reviewer is None:
            return self._redirect("/login")
        try:
            page = self.service.list_tasks(
                session.reviewer.tenant_id,
                status=status_filter(status),
                queue=queue or None,
                category=category.strip() or None,
                older_than_s=minutes_to_s(older_than_min),
                search=q.strip() or None,
                cursor=cursor or None,
            )
        except GatewayError as exc:
            return self._error(request, session, exc)
        now = self.service.now()
        lang = self._language(request)
        rows = [self._queue_row(task, now, lang) for task in page.items]
        filters = {
            "status": status,
            "queue": queue,
            "category": category,
            "older_than_min": older_than_min,
            "q": q,
        }
        next_url = None
        if page.next_cursor:
            next_url = f"{self.prefix}/queue?" + urlencode({**filters, "cursor": page.next_cursor})
        return self._render(
            request,
            "queue.html",
            session,
            rows=rows,
            filters=filters,
            next_url=next_url,
            status_filters=_STATUS_FILTERS,
            queues=self.service.queues(session.reviewer.tenant_id),
            bulk_reasons=sorted({r.code for row in rows for r in row["task"].reason_codes}),
            notice=_notice_key(notice),
        )

    def claim_next(
        self, request: Request, queue: FormField = "", csrf_token: FormField = ""
    ) -> Response:
        session = self._reviewer_session(request)
        if (
            session is None
            or session.reviewer is None
            or not self.codec.csrf_ok(session, csrf_token)
        ):
            return self._forbidden(request, session)
        reviewer = session.reviewer
        task = self.service.next_claimable(
            reviewer.tenant_id, reviewer.id, queue=queue or None, senior=reviewer.senior
        )
        if task is None:
            return self._redirect("/queue?notice=nothing_to_claim")
        return self._redirect(f"/tasks/{task.id}")

    def stats(self, request: Request, days: str = "") -> Response:
        session = self._reviewer_session(request)
        if session is None or session.reviewer is None:
            return self._redirect("/login")
        window = min(MAX_DAYS, max(1, int(days))) if days.isdigit() else DEFAULT_DAYS
        now = self.service.now()
        dashboard = self.service.dashboard(
            tenant_id=session.reviewer.tenant_id, since=now - timedelta(days=window), until=now
        )
        context = stats_context(dashboard, self._language(request))
        return self._render(
            request, "stats.html", session, days=window, max_days=MAX_DAYS, **context
        )

    def bulk_decide(
        self,
        request: Request,
        ids: Annotated[list[str] | None, Form()] = None,
        decision: FormField = "",
        reason_code: FormField = "",
        note: FormField = "",
        csrf_token: FormField = "",
    ) -> Response:
        """The queue's bulk approve or reject: each picked task decided on its own."""

        def act(reviewer: Reviewer) -> str:
            results = self.service.decide_many(
                BulkDecisionRequest(
                    task_ids=tuple(ids or ()),
                    reviewer=reviewer.id,
                    tenant_id=reviewer.tenant_id,
                    decision=parse_decision(decision),
                    reason_code=reason_code or None,
                    note=note or None,
                    senior=reviewer.senior,
                )
            )
            refused = any(result.error is not None for result in results)
            return f"/queue?notice={'bulk_some_refused' if refused else 'bulk_done'}"

        return self._act(request, csrf_token, act)

    # ------------------------------------------------------------------ one task

    def task(self, request: Request, task_id: str) -> Response:
        session = self._reviewer_session(request)
        if session is None or session.reviewer is None:
            return self._redirect("/login")
        tenant_id = session.reviewer.tenant_id
        try:
            view = self.service.get(task_id, tenant_id)
            history = self.service.history(task_id, tenant_id)
            previous_id, next_id = self.service.neighbours(task_id, tenant_id, queue=view.queue)
        except GatewayError as exc:
            return self._error(request, session, exc)
        numbered = list(enumerate(view.findings, start=1))
        return self._render(
            request,
            "task.html",
            session,
            task=view,
            numbered=numbered,
            prompt_segments=segment_text(view.prompt, _from(numbered, FindingSource.PROMPT)),
            output_segments=segment_text(
                view.output_text or "", _from(numbered, FindingSource.OUTPUT)
            ),
            image_src=self._image_src(view),
            # A re-queued edit: what it changed in the text it replaced.
            edit_diff=text_diff(view.previous_output, view.output_text or "")
            if view.previous_output is not None
            else None,
            history=history,
            mine=view.status is TaskStatus.CLAIMED and view.claimed_by == session.reviewer.id,
            previous_url=f"{self.prefix}/tasks/{previous_id}" if previous_id else "",
            next_url=f"{self.prefix}/tasks/{next_id}" if next_id else "",
            age=age_label(view.age_s(self.service.now()), self._language(request)),
            age_class=self._sla_class(view.age_s(self.service.now())),
            senior_queue=self.settings.senior_queue,
        )

    def claim(self, request: Request, task_id: str, csrf_token: FormField = "") -> Response:
        def act(reviewer: Reviewer) -> str:
            self.service.claim(
                task_id, reviewer=reviewer.id, tenant_id=reviewer.tenant_id, senior=reviewer.senior
            )
            return f"/tasks/{task_id}"

        return self._act(request, csrf_token, act)

    def release(self, request: Request, task_id: str, csrf_token: FormField = "") -> Response:
        def act(reviewer: Reviewer) -> str:
            self.service.release(task_id, reviewer=reviewer.id, tenant_id=reviewer.tenant_id)
            return "/queue?notice=released"

        return self._act(request, csrf_token, act)

    def decide(
        self,
        request: Request,
        task_id: str,
        decision: FormField = "",
        reason_code: FormField = "",
        note: FormField = "",
        edited_output: FormField = "",
        confirmed: FormField = "",
        csrf_token: FormField = "",
    ) -> Response:
        # Browsers send textarea line breaks as CRLF; the output has LF.
        edited = edited_output.replace("\r\n", "\n") if decision == "approve" else ""

        def deciding(edit: str | None) -> Callable[[Reviewer], str]:
            def act(reviewer: Reviewer) -> str:
                outcome = self.service.decide(
                    task_id,
                    reviewer=reviewer.id,
                    tenant_id=reviewer.tenant_id,
                    decision=decision,
                    reason_code=reason_code or None,
                    note=note or None,
                    edited_output=edit,
                )
                return f"/queue?notice={outcome.final.value}"

            return act

        if edited and not confirmed:
            return self._edit_preview(request, task_id, edited, note, csrf_token, deciding(None))
        return self._act(request, csrf_token, deciding(edited or None))

    def _edit_preview(
        self,
        request: Request,
        task_id: str,
        edited: str,
        note: str,
        csrf_token: str,
        unedited: Callable[[Reviewer], str],
    ) -> Response:
        """The diff of an edit, to confirm before approving; an unchanged text approves."""
        session = self._reviewer_session(request)
        if session is None or session.reviewer is None:
            return self._redirect("/login")
        if not self.codec.csrf_ok(session, csrf_token):
            return self._forbidden(request, session)
        try:
            view = self.service.get(task_id, session.reviewer.tenant_id)
        except GatewayError as exc:
            return self._error(request, session, exc)
        if edited.strip() == (view.output_text or "").strip():
            return self._act(request, csrf_token, unedited)
        diff = text_diff(view.output_text or "", edited)
        return self._render(
            request, "edit.html", session, task=view, edited=edited, note=note, diff=diff
        )

    def preview(self, request: Request, task_id: str) -> Response:
        session = self._reviewer_session(request)
        if session is None or session.reviewer is None:
            return secured(Response(status_code=401))
        try:
            view = self.service.get(task_id, session.reviewer.tenant_id)
        except TaskNotFoundError:
            return secured(Response(status_code=404))
        image = self.load_preview(view) if self.load_preview else None
        if image is None or image.media_type not in _PREVIEW_TYPES:
            return secured(Response(status_code=404))
        response = Response(image.data, media_type=image.media_type)
        response.headers["Cache-Control"] = "private, max-age=300"
        return secured(response, cache=False)

    def static(self, name: str) -> Response:
        if name not in self.static_files:
            return Response(status_code=404)
        response = Response(self.static_files[name], media_type=STATIC_TYPES[name])
        response.headers["Cache-Control"] = "public, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # ------------------------------------------------------------------ helpers

    def _act(
        self, request: Request, csrf_token: str, action: Callable[[Reviewer], str]
    ) -> Response:
        """A state-changing POST: CSRF check, signed-in reviewer, then the action."""
        session = self._session(request)
        if not self.codec.csrf_ok(session, csrf_token):
            return self._forbidden(request, session)
        session = self._reviewer_session(request)
        if session is None or session.reviewer is None:
            return self._redirect("/login")
        try:
            return self._redirect(action(session.reviewer))
        except GatewayError as exc:
            return self._error(request, session, exc)

    def _session(self, request: Request) -> Session | None:
        return self.codec.decode(request.cookies.get(SESSION_COOKIE), now=self.clock())

    def _reviewer_session(self, request: Request) -> Session | None:
        session = self._session(request)
        if session is None or session.reviewer is None:
            return None
        if self.still_valid is not None and not self.still_valid(session.reviewer):
            return None
        if self.service.is_signed_out(session.nonce):
            return None
        return session

    def _language(self, request: Request) -> Language:
        return pick_language(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )

    def _render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        lang = self._language(request)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = self.templates.get_template(template).render(
            t=partial(translate, lang),
            cat=partial(category_name, lang=lang),
            lang=lang.value,
            other_lang=(Language.EN if lang is Language.ZH else Language.ZH).value,
            prefix=self.prefix,
            reviewer=session.reviewer if session else None,
            csrf_token=self.codec.csrf_token(session) if session else "",
            here=path,
            sla_class=self._sla_class,
            **context,
        )
        return secured(HTMLResponse(html, status_code=status_code))

    def _error(self, request: Request, session: Session | None, exc: GatewayError) -> Response:
        return self._render(
            request, "error.html", session, status_code=exc.http_status, error=exc.public_detail()
        )

    def _forbidden(self, request: Request, session: Session | None) -> Response:
        detail = {"code": "csrf_failed", "message": "missing or invalid CSRF token"}
        response = self._render(
            request, "error.html", session, status_code=403, error=detail, csrf_failed=True
        )
        return response

    def _redirect(self, path: str) -> Response:
        return secured(RedirectResponse(f"{self.prefix}{path}", status_code=303))

    def _set_session_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.codec.encode(session),
            max_age=max(1, int(session.expires_at - self.clock())),
            httponly=True,
            samesite="strict",
            secure=self.settings.cookie_secure,
            path=self.prefix or "/",
        )

    def _sla_class(self, age_s: float) -> str:
        if age_s >= self.settings.sla_breach_after_s:
            return "sla-breach"
        if age_s >= self.settings.sla_warn_after_s:
            return "sla-warn"
        return "sla-ok"

    def _queue_row(self, task: ReviewTaskView, now: datetime, lang: Language) -> dict[str, Any]:
        age_s = task.age_s(now)
        top = top_finding(task.findings)
        return {
            "task": task,
            "age": age_label(age_s, lang),
            "sla": self._sla_class(age_s),
            "url": f"{self.prefix}/tasks/{task.id}",
            "top": top,
            "snippet": snippet(task.output_text, top),
            "thumb": self._image_src(task),
            "bulk": self.service.decides_in_bulk(task),
        }

    def _image_src(self, view: ReviewTaskView) -> str | None:
        if self.load_preview is not None and view.kind is ContentKind.IMAGE:
            return f"{self.prefix}/tasks/{view.id}/preview"
        return view.image_url if _safe_image_url(view.image_url) else None


# ---------------------------------------------------------------------- pure helpers


def _notice_key(notice: str) -> str | None:
    key = f"notice_{notice}"
    return key if notice and key in STRINGS else None


def _from(numbered: list[tuple[int, Any]], source: FindingSource) -> list[tuple[int, Any]]:
    return [(n, f) for n, f in numbered if f.source is source]


def _safe_image_url(url: str | None) -> bool:
    """Same-origin paths, http(s) and inline raster images; never javascript: and the like."""
    if not url:
        return False
    if url.startswith("/") and not url.startswith("//"):
        return True
    lowered = url.lower()
    return lowered.startswith(("https://", "http://")) or any(
        lowered.startswith(f"data:{media};base64,") for media in _PREVIEW_TYPES
    )
