"""The review queue service: enqueue, list, claim (a lease), release, decide, audit.

Every write is one transaction ending in a compare-and-set on the task's ``version``
(``UPDATE … WHERE id = :id AND version = :seen``), so of fifty reviewers claiming the
same task at once exactly one wins, on SQLite and on PostgreSQL alike. Hooks run after
the commit: ``on_event`` for each audit event (the gateway appends them to the ledger),
then ``on_final_decision`` once a task is approved or rejected for good (the gateway
resumes the pipeline: stamping, ledger, webhook)::

    service = ReviewService(engine, ReviewSettings(), on_final_decision=resume_pipeline,
                            on_event=append_to_ledger)
    task = service.enqueue(generation_id="gen_1", tenant="acme", kind=ContentKind.TEXT,
                           prompt="…", output_text="…", findings=findings,
                           policy_name="cn-marketing", policy_version="3",
                           reason_codes={"ad_law.absolute_term": "广告法 第九条"})
    service.claim(task.id, reviewer="rev_1", tenant="acme")
    service.decide(task.id, reviewer="rev_1", tenant="acme", decision="approve")
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from common.errors import InvalidInputError
from common.types import ContentKind
from review_ui.cursor import QueuePosition, decode_cursor, encode_cursor
from review_ui.interface import (
    DecisionOutcome,
    EscalationNotAllowedError,
    FinalOutcome,
    FindingSource,
    QueueMetric,
    ReasonCode,
    ReasonCodeRequiredError,
    ReviewDecision,
    ReviewerStats,
    ReviewEvent,
    ReviewEventKind,
    ReviewFinding,
    ReviewStats,
    ReviewTaskView,
    SeniorReviewerRequiredError,
    TaskConflictError,
    TaskId,
    TaskNotFoundError,
    TaskPage,
    TaskStatus,
    UnknownReasonCodeError,
)
from review_ui.models import (
    CATEGORIES_TABLE,
    DECISIONS_TABLE,
    EVENTS_TABLE,
    SIGNED_OUT_TABLE,
    TASKS_TABLE,
)
from review_ui.settings import ReviewSettings

__all__ = ["MAX_NOTE_CHARS", "ReviewService", "priority_from_findings", "utc_now"]

MAX_NOTE_CHARS = 4000
_log = logging.getLogger(__name__)
_CAS_ATTEMPTS = 5  # re-read and retry a compare-and-set lost to a concurrent writer

_TASKS = TASKS_TABLE
_CATEGORIES = CATEGORIES_TABLE
_DECISIONS = DECISIONS_TABLE
_EVENTS = EVENTS_TABLE

FinalDecisionHook = Callable[[DecisionOutcome], None]
EventHook = Callable[[ReviewEvent], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


def priority_from_findings(findings: Sequence[ReviewFinding]) -> int:
    """0-100 from the most severe finding's score: the surest problems are seen first."""
    return round(max((f.score for f in findings), default=0.0) * 100)


@dataclass(frozen=True, slots=True)
class _Write:
    """What one transaction changed: the new task row and the events it recorded."""

    task: Mapping[str, Any]
    events: tuple[ReviewEvent, ...]


