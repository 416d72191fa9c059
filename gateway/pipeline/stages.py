"""The pipeline: one generation (or one uploaded file) from request to release.

Stages, in the order of the architecture::

    input moderation → generate (or ingest) → output moderation → decision
      → review (pending) ─ approval resumes here ─┐
      → stamping → ledger "stamp" event → released

Every stage records a ``PipelineEvent`` with its timing and which implementation ran;
the ledger gets the ``generation``, ``moderation``, ``review`` and ``stamp`` events of
each artifact, each citing the previous one, so the chain of custody can be replayed.

    pipeline.generate(GenerationOrder(tenant_id="acme", kind=ContentKind.TEXT, prompt="…"))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, func
from sqlalchemy.engine import Engine
from sqlmodel import select

from common.errors import ConflictError, GatewayError, NotFoundError
from common.types import (
    Action,
    ContentKind,
    Direction,
    GenerationId,
    TenantId,
)
from gateway.catalog import GeneratorCatalog
from gateway.content_store import ContentStore
from gateway.db import session_scope
from gateway.models import Generation, GenerationStatus, PipelineEvent, utcnow
from gateway.pipeline.custody import (
    append_custody_start,
    ledger_event,
    recorded_refs,
    review_event,
    summary_to_dict,
)
from gateway.pipeline.edits import adopt_edit, moderate_edit
from gateway.pipeline.orders import GenerationOrder, PipelineHooks, StampOrder
from gateway.pipeline.records import (
    EventLog,
    column_values,
    content_of,
    keep_raw,
    new_generation,
    record_verdict,
    suffix_of,
    verdict_from_row,
    write_events,
    write_generation,
)
from gateway.ports import (
    CheckedContent,
    CustodyRecordedError,
    LedgerPort,
    LedgerRef,
    ModerationPort,
    ModerationVerdict,
    ReviewPort,
    ReviewSummary,
    StampPort,
    StampSubject,
)
from generators.interface import GenerationRequest

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        *,
        engine: Engine,
        store: ContentStore,
        generators: GeneratorCatalog,
        moderation: ModerationPort,
        review: ReviewPort,
        stamping: StampPort,
        ledger: LedgerPort,
        hooks: PipelineHooks | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.generators = generators
        self.moderation = moderation
        self.review = review
        self.stamping = stamping
        self.ledger = ledger
        self.hooks = hooks or PipelineHooks()

    # ----------------------------------------------------------------- entry points

    def generate(self, order: GenerationOrder) -> Generation:
        generation = self.admit_generation(order, GenerationStatus.RUNNING)
        return self._run_new(
            generation, lambda events: self._run_generation(generation, order, events)
        )

    def stamp_upload(self, order: StampOrder) -> Generation:
        generation = self.admit_upload(order, GenerationStatus.RUNNING)
        return self._run_new(generation, lambda events: self._run_upload(generation, order, events))

    def admit_generation(
        self, order: GenerationOrder, status: GenerationStatus = GenerationStatus.QUEUED
    ) -> Generation:
        """The generation an order makes, not yet written (a job writes it queued)."""
        # Resolve first: an unknown generator is the client's error, before any record.
        generator_name = self.generators.resolve(order.kind, order.generator)
        return new_generation(
            order,
            status,
            params=dict(order.params),
            generator=generator_name,
            meta={"output_format": order.output_format} if order.output_format else {},
        )

    def admit_upload(
        self, order: StampOrder, status: GenerationStatus = GenerationStatus.QUEUED
    ) -> Generation:
        return new_generation(
            order,
            status,
            source="stamped",
            meta=dict(order.meta),
            generator=str(order.meta.get("source") or "external"),
            media_type=order.media_type,
        )

    def resume(
        self,
        generation_id: str,
        order: GenerationOrder | StampOrder | None,
        *,
        fresh: bool = False,
    ) -> Generation:
        """Run an admitted generation, or go on from where an earlier run stopped.

        Safe to call again for the same generation (a job redelivered after its worker
        died): what was committed is read back — custody leaves through the pipeline
        events that cite them, the verdict from the row — and not done twice. Should two
        runs overlap all the same, the ledger takes one generation, moderation and stamp
        leaf per generation; the loser re-reads and goes on from the winner's state.

        ``fresh``: the job's first run, admitted with only its ``queued`` event: no custody
        or further events to read back (two queries fewer). Should that be wrong, the
        ledger refuses the repeated custody and the next pass reads everything.
        """
        for _ in range(3):
            try:
                return self._resume_once(generation_id, order, fresh)
            except CustodyRecordedError:
                fresh = False
                log.info("generation %s: another run recorded it first; re-reading", generation_id)
        return self.load(generation_id)

    def _resume_once(
        self, generation_id: str, order: GenerationOrder | StampOrder | None, fresh: bool
    ) -> Generation:
        generation = self.load(generation_id)
        if generation.status not in (GenerationStatus.QUEUED, GenerationStatus.RUNNING):
            return generation  # an earlier run finished it
        generation.status = GenerationStatus.RUNNING.value
        next_seq = 1 if fresh else self._next_seq(generation.id)  # 0 is the "queued" event
        events = EventLog(generation.id, next_seq, self.hooks, row_exists=True)
        refs = [] if fresh else recorded_refs(self.engine, generation.id)
        try:
            if refs:
                return self._resume_after_custody(generation, refs, events)
            if isinstance(order, GenerationOrder):
                return self._run_generation(generation, order, events)
            if isinstance(order, StampOrder):
                return self._run_upload(generation, order, events)
            raise ConflictError(f"generation {generation_id} has no custody to go on from")
        except CustodyRecordedError:
            raise
        except GatewayError as exc:
            # Recorded as a pipeline event; the job decides between a retry and failure.
            events.add(
                "job",
                "worker",
                {"outcome": "error", "detail": {"code": exc.code, "message": exc.message[:500]}},
            )
            self._write_events(generation, events)
            raise

    def _resume_after_custody(
        self, generation: Generation, refs: list[LedgerRef], events: EventLog
    ) -> Generation:
        """Go on after the custody leaves were committed: block, hold or stamp."""
        verdict = verdict_from_row(generation)
        if verdict.action is Action.BLOCK:
            return self._block(generation, verdict, events)
        raw = self.store.read(generation.raw_path or "")
        review = generation.meta.get("review_summary")
        if verdict.action is Action.REVIEW and review is None:
            if generation.meta.get("review_task_id"):
                generation.status = GenerationStatus.PENDING_REVIEW.value
                return self._finish(generation, events)
            return self._hold_for_review(generation, raw, verdict, events)
        summary = (
            ReviewSummary(**{**review, "reviewers": tuple(review["reviewers"])}) if review else None
        )
        return self._stamp_and_release(generation, raw, verdict, summary, refs, events)

    def fail(self, generation_id: str, exc: GatewayError) -> Generation:
        """Record a job's failure on its generation (unless an earlier run finished it)."""
        generation = self.load(generation_id)
        if generation.status in (GenerationStatus.QUEUED, GenerationStatus.RUNNING):
            events = EventLog(
                generation.id, self._next_seq(generation.id), self.hooks, row_exists=True
            )
            self._fail(generation, events, exc)
        return generation

    def record_approval(
        self, generation_id: str, summary: ReviewSummary, alongside: Callable[[Connection], None]
    ) -> Generation:
        """Ledger a reviewer's approval and queue the release for a worker, in one
        transaction (``alongside`` admits the job): the approval is never recorded
        without the work it starts, nor the work without the approval."""
        generation = self.load(generation_id)
        if generation.status != GenerationStatus.PENDING_REVIEW.value:
            raise ConflictError(f"generation {generation_id} is {generation.status}, not in review")
        events = EventLog(generation.id, self._next_seq(generation.id), self.hooks, row_exists=True)
        if summary.edited_output is not None and not self._edit_passes(generation, summary, events):
            return generation  # the edited text is back in the queue, no job to run
        approval = review_event(generation, recorded_refs(self.engine, generation.id), summary)
        generation.status = GenerationStatus.QUEUED.value
        generation.updated_at = utcnow()
        generation.meta = {**generation.meta, "review_summary": summary_to_dict(summary)}
        values = column_values(generation)
        started = time.perf_counter()

        def write(connection: Connection, review_refs: Sequence[LedgerRef]) -> None:
            detail = {"decision": summary.decision, "reviewer": summary.reviewer}
            elapsed_ms = (time.perf_counter() - started) * 1000
            record = {"ledger": review_refs[0], "detail": detail}
            row = events.row("review", "review_ui", record, elapsed_ms)
            write_generation(self.engine, connection, values, [row], row_exists=True)
            alongside(connection)

        self.ledger.append_chain([approval], rider=write)
        return generation

    def _run_new(
        self, generation: Generation, stages: Callable[[EventLog], Generation]
    ) -> Generation:
        """Run a new generation's stages; a gateway error is recorded as its failure."""
        events = EventLog(generation.id, 0, self.hooks, row_exists=False)
        try:
            return stages(events)
        except GatewayError as exc:
            self._fail(generation, events, exc)
            raise

    def complete_review(
        self, generation_id: str, approved: bool, summary: ReviewSummary, reason: str | None
    ) -> Generation:
        """Resume a generation held for review: stamp and release it, or block it."""
        generation = self.load(generation_id)
        if generation.status != GenerationStatus.PENDING_REVIEW.value:
            raise ConflictError(f"generation {generation_id} is {generation.status}, not in review")
        events = EventLog(generation.id, self._next_seq(generation.id), self.hooks, row_exists=True)
        edited = approved and summary.edited_output is not None
        if edited and not self._edit_passes(generation, summary, events):
            return generation  # the edited text is back in the queue
        verdict = verdict_from_row(generation)
        refs = recorded_refs(self.engine, generation.id)
        with events.stage("review", "review_ui") as record:
            ref = self.ledger.append(review_event(generation, refs, summary))
            record["ledger"] = ref
            record["detail"] = {"decision": summary.decision, "reviewer": summary.reviewer}
        refs = [*refs, *([ref] if ref else [])]
        if approved:
            raw = self.store.read(generation.raw_path or "")
            return self._stamp_and_release(generation, raw, verdict, summary, refs, events)
        generation.status = GenerationStatus.BLOCKED.value
        generation.block_reason = reason or "rejected by a reviewer"
        return self._finish(generation, events)

    def _edit_passes(
        self, generation: Generation, summary: ReviewSummary, events: EventLog
    ) -> bool:
        """Moderate a reviewer's edited text and make it the output. False when it was
        flagged: then it is back in the review queue (the review event, with both
        hashes, recorded) and the generation stays pending."""
        edit = moderate_edit(
            self.moderation, self.store, generation, summary.edited_output or "", events
        )
        adopt_edit(generation, edit)
        if edit.verdict.action is Action.ALLOW:
            return True
        refs = recorded_refs(self.engine, generation.id)
        with events.stage("review", "review_ui") as record:
            record["ledger"] = self.ledger.append(review_event(generation, refs, summary))
            record["detail"] = {"decision": "edited, back to review", "reviewer": summary.reviewer}
        original = self.store.read(edit.original_path).decode("utf-8")
        self._hold_for_review(
            generation, edit.text.encode("utf-8"), edit.verdict, events, previous_output=original
        )
        return False

    # ---------------------------------------------------------------- stage runners

    def _run_generation(
        self, generation: Generation, order: GenerationOrder, events: EventLog
    ) -> Generation:
        prompt_content = CheckedContent(kind=ContentKind.TEXT, text=order.prompt)
        verdict_in = self._moderate(
            events, "input_moderation", prompt_content, Direction.INPUT, order
        )
        if verdict_in.action is Action.BLOCK:
            # A blocked prompt never reaches a generator.
            return self._decide(generation, None, verdict_in, events, order.actor)
        if verdict_in.redacted_text is not None:
            generation.prompt = verdict_in.redacted_text  # keep only what the model saw
        generator = self.generators.get(order.kind, generation.generator)
        request = GenerationRequest(
            kind=order.kind, prompt=verdict_in.redacted_text or order.prompt, params=order.params
        )
        with events.stage("generate", generation.generator or generator.name) as record:
            artifact = generator.generate(request)
            record["detail"] = {
                "model_revision": artifact.model_revision,
                "completion_tokens": artifact.usage.completion_tokens,
            }
        keep_raw(self.store, generation, artifact)
        output_content = content_of(artifact)
        verdict_out = self._moderate(
            events, "output_moderation", output_content, Direction.OUTPUT, order
        )
        verdict = ModerationVerdict.combine(verdict_in, verdict_out)
        return self._decide(generation, artifact.data, verdict, events, order.actor)

    def _run_upload(
        self, generation: Generation, order: StampOrder, events: EventLog
    ) -> Generation:
        with events.stage("ingest", "upload") as record:
            stored = self.store.put(order.data, suffix_of(order.media_type))
            generation.raw_path = stored.path
            record["detail"] = {"sha256": stored.sha256, "size_bytes": stored.size_bytes}
        verdict = ModerationVerdict(Action.ALLOW, order.policy, "none")
        if order.prompt:
            prompt_content = CheckedContent(kind=ContentKind.TEXT, text=order.prompt)
            verdict = self._moderate(
                events, "input_moderation", prompt_content, Direction.INPUT, order
            )
        content = CheckedContent(
            kind=order.kind,
            text=order.data.decode("utf-8") if order.kind is ContentKind.TEXT else None,
            data=None if order.kind is ContentKind.TEXT else order.data,
            media_type=order.media_type,
        )
        verdict_out = self._moderate(events, "output_moderation", content, Direction.OUTPUT, order)
        verdict = ModerationVerdict.combine(verdict, verdict_out) if order.prompt else verdict_out
        return self._decide(generation, order.data, verdict, events, order.actor)

    def _moderate(
        self,
        events: EventLog,
        stage: str,
        content: CheckedContent,
        direction: Direction,
        order: GenerationOrder | StampOrder,
    ) -> ModerationVerdict:
        with events.stage(stage, self.moderation.name) as record:
            verdict = self.moderation.check(content, direction, order.policy, order.tenant_id)
            record["outcome"] = verdict.action.value
            record["detail"] = {
                "policy_version": verdict.policy_version,
                "categories": sorted({f.category for f in verdict.findings}),
            }
        return verdict

    def _decide(
        self,
        generation: Generation,
        raw: bytes | None,  # the unstamped output; None when the prompt was blocked
        verdict: ModerationVerdict,
        events: EventLog,
        actor: str,
    ) -> Generation:
        # The generation event describes the output before any verdict was applied.
        output_event = (
            None
            if raw is None
            else ledger_event("generation", generation, [], actor=actor, decision=None)
        )
        record_verdict(generation, verdict)
        with events.stage("decision", "policy") as record:
            refs = append_custody_start(
                self.ledger, self.engine, generation, verdict, events, output_event
            )
            record["outcome"] = verdict.action.value
            record["ledger"] = refs[-1] if refs else None
            record["detail"] = {"reasons": list(verdict.reasons)}
        if verdict.action is Action.BLOCK:
            return self._block(generation, verdict, events)
        assert raw is not None  # only a blocked prompt has no output
        if verdict.action is Action.REVIEW:
            return self._hold_for_review(generation, raw, verdict, events)
        return self._stamp_and_release(generation, raw, verdict, None, refs, events)

    def _block(
        self, generation: Generation, verdict: ModerationVerdict, events: EventLog
    ) -> Generation:
        generation.status = GenerationStatus.BLOCKED.value
        generation.block_reason = "; ".join(verdict.reasons) or "blocked by policy"
        return self._finish(generation, events)

    def _hold_for_review(
        self,
        generation: Generation,
        raw: bytes,
        verdict: ModerationVerdict,
        events: EventLog,
        *,
        previous_output: str | None = None,
    ) -> Generation:
        is_text = generation.kind == ContentKind.TEXT.value
        output_text = raw.decode("utf-8") if is_text else None
        with events.stage("review_enqueue", self.review.name) as record:
            task_id = self.review.enqueue(
                generation_id=GenerationId(generation.id),
                tenant_id=TenantId(generation.tenant_id),
                kind=ContentKind(generation.kind),
                prompt=generation.prompt,
                output_text=output_text,
                verdict=verdict,
                previous_output=previous_output,
            )
            record["outcome"] = "queued"
            record["detail"] = {"task_id": task_id, "queue": verdict.review_queue}
        generation.status = GenerationStatus.PENDING_REVIEW.value
        generation.meta = {**generation.meta, "review_task_id": task_id}
        # Not final, but the client hears of it (generation.pending_review): a person
        # now decides, which may take hours.
        return self._finish(generation, events)

    def _stamp_and_release(
        self,
        generation: Generation,
        raw: bytes,
        verdict: ModerationVerdict,
        review: ReviewSummary | None,
        refs: list[LedgerRef],
        events: EventLog,
    ) -> Generation:
        subject = StampSubject(
            generation_id=GenerationId(generation.id),
            tenant_id=TenantId(generation.tenant_id),
            kind=ContentKind(generation.kind),
            data=raw,
            media_type=generation.media_type or "application/octet-stream",
            generator=generation.generator or "unknown",
            model=generation.model or "unknown",
            model_revision=generation.model_revision or "unknown",
            label_language=generation.label_language,
            verdict=verdict,
            review=review,
            ledger_refs=tuple(refs),
            output_format=generation.meta.get("output_format"),
        )
        with events.stage("stamp", self.stamping.name) as record:
            outcome = self.stamping.stamp(subject)
            record["detail"] = {"steps": [s.to_dict() for s in outcome.steps]}
        stored = self.store.put(outcome.data, suffix_of(outcome.media_type))
        generation.artifact_path = stored.path
        generation.artifact_sha256 = stored.sha256
        generation.media_type = outcome.media_type
        generation.watermark_id = outcome.watermark_id
        generation.manifest_label = outcome.manifest_label
        generation.manifest_hash = outcome.manifest_hash
        if outcome.manifest_bytes:
            generation.manifest_path = self.store.put(outcome.manifest_bytes, ".c2pa").path
        if outcome.implicit_label is not None:
            label = {"json": outcome.implicit_label}
            generation.meta = {**generation.meta, "implicit_label": label}
        return self._ledger_and_release(generation, refs, events)

    def _ledger_and_release(
        self, generation: Generation, refs: list[LedgerRef], events: EventLog
    ) -> Generation:
        """Ledger the ``stamp`` event and write the released row in one transaction.

        The rider builds the released row without touching ``generation``: if the shared
        transaction fails, the failure is recorded over the state before release.
        """
        stamp_event = ledger_event(
            "stamp",
            generation,
            refs,
            actor="gateway",
            decision="released",
            extra={"manifest_label": generation.manifest_label or ""},
        )
        started = time.perf_counter()
        written: dict[str, Any] = {}

        def write_released(connection: Connection, stamp_refs: Sequence[LedgerRef]) -> None:
            ref = stamp_refs[0]
            changes = {
                "status": GenerationStatus.RELEASED.value,
                "ledger_index": ref.index,
                "leaf_hash": ref.leaf_hash,
                "updated_at": utcnow(),
            }
            # The stage's time stops where its row is written, inside the transaction.
            elapsed_ms = (time.perf_counter() - started) * 1000
            event = events.row("ledger", self.ledger.name, {"ledger": ref}, elapsed_ms)
            values = {**column_values(generation), **changes}
            write_generation(
                self.engine, connection, values, [*events.events, event], events.row_exists
            )
            if generation.callback_url:  # the released row, as the webhook announces it
                self._write_final(connection, Generation.new(**values))
            written.update(changes=changes, event=event)

        try:
            self.ledger.append_chain([stamp_event], rider=write_released)
        except GatewayError as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            failure = {"outcome": "error", "detail": {"code": exc.code, "message": exc.message}}
            events.add("ledger", self.ledger.name, failure, elapsed_ms)
            raise
        finally:
            events.observe("ledger", time.perf_counter() - started)
        for name, value in written["changes"].items():
            setattr(generation, name, value)
        events.append(written["event"])
        events.written()
        return self._notify_final(generation)

    # --------------------------------------------------------------------- helpers

    def load(self, generation_id: str) -> Generation:
        with session_scope(self.engine) as session:
            generation = session.get(Generation, generation_id)
        if generation is None:
            raise NotFoundError(f"no generation {generation_id}")
        return generation

    def _next_seq(self, generation_id: str) -> int:
        query = select(func.count()).where(PipelineEvent.generation_id == generation_id)
        with session_scope(self.engine) as session:
            return int(session.exec(query).one())

    def _finish(self, generation: Generation, events: EventLog, final: bool = True) -> Generation:
        generation.updated_at = utcnow()
        values = column_values(generation)
        with self.engine.begin() as connection:
            write_generation(self.engine, connection, values, events.events, events.row_exists)
            if final:
                self._write_final(connection, generation)
        events.written()
        return self._notify_final(generation) if final else generation

    def _write_final(self, connection: Connection, generation: Generation) -> None:
        if generation.callback_url and self.hooks.write_final:
            self.hooks.write_final(connection, generation)

    def _write_events(self, generation: Generation, events: EventLog) -> None:
        """Write collected events, leaving the row as it is (a run that stopped)."""
        if events.events:
            write_events(self.engine, events.events)
            events.written()

    def _notify_final(self, generation: Generation) -> Generation:
        if generation.callback_url and self.hooks.on_final:
            self.hooks.on_final(generation)
        return generation

    def _fail(self, generation: Generation, events: EventLog, exc: GatewayError) -> None:
        generation.status = GenerationStatus.FAILED.value
        generation.block_reason = f"{exc.code}: {exc.message}"[:500]
        try:
            self._finish(generation, events, final=False)
        except Exception:  # the original error matters more than a bookkeeping failure
            log.exception("could not record the failure of generation %s", generation.id)
