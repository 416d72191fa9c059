"""The review queue service: enqueue, list, claim (a lease), release, decide, audit.

The rules live in :mod:`review_ui.transitions` as pure functions; this service loads a
task, asks the transition what changes, and stores the change in one transaction ending
in a compare-and-set on the task's ``version`` (``UPDATE … WHERE id = :id AND version =
:seen``, see :mod:`review_ui.store`), so of fifty reviewers claiming the same task at
once exactly one wins, on SQLite and on PostgreSQL alike. Hooks run after the commit:
``on_event`` for each audit event (the gateway appends them to the ledger), then
``on_final_decision`` once a task is approved or rejected for good (the gateway resumes
the pipeline: stamping, ledger, webhook)::

    service = ReviewService(engine, ReviewSettings(), on_final_decision=resume_pipeline,
                            on_event=append_to_ledger)
    task = service.enqueue(EnqueueRequest(
        generation_id="gen_1", tenant_id="acme", kind=ContentKind.TEXT, prompt="…",
        output_text="…", findings=findings, policy_name="cn-marketing", policy_version="3",
        reason_codes={"ad_law.absolute_term": "广告法 第九条"}))
    service.claim(task.id, reviewer="rev_1", tenant_id="acme")
    service.decide(task.id, reviewer="rev_1", tenant_id="acme", decision="approve")
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from common.errors import GatewayError, InvalidInputError
from review_ui import store, transitions
from review_ui.cursor import QueuePosition, decode_cursor, encode_cursor
from review_ui.dashboard import LeadDashboard, lead_dashboard
from review_ui.interface import (
    MAX_BULK_TASKS,
    BulkDecisionNotAllowedError,
    BulkDecisionRequest,
    BulkItemResult,
    DecisionOutcome,
    EnqueueRequest,
    QueueMetric,
    ReasonCodeRequiredError,
    ReviewDecision,
    ReviewEvent,
    ReviewEventKind,
    ReviewStats,
    ReviewTaskView,
    TaskConflictError,
    TaskId,
    TaskPage,
    TaskStatus,
)
from review_ui.models import SIGNED_OUT_TABLE, TASKS_TABLE
from review_ui.queries import (
    QUEUE_ORDER,
    REVERSE_QUEUE_ORDER,
    TaskFilter,
    after,
    before,
    task_filters,
    window_stats,
)
from review_ui.records import EventDraft, TaskRecord, to_utc, view_of
from review_ui.settings import ReviewSettings
from review_ui.transitions import (
    MAX_NOTE_CHARS,
    Change,
    ClaimRequest,
    DecideRequest,
    priority_from_findings,
)

__all__ = [
    "MAX_NOTE_CHARS",
    "EnqueueRequest",
    "ReviewService",
    "priority_from_findings",
    "utc_now",
]

_CAS_ATTEMPTS = 5  # re-read and retry a compare-and-set lost to a concurrent writer
_TASKS = TASKS_TABLE
_SIGNED_OUT = SIGNED_OUT_TABLE

FinalDecisionHook = Callable[[DecisionOutcome], None]
EventHook = Callable[[ReviewEvent], None]
# Given the open transaction and the task as read, what should change.
_Plan = Callable[[sa.Connection, TaskRecord], Change]


def utc_now() -> datetime:
    return datetime.now(UTC)


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

    def enqueue(self, request: EnqueueRequest) -> ReviewTaskView:
        """Put one generation in front of reviewers; returns the new pending task.

        :class:`EnqueueRequest` says how defaults are settled (double review, priority,
        queue, fallback reason codes) and what happens to spans outside their text.
        """
        now = self.now()
        task = transitions.new_task(request, uuid.uuid4().hex, now, self.settings)
        with self._engine.begin() as conn:
            store.insert_task(conn, task)
            event = store.insert_event(conn, EventDraft.about(task, ReviewEventKind.ENQUEUED, now))
        self._emit((event,))
        return self._view(task)

    # ------------------------------------------------------------------ reads

    def get(self, task_id: str, tenant_id: str) -> ReviewTaskView:
        """One task of this tenant; another tenant's id is :class:`TaskNotFoundError`."""
        with self._engine.connect() as conn:
            return self._view(store.load_task(conn, task_id, tenant_id))

    def list_tasks(
        self,
        tenant_id: str,
        *,
        status: TaskStatus | str | Collection[TaskStatus | str] | None = None,
        queue: str | None = None,
        category: str | None = None,
        older_than_s: float | None = None,
        kind: str | None = None,
        policy: str | None = None,
        search: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> TaskPage:
        """Tasks of one tenant, most urgent first (priority, then oldest).

        ``status`` filters by the status callers see (a lapsed claim counts as pending);
        ``category`` matches exactly or as a dotted prefix (``ad_law`` matches
        ``ad_law.absolute_term``); ``older_than_s`` keeps tasks at least that old;
        ``search`` finds a task or generation id, words of the prompt or output, or a
        category.
        """
        page_size = self._page_size(limit)
        wanted = TaskFilter(status, queue, category, older_than_s, kind, policy, search)
        query = sa.select(_TASKS).where(
            _TASKS.c.tenant == tenant_id, *task_filters(wanted, self.now())
        )
        if cursor:
            query = query.where(after(decode_cursor(cursor)))
        query = query.order_by(*QUEUE_ORDER).limit(page_size + 1)
        with self._engine.connect() as conn:
            tasks = [TaskRecord.from_row(r._mapping) for r in conn.execute(query)]
        items = tuple(self._view(task) for task in tasks[:page_size])
        more = len(tasks) > page_size
        next_cursor = encode_cursor(_position(tasks[page_size - 1])) if more else None
        return TaskPage(items=items, next_cursor=next_cursor)

    def history(self, task_id: str, tenant_id: str) -> tuple[ReviewEvent, ...]:
        """Audit events of a task and of the tasks it was escalated from, oldest first."""
        with self._engine.connect() as conn:
            task = store.load_task(conn, task_id, tenant_id)
            return store.events_of(conn, store.lineage(conn, task))

    def votes_for_generation(self, generation_id: str, tenant_id: str) -> tuple[ReviewEvent, ...]:
        """Every reviewer's vote on a generation, across its tasks, oldest first."""
        tasks = sa.select(_TASKS.c.id).where(
            _TASKS.c.generation_id == generation_id, _TASKS.c.tenant == tenant_id
        )  # through the tasks' indexed generation_id, not a scan of every event
        with self._engine.connect() as conn:
            return store.events_of(conn, tasks, kind=ReviewEventKind.DECIDED)

    def final_outcome(self, task_id: str, tenant_id: str) -> DecisionOutcome | None:
        """The outcome of a settled (approved or rejected) task, None while undecided.

        For replaying ``on_final_decision`` when it failed after the commit (say, stamping
        broke): the decision stands, and the gateway can resume the pipeline again.
        """
        with self._engine.connect() as conn:
            task = store.load_task(conn, task_id, tenant_id)
            return transitions.replayed_outcome(task, store.task_votes(conn, task.id))

    # ------------------------------------------------------------------ sessions

    def sign_out(self, nonce: str, expires_at: float, *, now: float) -> None:
        """Refuse the session ``nonce`` from now until it would have expired anyway.

        ``now`` and ``expires_at`` are unix seconds on the session codec's clock.
        """
        with self._engine.begin() as conn:
            # Sessions past their expiry are refused by the cookie itself: forget them.
            conn.execute(sa.delete(_SIGNED_OUT).where(_SIGNED_OUT.c.expires_at < now))
            already = conn.execute(
                sa.select(_SIGNED_OUT.c.nonce).where(_SIGNED_OUT.c.nonce == nonce)
            ).first()
            if already is None:
                conn.execute(sa.insert(_SIGNED_OUT).values(nonce=nonce, expires_at=int(expires_at)))

    def is_signed_out(self, nonce: str) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(_SIGNED_OUT.c.nonce).where(_SIGNED_OUT.c.nonce == nonce)
            ).first()
        return found is not None

    # ------------------------------------------------------------------ claims

    def claim(
        self, task_id: str, *, reviewer: str, tenant_id: str, senior: bool = False
    ) -> ReviewTaskView:
        """Take (or renew) the lease on a task for ``settings.lease_s`` seconds.

        Raises :class:`TaskConflictError` when someone else holds a live lease, the task
        is decided, or the reviewer already voted on this item (the first vote of a double
        review, or a vote on a task it was escalated from);
        :class:`SeniorReviewerRequiredError` when a task of the senior queue is claimed
        without the ``senior`` capability.
        """

        def plan(conn: sa.Connection, task: TaskRecord) -> Change:
            voters = store.chain_voters(conn, task)
            request = ClaimRequest(reviewer, senior=senior, earlier_voters=voters)
            return transitions.claim(task, request, self.now(), self.settings)

        return self._view(self._change(task_id, tenant_id, plan).task)

    def release(self, task_id: str, *, reviewer: str, tenant_id: str) -> ReviewTaskView:
        """Give a claimed task back to the queue; only its holder may."""

        def plan(_conn: sa.Connection, task: TaskRecord) -> Change:
            return transitions.release(task, reviewer, self.now())

        return self._view(self._change(task_id, tenant_id, plan).task)

    def expire_leases(self) -> int:
        """Put every lapsed claim back to pending with a ``lease_expired`` event.

        Reads already treat lapsed claims as pending; this sweep only makes the audit
        trail say when. Safe to run from a periodic job. Returns how many it expired.
        """
        lapsed_query = sa.select(_TASKS.c.id, _TASKS.c.tenant).where(
            _TASKS.c.status == TaskStatus.CLAIMED, _TASKS.c.lease_expires_at <= self.now()
        )
        with self._engine.connect() as conn:
            lapsed = conn.execute(lapsed_query).all()
        expired = 0
        for task_id, tenant_id in lapsed:
            try:
                self._change(task_id, tenant_id, self._expire_plan)
            except TaskConflictError:
                continue  # renewed or decided meanwhile
            expired += 1
        return expired

    def _expire_plan(self, _conn: sa.Connection, task: TaskRecord) -> Change:
        return transitions.expire_lease(task, self.now())

    # ------------------------------------------------------------------ decisions

    def decide(
        self,
        task_id: str,
        *,
        reviewer: str,
        tenant_id: str,
        decision: ReviewDecision | str,
        reason_code: str | None = None,
        note: str | None = None,
        edited_output: str | None = None,
    ) -> DecisionOutcome:
        """Record the claim holder's decision and say what it did.

        Single review: approve/reject settle the task. Double review: the first vote
        sends the task back to pending for a second, distinct reviewer; agreement
        settles it, disagreement escalates it to the senior queue. ``escalate`` always
        moves the task to the senior queue (as a new task; this one ends ``escalated``).
        ``on_final_decision`` runs after the commit when the outcome settles the
        generation (approved or rejected).
        """
        request = DecideRequest(
            reviewer=reviewer,
            vote=transitions.parse_decision(decision),
            reason_code=reason_code,
            note=transitions.checked_note(note),
            escalation_task_id=uuid.uuid4().hex,
            edited_output=edited_output,
        )

        def plan(_conn: sa.Connection, task: TaskRecord) -> Change:
            return transitions.decide(task, request, self.now(), self.settings)

        outcome = self._change(task_id, tenant_id, plan).outcome
        if outcome is None:  # every path of ``transitions.decide`` says what it did
            raise AssertionError("a decision without an outcome")
        if outcome.final.settles_generation and self._on_final_decision is not None:
            self._on_final_decision(outcome)
        return outcome

    def decide_many(self, request: BulkDecisionRequest) -> tuple[BulkItemResult, ...]:
        """Claim and decide each task on its own (each vote its own event, each settled
        generation its own ledger event); one task's refusal stops none of the others.

        Only tasks a single reviewer may settle qualify: a double-review or senior-queue
        task answers :class:`BulkDecisionNotAllowedError` (409) and is left as it was.
        """
        vote = transitions.parse_decision(request.decision)
        if vote not in (ReviewDecision.APPROVE, ReviewDecision.REJECT):
            raise InvalidInputError("a bulk decision approves or rejects; escalate one by one")
        if vote is ReviewDecision.REJECT and not request.reason_code:
            raise ReasonCodeRequiredError("a rejection needs a reason code")
        if len(request.task_ids) > MAX_BULK_TASKS:
            raise InvalidInputError(f"a bulk decision names at most {MAX_BULK_TASKS} tasks")
        results = []
        for task_id in dict.fromkeys(request.task_ids):  # each once, in the order given
            try:
                outcome = self._decide_alone(task_id, request)
                results.append(BulkItemResult(task_id, outcome=outcome))
            except GatewayError as exc:
                results.append(BulkItemResult(task_id, error=exc))
        return tuple(results)

    def decides_in_bulk(self, task: ReviewTaskView) -> bool:
        """Whether a bulk decision may settle ``task``: open, single review, not senior."""
        return (
            task.status.is_open
            and not task.double_review
            and task.queue != self.settings.senior_queue
        )

    def _decide_alone(self, task_id: str, request: BulkDecisionRequest) -> DecisionOutcome:
        task = self.get(task_id, request.tenant_id)
        if task.status.is_open and not self.decides_in_bulk(task):
            raise BulkDecisionNotAllowedError(
                "double-review and senior-queue tasks are decided one by one"
            )
        who = {"reviewer": request.reviewer, "tenant_id": request.tenant_id}
        self.claim(task_id, senior=request.senior, **who)
        try:
            return self.decide(
                task_id,
                decision=request.decision,
                reason_code=request.reason_code,
                note=request.note,
                **who,
            )
        except GatewayError:
            with contextlib.suppress(GatewayError):  # a lease that lapsed meanwhile
                self.release(task_id, **who)  # e.g. a reason this policy lacks: leave it open
            raise

    # ------------------------------------------------------------------ ops

    def stats(
        self,
        *,
        tenant_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> ReviewStats:
        """Throughput, double-review agreement and per-reviewer counts (all tenants by
        default). Throughput is settled tasks per hour over [since, until]; without
        ``since`` the window starts at the first vote."""
        end = to_utc(until) if until else self.now()
        start = to_utc(since) if since else None
        with self._engine.connect() as conn:
            return window_stats(conn, tenant_id, start, end)

    def dashboard(
        self, *, tenant_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> LeadDashboard:
        """``stats`` plus what a lead watches over time: decisions per reviewer and day,
        time to decision, SLA breaches and the queue's depth."""
        end = to_utc(until) if until else self.now()
        start = to_utc(since) if since else None
        with self._engine.connect() as conn:
            return lead_dashboard(conn, tenant_id, start, end, settings=self.settings)

    def queue_metrics(self) -> tuple[QueueMetric, ...]:
        """Open-task depth (pending, claimed) and oldest age per queue, all tenants."""
        now = self.now()
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

    def queues(self, tenant_id: str) -> tuple[str, ...]:
        """Every queue name this tenant has tasks in, plus the default and senior queues."""
        query = sa.select(_TASKS.c.queue).where(_TASKS.c.tenant == tenant_id).distinct()
        with self._engine.connect() as conn:
            found = set(conn.execute(query).scalars())
        return tuple(sorted(found | {self.settings.default_queue, self.settings.senior_queue}))

    def neighbours(
        self, task_id: str, tenant_id: str, *, queue: str | None = None
    ) -> tuple[TaskId | None, TaskId | None]:
        """The open tasks before and after this one in queue order (the UI's j/k)."""
        with self._engine.connect() as conn:
            here = _position(store.load_task(conn, task_id, tenant_id))
        open_now = task_filters(
            TaskFilter([TaskStatus.PENDING, TaskStatus.CLAIMED], queue), self.now()
        )
        base = sa.select(_TASKS.c.id).where(_TASKS.c.tenant == tenant_id, *open_now)
        with self._engine.connect() as conn:
            later = conn.execute(base.where(after(here)).order_by(*QUEUE_ORDER).limit(1))
            earlier = conn.execute(base.where(before(here)).order_by(*REVERSE_QUEUE_ORDER).limit(1))
            next_id, previous_id = later.scalar(), earlier.scalar()
        return (
            TaskId(previous_id) if previous_id else None,
            TaskId(next_id) if next_id else None,
        )

    def next_claimable(
        self, tenant_id: str, reviewer: str, *, queue: str | None = None, senior: bool = False
    ) -> ReviewTaskView | None:
        """Claim the most urgent task this reviewer may take, or None when there is none."""
        cursor: str | None = None
        while True:
            page = self.list_tasks(
                tenant_id,
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
                    return self.claim(
                        task.id, reviewer=reviewer, tenant_id=tenant_id, senior=senior
                    )
                except TaskConflictError:
                    continue  # taken by someone faster, or one this reviewer voted on
            if page.next_cursor is None:
                return None
            cursor = page.next_cursor

    def now(self) -> datetime:
        """The service's clock (aware UTC); pages use it for ages so tests can move time."""
        return to_utc(self._clock())

    # ------------------------------------------------------------------ internals

    def _page_size(self, limit: int | None) -> int:
        if limit is None:
            return self.settings.page_size
        if not 1 <= limit <= self.settings.max_page_size:
            raise InvalidInputError(f"limit must be between 1 and {self.settings.max_page_size}")
        return limit

    def _change(self, task_id: str, tenant_id: str, plan: _Plan) -> store.StoredChange:
        """Read the task, store what ``plan`` makes of it and commit, then emit its events.

        A compare-and-set lost to a concurrent writer rolls back and starts over, so the
        transition decides again on the fresh row.
        """
        for _ in range(_CAS_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    task = store.load_task(conn, task_id, tenant_id)
                    stored = store.apply_change(conn, task, plan(conn, task))
            except store.LostRaceError:
                continue
            self._emit(stored.events)
            return stored
        raise TaskConflictError("the task changed concurrently; try again")

    def _emit(self, events: Iterable[ReviewEvent]) -> None:
        if self._on_event is None:
            return
        for event in events:
            self._on_event(event)

    def _view(self, task: TaskRecord) -> ReviewTaskView:
        return view_of(task, self.now())


def _position(task: TaskRecord) -> QueuePosition:
    return QueuePosition(task.priority, task.created_at, task.id)