class ReviewService:
    """The only way to change review tasks; the HTTP API and the reviewer UI both call it."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: ReviewSettings | None = None,
        on_final_decision: FinalDecisionHook | None = None,
        *,
        on_event: EventHook | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self.settings = settings or ReviewSettings()
        self._on_final_decision = on_final_decision
        self._on_event = on_event
        self._clock = clock

    # ------------------------------------------------------------------ enqueue

    def enqueue(
        self,
        *,
        generation_id: str,
        tenant: str,
        kind: ContentKind | str,
        prompt: str | None,
        findings: Iterable[ReviewFinding | Mapping[str, Any] | object],
        policy_name: str,
        policy_version: str,
        reason_codes: Mapping[str, str] | Sequence[str | ReasonCode | Mapping[str, Any] | object],
        output_text: str | None = None,
        image_url: str | None = None,
        double_review: bool | None = None,
        priority: int | None = None,
        queue: str | None = None,
    ) -> ReviewTaskView:
        """Put one generation in front of reviewers; returns the new pending task.

        ``double_review=None`` lets ``settings.double_review_categories`` decide;
        ``priority=None`` derives 0-100 from the highest finding score. ``reason_codes``
        are the policy's (strings, code → description, or objects/mappings with code,
        clause, zh, en); an empty list falls back to ``settings.fallback_reason_codes``.
        Findings say which text their span points into with ``source`` (prompt|output)
        or moderation's ``direction`` (input|output); a span outside its text is dropped
        (logged) rather than highlighting the wrong characters.
        """
        prompt = prompt or ""
        normalized = _without_bad_spans(
            tuple(ReviewFinding.coerce(f) for f in findings), prompt, output_text
        )
        codes = _normalize_reason_codes(reason_codes) or tuple(
            ReasonCode(code) for code in self.settings.fallback_reason_codes
        )
        now = self._now_db()
        row: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "tenant": tenant,
            "generation_id": generation_id,
            "queue": queue or self.settings.default_queue,
            "status": TaskStatus.PENDING.value,
            "priority": priority if priority is not None else priority_from_findings(normalized),
            "kind": ContentKind(kind).value,
            "prompt": prompt,
            "output_text": output_text,
            "image_url": image_url,
            "findings": [f.to_dict() for f in normalized],
            "policy_name": policy_name,
            "policy_version": policy_version,
            "reason_codes": [c.to_dict() for c in codes],
            "double_review": (
                self._needs_double_review(normalized) if double_review is None else double_review
            ),
            "created_at": now,
            "version": 0,
        }
        with self._engine.begin() as conn:
            row = self._insert_task(conn, row)
            event = self._record(conn, row, ReviewEventKind.ENQUEUED, now)
        self._emit((event,))
        return self._view(row)

    # ------------------------------------------------------------------ reads

    def get(self, task_id: str, tenant: str) -> ReviewTaskView:
        """One task of this tenant; another tenant's id is :class:`TaskNotFoundError`."""
        with self._engine.connect() as conn:
            return self._view(self._load(conn, task_id, tenant))

    def list_tasks(
        self,
        tenant: str,
        *,
        status: TaskStatus | str | Collection[TaskStatus | str] | None = None,
        queue: str | None = None,
        category: str | None = None,
        older_than_s: float | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> TaskPage:
        """Tasks of one tenant, most urgent first (priority, then oldest).

        ``status`` filters by the status callers see (a lapsed claim counts as pending);
        ``category`` matches exactly or as a dotted prefix (``ad_law`` matches
        ``ad_law.absolute_term``); ``older_than_s`` keeps tasks at least that old.
        """
        page_size = self._page_size(limit)
        now = self._now_db()
        query = sa.select(_TASKS).where(_TASKS.c.tenant == tenant)
        for condition in self._filters(status, queue, category, older_than_s, now):
            query = query.where(condition)
        if cursor:
            query = query.where(_after(decode_cursor(cursor)))
        query = query.order_by(
            _TASKS.c.priority.desc(), _TASKS.c.created_at.asc(), _TASKS.c.id.asc()
        ).limit(page_size + 1)
        with self._engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        items = tuple(self._view(r) for r in rows[:page_size])
        next_cursor = None
        if len(rows) > page_size:
            last = rows[page_size - 1]
            next_cursor = encode_cursor(
                QueuePosition(last["priority"], last["created_at"], last["id"])
            )
        return TaskPage(items=items, next_cursor=next_cursor)

    def history(self, task_id: str, tenant: str) -> tuple[ReviewEvent, ...]:
        """Audit events of a task and of the tasks it was escalated from, oldest first."""
        with self._engine.connect() as conn:
            task_ids = self._lineage(conn, self._load(conn, task_id, tenant))
            rows = conn.execute(
                sa.select(_EVENTS).where(_EVENTS.c.task_id.in_(task_ids)).order_by(_EVENTS.c.id)
            )
            return tuple(_event_from_row(dict(r._mapping)) for r in rows)

    def sign_out(self, nonce: str, expires_at: float, *, now: float) -> None:
        """Refuse the session ``nonce`` from now until it would have expired anyway.

        ``now`` and ``expires_at`` are unix seconds on the session codec's clock.
        """
        with self._engine.begin() as conn:
            # Sessions past their expiry are refused by the cookie itself: forget them.
            conn.execute(sa.delete(SIGNED_OUT_TABLE).where(SIGNED_OUT_TABLE.c.expires_at < now))
            already = conn.execute(
                sa.select(SIGNED_OUT_TABLE.c.nonce).where(SIGNED_OUT_TABLE.c.nonce == nonce)
            ).first()
            if already is None:
                conn.execute(
                    sa.insert(SIGNED_OUT_TABLE).values(nonce=nonce, expires_at=int(expires_at))
                )

    def is_signed_out(self, nonce: str) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(SIGNED_OUT_TABLE.c.nonce).where(SIGNED_OUT_TABLE.c.nonce == nonce)
            ).first()
        return found is not None

    def votes_for_generation(self, generation_id: str, tenant: str) -> tuple[ReviewEvent, ...]:
        """Every reviewer's vote on a generation, across its tasks, oldest first."""
        tasks = sa.select(_TASKS.c.id).where(
            _TASKS.c.generation_id == generation_id, _TASKS.c.tenant == tenant
        )  # through the tasks' indexed generation_id, not a scan of every event
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(_EVENTS)
                .where(
                    _EVENTS.c.task_id.in_(tasks),
                    _EVENTS.c.kind == ReviewEventKind.DECIDED.value,
                )
                .order_by(_EVENTS.c.id)
            )
            return tuple(_event_from_row(dict(r._mapping)) for r in rows)

    def final_outcome(self, task_id: str, tenant: str) -> DecisionOutcome | None:
        """The outcome of a settled (approved or rejected) task, None while undecided.

        For replaying ``on_final_decision`` when it failed after the commit (say, stamping
        broke): the decision stands, and the gateway can resume the pipeline again.
        """
        with self._engine.connect() as conn:
            row = self._load(conn, task_id, tenant)
            if row["status"] not in (TaskStatus.APPROVED, TaskStatus.REJECTED):
                return None
            votes = conn.execute(
                sa.select(_DECISIONS.c.reviewer, _DECISIONS.c.decision)
                .where(_DECISIONS.c.task_id == task_id)
                .order_by(_DECISIONS.c.id)
            ).all()
        final = FinalOutcome(row["status"])
        return self._outcome(
            row,
            final,
            ReviewDecision(votes[-1][1]),
            row["final_reason_code"],
            row["final_note"],
            tuple(reviewer for reviewer, _ in votes),
            row["decided_at"],
        )

    # ------------------------------------------------------------------ claims

    def claim(
        self, task_id: str, *, reviewer: str, tenant: str, senior: bool = False
    ) -> ReviewTaskView:
        """Take (or renew) the lease on a task for ``settings.lease_s`` seconds.

        Raises :class:`TaskConflictError` when someone else holds a live lease, the task
        is decided, or the reviewer already voted on this item (the first vote of a double
        review, or the decision that escalated it); :class:`SeniorReviewerRequiredError`
        when a task of the senior queue is claimed without the ``senior`` capability.
        """

        def transition(conn: sa.Connection, row: Mapping[str, Any]) -> _Write:
            now = self._now_db()
            if row["queue"] == self.settings.senior_queue and not senior:
                raise SeniorReviewerRequiredError(
                    "the senior queue needs a senior reviewer (role senior or admin)"
                )
            problem = _claim_problem(row, reviewer, now) or self._earlier_voter_problem(
                conn, row, reviewer
            )
            if problem:
                raise TaskConflictError(problem, details=_conflict_details(row, now))
            lease = now + timedelta(seconds=self.settings.lease_s)
            events = []
            kind = ReviewEventKind.CLAIMED
            if row["status"] == TaskStatus.CLAIMED and _lease_lapsed(row, now):
                events.append(
                    self._record(
                        conn, row, ReviewEventKind.LEASE_EXPIRED, now, reviewer=row["claimed_by"]
                    )
                )
            elif row["status"] == TaskStatus.CLAIMED:
                kind = ReviewEventKind.CLAIM_RENEWED
            new = self._cas(
                conn,
                row,
                status=TaskStatus.CLAIMED.value,
                claimed_by=reviewer,
                lease_expires_at=lease,
            )
            events.append(
                self._record(conn, new, kind, now, reviewer=reviewer, lease_expires_at=lease)
            )
            return _Write(new, tuple(events))

        write = self._transact(task_id, tenant, transition)
        self._emit(write.events)
        return self._view(write.task)

    def release(self, task_id: str, *, reviewer: str, tenant: str) -> ReviewTaskView:
        """Give a claimed task back to the queue; only its holder may."""

        def transition(conn: sa.Connection, row: Mapping[str, Any]) -> _Write:
            now = self._now_db()
            if row["status"] != TaskStatus.CLAIMED or row["claimed_by"] != reviewer:
                raise TaskConflictError(
                    "only the reviewer holding the claim can release it",
                    details=_conflict_details(row, now),
                )
            new = self._cas(
                conn, row, status=TaskStatus.PENDING.value, claimed_by=None, lease_expires_at=None
            )
            return _Write(
                new, (self._record(conn, new, ReviewEventKind.RELEASED, now, reviewer=reviewer),)
            )

        write = self._transact(task_id, tenant, transition)
        self._emit(write.events)
        return self._view(write.task)

    def expire_leases(self) -> int:
        """Put every lapsed claim back to pending with a ``lease_expired`` event.

        Reads already treat lapsed claims as pending; this sweep only makes the audit
        trail say when. Safe to run from a periodic job. Returns how many it expired.
        """
        now = self._now_db()
        with self._engine.connect() as conn:
            lapsed = conn.execute(
                sa.select(_TASKS.c.id, _TASKS.c.tenant).where(
                    _TASKS.c.status == TaskStatus.CLAIMED, _TASKS.c.lease_expires_at <= now
                )
            ).all()
        expired = 0
        for task_id, tenant in lapsed:
            try:
                self._transact(task_id, tenant, self._expire_transition)
            except TaskConflictError:
                continue  # renewed or decided meanwhile
            expired += 1
        return expired

    def _expire_transition(self, conn: sa.Connection, row: Mapping[str, Any]) -> _Write:
        now = self._now_db()
        if row["status"] != TaskStatus.CLAIMED or not _lease_lapsed(row, now):
            raise TaskConflictError("the lease is live again")
        new = self._cas(
            conn, row, status=TaskStatus.PENDING.value, claimed_by=None, lease_expires_at=None
        )
        event = self._record(
            conn, row, ReviewEventKind.LEASE_EXPIRED, now, reviewer=row["claimed_by"]
        )
        return _Write(new, (event,))

    # ------------------------------------------------------------------ decisions

    def decide(
        self,
        task_id: str,
        *,
        reviewer: str,
        tenant: str,
        decision: ReviewDecision | str,
        reason_code: str | None = None,
        note: str | None = None,
    ) -> DecisionOutcome:
        """Record the claim holder's decision and say what it did.

        Single review: approve/reject settle the task. Double review: the first vote
        sends the task back to pending for a second, distinct reviewer; agreement
        settles it, disagreement escalates it to the senior queue. ``escalate`` always
        moves the task to the senior queue (as a new task; this one ends ``escalated``).
        ``on_final_decision`` runs after the commit when the outcome settles the
        generation (approved or rejected).
        """
        vote = _parse_decision(decision)
        note = _check_note(note)
        outcome_box: list[DecisionOutcome] = []

        def transition(conn: sa.Connection, row: Mapping[str, Any]) -> _Write:
            now = self._now_db()
            self._check_can_decide(row, reviewer, vote, reason_code, now)
            write, outcome = self._apply_vote(conn, row, reviewer, vote, reason_code, note, now)
            outcome_box[:] = [outcome]
            return write

        write = self._transact(task_id, tenant, transition)
        self._emit(write.events)
        outcome = outcome_box[0]
        if outcome.final.settles_generation and self._on_final_decision is not None:
            self._on_final_decision(outcome)
        return outcome

    def _check_can_decide(
        self,
        row: Mapping[str, Any],
        reviewer: str,
        vote: ReviewDecision,
        reason_code: str | None,
        now: datetime,
    ) -> None:
        if not TaskStatus(row["status"]).is_open:
            raise TaskConflictError(
                f"the task is already {row['status']}", details=_conflict_details(row, now)
            )
        holds_claim = row["status"] == TaskStatus.CLAIMED and row["claimed_by"] == reviewer
        if not holds_claim or _lease_lapsed(row, now):
            raise TaskConflictError(
                "claim the task before deciding it (or your lease lapsed)",
                details=_conflict_details(row, now),
            )
        allowed = {c["code"] for c in row["reason_codes"]}
        if reason_code is not None and reason_code not in allowed:
            raise UnknownReasonCodeError(
                f"unknown reason code {reason_code!r}", details={"allowed": sorted(allowed)}
            )
        if vote is not ReviewDecision.APPROVE and reason_code is None:
            raise ReasonCodeRequiredError(
                f"{vote} needs a reason code", details={"allowed": sorted(allowed)}
            )
        if vote is ReviewDecision.ESCALATE and row["queue"] == self.settings.senior_queue:
            raise EscalationNotAllowedError("the task is already in the senior queue")

    def _apply_vote(
        self,
        conn: sa.Connection,
        row: Mapping[str, Any],
        reviewer: str,
        vote: ReviewDecision,
        reason_code: str | None,
        note: str | None,
        now: datetime,
    ) -> tuple[_Write, DecisionOutcome]:
        second_vote = bool(row["double_review"] and row["first_reviewer"])
        self._insert_decision(
            conn, row, reviewer, vote, reason_code, note, now, round_no=2 if second_vote else 1
        )
        voted = self._record(
            conn,
            row,
            ReviewEventKind.DECIDED,
            now,
            reviewer=reviewer,
            decision=vote,
            reason_code=reason_code,
            note=note,
        )
        reviewers = (row["first_reviewer"], reviewer) if second_vote else (reviewer,)
        disagree = second_vote and row["first_decision"] != vote.value
        if vote is ReviewDecision.ESCALATE or disagree:
            return self._escalate(conn, row, voted, reviewers, vote, reason_code, note, now)
        if row["double_review"] and not second_vote:
            new = self._cas(
                conn,
                row,
                status=TaskStatus.PENDING.value,
                claimed_by=None,
                lease_expires_at=None,
                first_reviewer=reviewer,
                first_decision=vote.value,
            )
            outcome = self._outcome(
                new, FinalOutcome.AWAITING_SECOND_REVIEW, vote, reason_code, note, reviewers, now
            )
            return _Write(new, (voted,)), outcome
        final = FinalOutcome.APPROVED if vote is ReviewDecision.APPROVE else FinalOutcome.REJECTED
        new = self._cas(
            conn,
            row,
            status=final.value,
            lease_expires_at=None,
            decided_at=now,
            final_reason_code=reason_code,
            final_note=note,
        )
        settled = self._record(
            conn,
            new,
            ReviewEventKind.FINALIZED,
            now,
            reviewer=reviewer,
            decision=vote,
            reason_code=reason_code,
        )
        outcome = self._outcome(new, final, vote, reason_code, note, reviewers, now)
        return _Write(new, (voted, settled)), outcome

    def _escalate(
        self,
        conn: sa.Connection,
        row: Mapping[str, Any],
        voted: ReviewEvent,
        reviewers: tuple[str, ...],
        vote: ReviewDecision,
        reason_code: str | None,
        note: str | None,
        now: datetime,
    ) -> tuple[_Write, DecisionOutcome]:
        """End this task ``escalated`` and open a fresh one in the senior queue."""
        senior = {
            **{k: row[k] for k in row},
            "id": uuid.uuid4().hex,
            "queue": self.settings.senior_queue,
            "status": TaskStatus.PENDING.value,
            "double_review": False,  # a senior decides alone
            "claimed_by": None,
            "lease_expires_at": None,
            "first_reviewer": None,
            "first_decision": None,
            "decided_at": None,
            "final_reason_code": None,
            "final_note": None,
            "escalated_from": row["id"],
            "escalated_to": None,
            "created_at": now,
            "version": 0,
        }
        senior = self._insert_task(conn, senior)
        new = self._cas(
            conn,
            row,
            status=TaskStatus.ESCALATED.value,
            lease_expires_at=None,
            decided_at=now,
            final_reason_code=reason_code,
            final_note=note,
            escalated_to=senior["id"],
        )
        moved = self._record(
            conn,
            new,
            ReviewEventKind.ESCALATED,
            now,
            reviewer=reviewers[-1],
            decision=vote,
            reason_code=reason_code,
            related_task_id=senior["id"],
        )
        opened = self._record(
            conn, senior, ReviewEventKind.ENQUEUED, now, related_task_id=row["id"]
        )
        outcome = self._outcome(
            new,
            FinalOutcome.ESCALATED,
            vote,
            reason_code,
            note,
            reviewers,
            now,
            escalated_to=TaskId(senior["id"]),
        )
        return _Write(new, (voted, moved, opened)), outcome

    # ------------------------------------------------------------------ ops

    def stats(
        self,
        *,
        tenant: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> ReviewStats:
        """Throughput, double-review agreement and per-reviewer counts (all tenants by
        default). Throughput is settled tasks per hour over [since, until]; without
        ``since`` the window starts at the first vote."""
        end = _to_db(until) if until else self._now_db()
        start = _to_db(since) if since else None
        with self._engine.connect() as conn:
            votes = _window_votes(conn, tenant, start, end)
            outcomes = _window_outcomes(conn, tenant, start, end)
            pairs = _double_review_pairs(conn, [v for v in votes if v["round"] == 2])
        window_start = start or min((v["created_at"] for v in votes), default=None)
        settled = outcomes.get("approved", 0) + outcomes.get("rejected", 0)
        return ReviewStats(
            since=_from_db(window_start) if window_start else None,
            until=_from_db(end),
            votes=len(votes),
            settled=settled,
            approved=outcomes.get("approved", 0),
            rejected=outcomes.get("rejected", 0),
            escalated=outcomes.get("escalated", 0),
            throughput_per_hour=_per_hour(settled, window_start, end),
            double_review_pairs=len(pairs),
            agreements=sum(1 for first, second in pairs if first == second),
            per_reviewer=_per_reviewer(votes),
        )

    def queue_metrics(self) -> tuple[QueueMetric, ...]:
        """Open-task depth (pending, claimed) and oldest age per queue, all tenants."""
        now = self._now_db()
        live_claim = sa.and_(_TASKS.c.status == TaskStatus.CLAIMED, _TASKS.c.lease_expires_at > now)
        query = (
            sa.select(
                _TASKS.c.queue,
                sa.func.sum(sa.case((live_claim, 0), else_=1)),
                sa.func.sum(sa.case((live_claim, 1), else_=0)),
                sa.func.min(_TASKS.c.created_at),
            )
            .where(_TASKS.c.status.in_([TaskStatus.PENDING, TaskStatus.CLAIMED]))
            .group_by(_TASKS.c.queue)
        )
        with self._engine.connect() as conn:
            found = {
                q: QueueMetric(q, int(p), int(c), max(0.0, (now - oldest).total_seconds()))
                for q, p, c, oldest in conn.execute(query)
            }
        for name in (self.settings.default_queue, self.settings.senior_queue):
            found.setdefault(name, QueueMetric(name, 0, 0, 0.0))
        return tuple(found[q] for q in sorted(found))

    def queues(self, tenant: str) -> tuple[str, ...]:
        """Every queue name this tenant has tasks in, plus the default and senior queues."""
        query = sa.select(_TASKS.c.queue).where(_TASKS.c.tenant == tenant).distinct()
        with self._engine.connect() as conn:
            found = set(conn.execute(query).scalars())
        return tuple(sorted(found | {self.settings.default_queue, self.settings.senior_queue}))

    def neighbours(
        self, task_id: str, tenant: str, *, queue: str | None = None
    ) -> tuple[TaskId | None, TaskId | None]:
        """The open tasks before and after this one in queue order (the UI's j/k)."""
        with self._engine.connect() as conn:
            row = self._load(conn, task_id, tenant)
        here = QueuePosition(row["priority"], row["created_at"], row["id"])
        open_now = self._filters(
            [TaskStatus.PENDING, TaskStatus.CLAIMED], queue, None, None, self._now_db()
        )
        base = sa.select(_TASKS.c.id).where(_TASKS.c.tenant == tenant, *open_now)
        forward = (_TASKS.c.priority.desc(), _TASKS.c.created_at.asc(), _TASKS.c.id.asc())
        backward = (_TASKS.c.priority.asc(), _TASKS.c.created_at.desc(), _TASKS.c.id.desc())
        with self._engine.connect() as conn:
            after = conn.execute(base.where(_after(here)).order_by(*forward).limit(1)).scalar()
            before = conn.execute(base.where(_before(here)).order_by(*backward).limit(1)).scalar()
        return (TaskId(before) if before else None, TaskId(after) if after else None)

    def next_claimable(
        self, tenant: str, reviewer: str, *, queue: str | None = None, senior: bool = False
    ) -> ReviewTaskView | None:
        """Claim the most urgent task this reviewer may take, or None when there is none."""
        cursor: str | None = None
        while True:
            page = self.list_tasks(
                tenant,
                status=TaskStatus.PENDING,
                queue=queue,
                cursor=cursor,
                limit=self.settings.max_page_size,
            )
            for task in page.items:
                if task.first_reviewer == reviewer:
                    continue  # double review: the second vote must be someone else's
                if task.queue == self.settings.senior_queue and not senior:
                    continue
                try:
                    return self.claim(task.id, reviewer=reviewer, tenant=tenant, senior=senior)
                except TaskConflictError:
                    continue  # taken by someone faster, or one this reviewer voted on
            if page.next_cursor is None:
                return None
            cursor = page.next_cursor

    def now(self) -> datetime:
        """The service's clock (aware UTC); pages use it for ages so tests can move time."""
        return _to_db(self._clock())

    # ------------------------------------------------------------------ internals

    def _now_db(self) -> datetime:
        return _to_db(self._clock())

    def _page_size(self, limit: int | None) -> int:
        if limit is None:
            return self.settings.page_size
        if not 1 <= limit <= self.settings.max_page_size:
            raise InvalidInputError(f"limit must be between 1 and {self.settings.max_page_size}")
        return limit

    def _needs_double_review(self, findings: Sequence[ReviewFinding]) -> bool:
        return any(
            _category_matches(f.category, prefix)
            for f in findings
            for prefix in self.settings.double_review_categories
        )

    def _filters(
        self,
        status: TaskStatus | str | Collection[TaskStatus | str] | None,
        queue: str | None,
        category: str | None,
        older_than_s: float | None,
        now: datetime,
    ) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            conditions.append(sa.or_(*(_status_is(_parse_status(s), now) for s in wanted)))
        if queue:
            conditions.append(_TASKS.c.queue == queue)
        if category:
            conditions.append(_has_category(category))
        if older_than_s is not None:
            conditions.append(_TASKS.c.created_at <= now - timedelta(seconds=older_than_s))
        return conditions

    def _transact(
        self,
        task_id: str,
        tenant: str,
        transition: Callable[[sa.Connection, Mapping[str, Any]], _Write],
    ) -> _Write:
        """Read the task, apply ``transition`` and commit; retry when a concurrent writer
        won the compare-and-set, so the transition re-checks the fresh row."""
        for _ in range(_CAS_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    return transition(conn, self._load(conn, task_id, tenant))
            except _LostRaceError:
                continue
        raise TaskConflictError("the task changed concurrently; try again")

    def _load(self, conn: sa.Connection, task_id: str, tenant: str) -> dict[str, Any]:
        row = conn.execute(
            sa.select(_TASKS).where(_TASKS.c.id == task_id, _TASKS.c.tenant == tenant)
        ).first()
        if row is None:
            raise TaskNotFoundError(f"no review task {task_id!r}")
        return dict(row._mapping)

    def _cas(self, conn: sa.Connection, row: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
        """Apply ``changes`` only if nobody wrote the task since we read it."""
        new = {**row, **changes, "version": row["version"] + 1}
        result = conn.execute(
            sa.update(_TASKS)
            .where(_TASKS.c.id == row["id"], _TASKS.c.version == row["version"])
            .values(**changes, version=new["version"])
        )
        if result.rowcount != 1:
            raise _LostRaceError
        return new

    def _insert_task(self, conn: sa.Connection, values: Mapping[str, Any]) -> dict[str, Any]:
        """Insert a task; returns the full row (columns not given are NULL)."""
        row = {column.name: values.get(column.name) for column in _TASKS.columns}
        conn.execute(sa.insert(_TASKS).values(**row))
        categories = sorted({f["category"] for f in values["findings"] if f["category"]})
        if categories:
            conn.execute(
                sa.insert(_CATEGORIES),
                [{"task_id": row["id"], "category": c} for c in categories],
            )
        return row

    def _earlier_voter_problem(
        self, conn: sa.Connection, row: Mapping[str, Any], reviewer: str
    ) -> str | None:
        """Four eyes: whoever decided or escalated the tasks this one came from may not
        cast its next vote (the escalation chain is followed back to the first task)."""
        earlier = row["escalated_from"]
        while earlier is not None:
            voters = conn.execute(
                sa.select(_DECISIONS.c.reviewer).where(_DECISIONS.c.task_id == earlier)
            ).scalars()
            if reviewer in set(voters):
                return "you already voted on this item; another reviewer must decide it"
            earlier = conn.execute(
                sa.select(_TASKS.c.escalated_from).where(_TASKS.c.id == earlier)
            ).scalar_one_or_none()
        return None

    def _insert_decision(
        self,
        conn: sa.Connection,
        row: Mapping[str, Any],
        reviewer: str,
        vote: ReviewDecision,
        reason_code: str | None,
        note: str | None,
        now: datetime,
        *,
        round_no: int,
    ) -> None:
        conn.execute(
            sa.insert(_DECISIONS).values(
                task_id=row["id"],
                tenant=row["tenant"],
                reviewer=reviewer,
                decision=vote.value,
                reason_code=reason_code,
                note=note,
                round=round_no,
                double_review=row["double_review"],
                created_at=now,
                policy_version=row["policy_version"],
            )
        )

    def _record(
        self,
        conn: sa.Connection,
        row: Mapping[str, Any],
        kind: ReviewEventKind,
        now: datetime,
        *,
        reviewer: str | None = None,
        decision: ReviewDecision | None = None,
        reason_code: str | None = None,
        note: str | None = None,
        lease_expires_at: datetime | None = None,
        related_task_id: str | None = None,
    ) -> ReviewEvent:
        values = {
            "task_id": row["id"],
            "tenant": row["tenant"],
            "generation_id": row["generation_id"],
            "kind": kind.value,
            "reviewer": reviewer,
            "at": now,
            "queue": row["queue"],
            "policy_name": row["policy_name"],
            "policy_version": row["policy_version"],
            "decision": decision.value if decision else None,
            "reason_code": reason_code,
            "note": note,
            "lease_expires_at": lease_expires_at,
            "related_task_id": related_task_id,
        }
        result = conn.execute(sa.insert(_EVENTS).values(**values))
        primary_key = result.inserted_primary_key
        event_id = int(primary_key[0]) if primary_key else 0
        return _event_from_row({**values, "id": event_id})

    def _lineage(self, conn: sa.Connection, row: Mapping[str, Any]) -> list[str]:
        ids = [row["id"]]
        parent = row["escalated_from"]
        while parent and parent not in ids:
            ids.append(parent)
            parent = conn.execute(
                sa.select(_TASKS.c.escalated_from).where(_TASKS.c.id == parent)
            ).scalar()
        return ids

    def _outcome(
        self,
        row: Mapping[str, Any],
        final: FinalOutcome,
        vote: ReviewDecision,
        reason_code: str | None,
        note: str | None,
        reviewers: tuple[str, ...],
        now: datetime,
        *,
        escalated_to: TaskId | None = None,
    ) -> DecisionOutcome:
        return DecisionOutcome(
            task_id=TaskId(row["id"]),
            generation_id=row["generation_id"],
            tenant=row["tenant"],
            final=final,
            decision=vote,
            reason_code=reason_code,
            note=note,
            reviewers=reviewers,
            policy_name=row["policy_name"],
            policy_version=row["policy_version"],
            decided_at=_from_db(now),
            escalated_to=escalated_to,
        )

    def _emit(self, events: Iterable[ReviewEvent]) -> None:
        if self._on_event is None:
            return
        for event in events:
            self._on_event(event)

    def _view(self, row: Mapping[str, Any]) -> ReviewTaskView:
        view = _view_from_row(row)
        if view.status is TaskStatus.CLAIMED and _lease_lapsed(row, self._now_db()):
            # A lapsed lease reads as pending even before the sweep records it.
            return replace(view, status=TaskStatus.PENDING, claimed_by=None, lease_expires_at=None)
        return view


class _LostRaceError(Exception):
    """A concurrent writer changed the task between our read and our write."""


# ---------------------------------------------------------------------- pure helpers


def _to_db(moment: datetime) -> datetime:
    """Aware UTC, what SQLModel's ``UTCDateTime`` columns take (naive means UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _from_db(moment: datetime) -> datetime:
    return _to_db(moment)


def _lease_lapsed(row: Mapping[str, Any], now: datetime) -> bool:
    lease = row["lease_expires_at"]
    return lease is None or _to_db(lease) <= now


def _claim_problem(row: Mapping[str, Any], reviewer: str, now: datetime) -> str | None:
    status = TaskStatus(row["status"])
    if not status.is_open:
        return f"the task is already {status}"
    held_by_other = status is TaskStatus.CLAIMED and row["claimed_by"] != reviewer
    if held_by_other and not _lease_lapsed(row, now):
        return f"the task is claimed by {row['claimed_by']}"
    if row["double_review"] and row["first_reviewer"] == reviewer:
        return "you cast the first vote; a second, different reviewer must decide"
    return None


def _conflict_details(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    live = row["status"] == TaskStatus.CLAIMED and not _lease_lapsed(row, now)
    return {
        "status": TaskStatus.PENDING.value
        if row["status"] == TaskStatus.CLAIMED and not live
        else row["status"],
        "claimed_by": row["claimed_by"] if live else None,
        "lease_expires_at": _from_db(row["lease_expires_at"]).isoformat() if live else None,
    }


def _parse_decision(decision: ReviewDecision | str) -> ReviewDecision:
    try:
        return ReviewDecision(decision)
    except ValueError as exc:
        raise InvalidInputError(
            f"decision must be one of {', '.join(d.value for d in ReviewDecision)}"
        ) from exc


def _parse_status(status: TaskStatus | str) -> TaskStatus:
    try:
        return TaskStatus(status)
    except ValueError as exc:
        raise InvalidInputError(
            f"status must be one of {', '.join(s.value for s in TaskStatus)}"
        ) from exc


def _check_note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInputError(f"a note has at most {MAX_NOTE_CHARS} characters")
    return note


def _normalize_reason_codes(
    codes: Mapping[str, str] | Sequence[str | ReasonCode | Mapping[str, Any] | object],
) -> tuple[ReasonCode, ...]:
    if isinstance(codes, str):
        raise InvalidInputError("reason_codes must be a list or a mapping, not one string")
    if isinstance(codes, Mapping):
        return tuple(ReasonCode(str(code), str(text)) for code, text in codes.items())
    return tuple(ReasonCode.coerce(code) for code in codes)


def _without_bad_spans(
    findings: tuple[ReviewFinding, ...], prompt: str, output: str | None
) -> tuple[ReviewFinding, ...]:
    kept = []
    for finding in findings:
        text = prompt if finding.source is FindingSource.PROMPT else (output or "")
        start, end = finding.span or (0, 1)
        if finding.span is not None and not 0 <= start < end <= len(text):
            _log.warning(
                "finding %s: span %s lies outside its %s text of %d characters; not highlighted",
                finding.category,
                finding.span,
                finding.source,
                len(text),
            )
            finding = replace(finding, span=None)
        kept.append(finding)
    return tuple(kept)


def _category_matches(category: str, wanted: str) -> bool:
    return category == wanted or category.startswith(wanted.rstrip(".") + ".")


def _has_category(category: str) -> sa.ColumnElement[bool]:
    escaped = category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.exists().where(
        _CATEGORIES.c.task_id == _TASKS.c.id,
        sa.or_(
            _CATEGORIES.c.category == category,
            _CATEGORIES.c.category.like(escaped.rstrip(".") + ".%", escape="\\"),
        ),
    )


def _status_is(status: TaskStatus, now: datetime) -> sa.ColumnElement[bool]:
    """The stored-status condition for the status callers see (lapsed claim = pending)."""
    lapsed = sa.and_(_TASKS.c.status == TaskStatus.CLAIMED, _TASKS.c.lease_expires_at <= now)
    if status is TaskStatus.PENDING:
        return sa.or_(_TASKS.c.status == TaskStatus.PENDING, lapsed)
    if status is TaskStatus.CLAIMED:
        return sa.and_(_TASKS.c.status == TaskStatus.CLAIMED, _TASKS.c.lease_expires_at > now)
    return _TASKS.c.status == status


def _after(pos: QueuePosition) -> sa.ColumnElement[bool]:
    """Keyset condition: strictly after ``pos`` in (priority desc, created_at, id) order."""
    t = _TASKS.c
    return sa.or_(
        t.priority < pos.priority,
        sa.and_(t.priority == pos.priority, t.created_at > pos.created_at),
        sa.and_(t.priority == pos.priority, t.created_at == pos.created_at, t.id > pos.task_id),
    )


def _before(pos: QueuePosition) -> sa.ColumnElement[bool]:
    """Keyset condition: strictly before ``pos`` in queue order."""
    t = _TASKS.c
    return sa.or_(
        t.priority > pos.priority,
        sa.and_(t.priority == pos.priority, t.created_at < pos.created_at),
        sa.and_(t.priority == pos.priority, t.created_at == pos.created_at, t.id < pos.task_id),
    )


def _view_from_row(row: Mapping[str, Any]) -> ReviewTaskView:
    return ReviewTaskView(
        id=TaskId(row["id"]),
        generation_id=row["generation_id"],
        tenant=row["tenant"],
        queue=row["queue"],
        status=TaskStatus(row["status"]),
        priority=row["priority"],
        findings=tuple(ReviewFinding.coerce(f) for f in row["findings"]),
        policy_name=row["policy_name"],
        policy_version=row["policy_version"],
        reason_codes=tuple(ReasonCode.coerce(c) for c in row["reason_codes"]),
        double_review=bool(row["double_review"]),
        claimed_by=row["claimed_by"],
        lease_expires_at=_from_db(row["lease_expires_at"]) if row["lease_expires_at"] else None,
        created_at=_from_db(row["created_at"]),
        decided_at=_from_db(row["decided_at"]) if row["decided_at"] else None,
        kind=ContentKind(row["kind"]),
        prompt=row["prompt"],
        output_text=row["output_text"],
        image_url=row["image_url"],
        first_reviewer=row["first_reviewer"],
        final_reason_code=row["final_reason_code"],
        final_note=row["final_note"],
        escalated_from=TaskId(row["escalated_from"]) if row["escalated_from"] else None,
        escalated_to=TaskId(row["escalated_to"]) if row["escalated_to"] else None,
    )


def _event_from_row(row: Mapping[str, Any]) -> ReviewEvent:
    return ReviewEvent(
        id=int(row["id"]),
        task_id=TaskId(row["task_id"]),
        generation_id=row["generation_id"],
        tenant=row["tenant"],
        kind=ReviewEventKind(row["kind"]),
        reviewer=row["reviewer"],
        at=_from_db(row["at"]),
        queue=row["queue"],
        policy_name=row["policy_name"],
        policy_version=row["policy_version"],
        decision=ReviewDecision(row["decision"]) if row["decision"] else None,
        reason_code=row["reason_code"],
        note=row["note"],
        lease_expires_at=_from_db(row["lease_expires_at"]) if row["lease_expires_at"] else None,
        related_task_id=TaskId(row["related_task_id"]) if row["related_task_id"] else None,
    )


def _window_votes(
    conn: sa.Connection, tenant: str | None, start: datetime | None, end: datetime
) -> list[dict[str, Any]]:
    query = sa.select(_DECISIONS).where(_DECISIONS.c.created_at <= end)
    if start is not None:
        query = query.where(_DECISIONS.c.created_at >= start)
    if tenant is not None:
        query = query.where(_DECISIONS.c.tenant == tenant)
    return [dict(r._mapping) for r in conn.execute(query)]


def _window_outcomes(
    conn: sa.Connection, tenant: str | None, start: datetime | None, end: datetime
) -> dict[str, int]:
    query = (
        sa.select(_TASKS.c.status, sa.func.count())
        .where(_TASKS.c.decided_at.is_not(None), _TASKS.c.decided_at <= end)
        .group_by(_TASKS.c.status)
    )
    if start is not None:
        query = query.where(_TASKS.c.decided_at >= start)
    if tenant is not None:
        query = query.where(_TASKS.c.tenant == tenant)
    return {status: int(count) for status, count in conn.execute(query)}


def _double_review_pairs(
    conn: sa.Connection, second_votes: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """(first decision, second decision) for every double review finished in the window."""
    if not second_votes:
        return []
    query = sa.select(_DECISIONS.c.task_id, _DECISIONS.c.decision).where(
        _DECISIONS.c.round == 1,
        _DECISIONS.c.task_id.in_([v["task_id"] for v in second_votes]),
    )
    firsts = {row[0]: row[1] for row in conn.execute(query)}
    return [(firsts[v["task_id"]], v["decision"]) for v in second_votes if v["task_id"] in firsts]


def _per_reviewer(votes: list[dict[str, Any]]) -> tuple[ReviewerStats, ...]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for vote in votes:
        counts[vote["reviewer"]][vote["decision"]] += 1
    return tuple(
        ReviewerStats(reviewer, c["approve"], c["reject"], c["escalate"])
        for reviewer, c in sorted(counts.items())
    )


def _per_hour(count: int, start: datetime | None, end: datetime) -> float | None:
    if start is None:
        return None
    hours = (end - start).total_seconds() / 3600
    # A window shorter than a minute says nothing useful about a rate per hour.
    return count / max(hours, 1 / 60)
