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
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from common.errors import ConflictError, GatewayError, NotFoundError
from common.types import (
    Action,
    ContentKind,
    Direction,
    Finding,
    MediaType,
    ReasonCode,
    utc_timestamp,
)
from gateway.catalog import GeneratorCatalog
from gateway.content_store import ContentStore
from gateway.db import session_scope, table_of
from gateway.models import Generation, GenerationStatus, PipelineEvent, utcnow
from gateway.ports import (
    CheckedContent,
    LedgerAttr,
    LedgerEvent,
    LedgerPort,
    LedgerRef,
    ModerationPort,
    ModerationVerdict,
    ReviewPort,
    ReviewSummary,
    StampPort,
    StampSubject,
)
from generators.interface import GeneratedArtifact, GenerationRequest

__all__ = ["GenerationOrder", "Pipeline", "PipelineHooks", "StampOrder", "new_generation_id"]

log = logging.getLogger(__name__)


def _suffix_of(media_type: str) -> str:
    known = MediaType.parse(media_type)
    return known.suffix if known else ""


# Which ledger event each pipeline stage appends (for re-reading references later).
_LEDGER_EVENT_OF_STAGE = {
    "ledger_generation": "generation",
    "decision": "moderation",
    "review": "review_decision",
    "ledger": "stamp",
}


def new_generation_id() -> str:
    return f"gen_{secrets.token_hex(12)}"


@dataclass(frozen=True, slots=True)
class GenerationOrder:
    tenant_id: str
    kind: ContentKind
    prompt: str
    policy: str
    actor: str
    generator: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    label_language: str = "zh"
    callback_url: str | None = None
    output_format: str | None = None


@dataclass(frozen=True, slots=True)
class StampOrder:
    """Content made elsewhere, to be moderated, reviewed, stamped and ledgered."""

    tenant_id: str
    kind: ContentKind
    data: bytes
    media_type: str
    policy: str
    actor: str
    label_language: str = "zh"
    callback_url: str | None = None
    prompt: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PipelineHooks:
    """Observers: stage timings for metrics; for webhooks, final states and holds for
    review (``on_final`` hears both)."""

    on_stage: Callable[[str, float], None] | None = None
    on_final: Callable[[Generation], None] | None = None


class _EventLog:
    """Collects one generation's pipeline events; written with the state they lead to.

    It also knows whether the generation's row exists yet: a new generation's row is
    first written in the transaction of its first ledger events (or of its failure), so
    the next write is an UPDATE only after that one committed.
    """

    def __init__(
        self, generation_id: str, start_seq: int, hooks: PipelineHooks, *, row_exists: bool
    ) -> None:
        self.generation_id = generation_id
        # Rows for one bulk INSERT: plain dicts cost a fraction of ORM objects per request.
        self.events: list[dict[str, Any]] = []
        self.row_exists = row_exists
        self._seq = start_seq
        self._hooks = hooks

    @contextmanager
    def stage(self, stage: str, implementation: str) -> Iterator[dict[str, Any]]:
        """Time a stage; the body fills the yielded dict with its outcome and detail."""
        record: dict[str, Any] = {"outcome": "ok", "detail": {}}
        started = time.perf_counter()
        try:
            yield record
        except GatewayError as exc:
            record["outcome"] = "error"
            record["detail"] = {"code": exc.code, "message": exc.message}
            raise
        finally:
            elapsed_s = time.perf_counter() - started
            self.add(stage, implementation, record, elapsed_s * 1000)
            self.observe(stage, elapsed_s)

    def add(
        self, stage: str, implementation: str, record: Mapping[str, Any], duration_ms: float = 0.0
    ) -> None:
        self.append(self.row(stage, implementation, record, duration_ms))

    def row(
        self, stage: str, implementation: str, record: Mapping[str, Any], duration_ms: float
    ) -> dict[str, Any]:
        """The next event's row, not yet collected (see ``append``)."""
        ref: LedgerRef | None = record.get("ledger")
        return {
            "generation_id": self.generation_id,
            "seq": self._seq,
            "stage": stage,
            "outcome": str(record.get("outcome", "ok")),
            "implementation": implementation,
            "duration_ms": round(duration_ms, 3),
            "detail": dict(record.get("detail", {})),
            "ledger_index": ref.index if ref else None,
            "leaf_hash": ref.leaf_hash if ref else None,
            "created_at": utcnow(),
        }

    def append(self, row: dict[str, Any]) -> None:
        self.events.append(row)
        self._seq += 1

    def written(self) -> None:
        """The collected events and the row are committed."""
        self.events.clear()
        self.row_exists = True

    def observe(self, stage: str, elapsed_s: float) -> None:
        if self._hooks.on_stage:
            self._hooks.on_stage(stage, elapsed_s)


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
        # Resolve first: an unknown generator is the client's error, before any record.
        generator_name = self.generators.resolve(order.kind, order.generator)
        generation = _new_generation(
            order,
            params=dict(order.params),
            generator=generator_name,
            meta={"output_format": order.output_format} if order.output_format else {},
        )
        return self._run_new(
            generation, lambda events: self._run_generation(generation, order, events)
        )

    def stamp_upload(self, order: StampOrder) -> Generation:
        generation = _new_generation(
            order,
            source="stamped",
            meta=dict(order.meta),
            generator=str(order.meta.get("source") or "external"),
            media_type=order.media_type,
        )
        return self._run_new(generation, lambda events: self._run_upload(generation, order, events))

    def _run_new(
        self, generation: Generation, stages: Callable[[_EventLog], Generation]
    ) -> Generation:
        """Run a new generation's stages; a gateway error is recorded as its failure."""
        events = _EventLog(generation.id, 0, self.hooks, row_exists=False)
        try:
            return stages(events)
        except GatewayError as exc:
            self._fail(generation, events, exc)
            raise

    def complete_review(
        self, generation_id: str, approved: bool, summary: ReviewSummary, reason: str | None
    ) -> Generation:
        """Resume a generation held for review: stamp and release it, or block it."""
        generation = self._load(generation_id)
        if generation.status != GenerationStatus.PENDING_REVIEW.value:
            raise ConflictError(f"generation {generation_id} is {generation.status}, not in review")
        events = _EventLog(
            generation.id, self._next_seq(generation.id), self.hooks, row_exists=True
        )
        verdict = _verdict_from_row(generation)
        refs = self._ledger_refs(generation)
        with events.stage("review", "review_ui") as record:
            ref = self.ledger.append(
                self._ledger_record(
                    "review_decision",
                    generation,
                    refs,
                    actor=summary.reviewer,
                    decision=summary.decision,
                    extra={
                        "reason_code": summary.reason_code or "",
                        "reviewers": ",".join(summary.reviewers),
                    },
                )
            )
            record["ledger"] = ref
            record["detail"] = {"decision": summary.decision, "reviewer": summary.reviewer}
        refs = [*refs, *([ref] if ref else [])]
        if approved:
            raw = self.store.read(generation.raw_path or "")
            return self._stamp_and_release(generation, raw, verdict, summary, refs, events)
        generation.status = GenerationStatus.BLOCKED.value
        generation.block_reason = reason or "rejected by a reviewer"
        return self._finish(generation, events)

    # ---------------------------------------------------------------- stage runners

    def _run_generation(
        self, generation: Generation, order: GenerationOrder, events: _EventLog
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
        self._keep_raw(generation, artifact)
        output_content = _content_of(artifact)
        verdict_out = self._moderate(
            events, "output_moderation", output_content, Direction.OUTPUT, order
        )
        verdict = ModerationVerdict.combine(verdict_in, verdict_out)
        return self._decide(generation, artifact.data, verdict, events, order.actor)

    def _run_upload(
        self, generation: Generation, order: StampOrder, events: _EventLog
    ) -> Generation:
        with events.stage("ingest", "upload") as record:
            stored = self.store.put(order.data, _suffix_of(order.media_type))
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
        events: _EventLog,
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
        events: _EventLog,
        actor: str,
    ) -> Generation:
        # The generation event describes the output before any verdict was applied.
        output_event = (
            None
            if raw is None
            else self._ledger_record("generation", generation, [], actor=actor, decision=None)
        )
        _record_verdict(generation, verdict)
        with events.stage("decision", "policy") as record:
            refs = self._ledger_custody_start(generation, verdict, events, output_event)
            record["outcome"] = verdict.action.value
            record["ledger"] = refs[-1] if refs else None
            record["detail"] = {"reasons": list(verdict.reasons)}
        if verdict.action is Action.BLOCK:
            generation.status = GenerationStatus.BLOCKED.value
            generation.block_reason = "; ".join(verdict.reasons) or "blocked by policy"
            return self._finish(generation, events)
        assert raw is not None  # only a blocked prompt has no output
        if verdict.action is Action.REVIEW:
            return self._hold_for_review(generation, raw, verdict, events)
        return self._stamp_and_release(generation, raw, verdict, None, refs, events)

    def _hold_for_review(
        self, generation: Generation, raw: bytes, verdict: ModerationVerdict, events: _EventLog
    ) -> Generation:
        is_text = generation.kind == ContentKind.TEXT.value
        output_text = raw.decode("utf-8") if is_text else None
        with events.stage("review_enqueue", self.review.name) as record:
            task_id = self.review.enqueue(
                generation_id=generation.id,
                tenant_id=generation.tenant_id,
                kind=ContentKind(generation.kind),
                prompt=generation.prompt,
                output_text=output_text,
                verdict=verdict,
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
        events: _EventLog,
    ) -> Generation:
        subject = StampSubject(
            generation_id=generation.id,
            tenant_id=generation.tenant_id,
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
        stored = self.store.put(outcome.data, _suffix_of(outcome.media_type))
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
        self, generation: Generation, refs: list[LedgerRef], events: _EventLog
    ) -> Generation:
        """Ledger the ``stamp`` event and write the released row in one transaction.

        The rider builds the released row without touching ``generation``: if the shared
        transaction fails, the failure is recorded over the state before release.
        """
        stamp_event = self._ledger_record(
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
            values = {**_column_values(generation), **changes}
            self._write(connection, values, [*events.events, event], events.row_exists)
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

    def _keep_raw(self, generation: Generation, artifact: GeneratedArtifact) -> None:
        stored = self.store.put(artifact.data, _suffix_of(artifact.media_type))
        generation.raw_path = stored.path
        generation.media_type = artifact.media_type.value
        generation.model = artifact.model
        generation.model_revision = artifact.model_revision
        generation.prompt_tokens = artifact.usage.prompt_tokens
        generation.completion_tokens = artifact.usage.completion_tokens
        generation.meta = {
            **generation.meta,
            "finish_reason": artifact.finish_reason,
            "text_watermarked": artifact.text_watermarked,
            "token_ids_count": len(artifact.token_ids or ()),
        }

    def _ledger_custody_start(
        self,
        generation: Generation,
        verdict: ModerationVerdict,
        events: _EventLog,
        output_event: LedgerEvent | None,
    ) -> list[LedgerRef]:
        """Ledger the output (when there is one) and the verdict on it, in that order.

        Both leaves go into one ledger transaction with one checkpoint: the moderation
        event's link to the generation event is a hash known before the append.
        """
        moderation = self._ledger_record(
            "moderation",
            generation,
            [],
            actor=f"policy:{verdict.policy_name}",
            decision=verdict.action.value,
        )
        # The generation's row is first written here, with the events so far, in the
        # ledger's transaction: no row without its custody leaves, and no extra commit.
        values = _column_values(generation)
        rows = list(events.events)

        def write_row(connection: Connection, _refs: Sequence[LedgerRef]) -> None:
            self._write(connection, values, rows, events.row_exists)

        records = [moderation] if output_event is None else [output_event, moderation]
        refs = self.ledger.append_chain(records, rider=write_row)
        events.written()
        if output_event is not None:
            # Its own pipeline event, so the custody chain can be re-read stage by stage;
            # its time is inside the decision stage's, which ran the shared transaction.
            events.add(
                "ledger_generation",
                self.ledger.name,
                {"ledger": refs[0], "detail": {"transaction": "shared with decision"}},
            )
        return [ref for ref in refs if ref]

    @staticmethod
    def _ledger_record(
        event_type: str,
        generation: Generation,
        refs: list[LedgerRef],
        *,
        actor: str,
        decision: str | None,
        extra: Mapping[str, LedgerAttr] | None = None,
    ) -> LedgerEvent:
        stamped = event_type == "stamp"
        return LedgerEvent(
            type=event_type,
            generation_id=generation.id,
            tenant_id=generation.tenant_id,
            actor=actor,
            time=utc_timestamp(utcnow()),
            artifact_sha256=generation.artifact_sha256
            if stamped
            else _raw_sha256(generation.raw_path),
            manifest_hash=generation.manifest_hash if stamped else None,
            watermark_id=generation.watermark_id if stamped else None,
            decision=decision,
            policy_version=generation.policy_version,
            previous_leaf_hash=refs[-1].leaf_hash if refs else None,
            attrs=dict(extra or {}),
        )

    def _ledger_refs(self, generation: Generation) -> list[LedgerRef]:
        query = (
            select(PipelineEvent)
            .where(PipelineEvent.generation_id == generation.id)
            .where(col(PipelineEvent.ledger_index).is_not(None))
            .order_by(col(PipelineEvent.seq))
        )
        with session_scope(self.engine) as session:
            rows = session.exec(query).all()
        return [
            LedgerRef(r.ledger_index, r.leaf_hash or "", _LEDGER_EVENT_OF_STAGE.get(r.stage, ""))
            for r in rows
            if r.ledger_index is not None
        ]

    def _load(self, generation_id: str) -> Generation:
        with session_scope(self.engine) as session:
            generation = session.get(Generation, generation_id)
        if generation is None:
            raise NotFoundError(f"no generation {generation_id}")
        return generation

    def _next_seq(self, generation_id: str) -> int:
        query = select(func.count()).where(PipelineEvent.generation_id == generation_id)
        with session_scope(self.engine) as session:
            return int(session.exec(query).one())

    def _finish(self, generation: Generation, events: _EventLog, final: bool = True) -> Generation:
        generation.updated_at = utcnow()
        values = _column_values(generation)
        self._write(None, values, events.events, events.row_exists)
        events.written()
        return self._notify_final(generation) if final else generation

    def _notify_final(self, generation: Generation) -> Generation:
        if generation.callback_url and self.hooks.on_final:
            self.hooks.on_final(generation)
        return generation

    def _write(
        self,
        connection: Connection | None,
        values: dict[str, Any],
        event_rows: Sequence[dict[str, Any]],
        row_exists: bool,
    ) -> None:
        """Write a generation's row (INSERT or UPDATE) and its new events in one transaction.

        ``connection`` is a transaction to join (the ledger's); ``None`` opens one. Core
        statements prebuilt once per process: the ORM's unit of work (and the SELECT
        that ``Session.merge`` issues) cost more than the database does for one row.
        """
        if connection is None:
            with self.engine.begin() as own:
                self._write(own, values, event_rows, row_exists)
            return
        if row_exists:
            changed = {name: value for name, value in values.items() if name != "id"}
            connection.execute(_UPDATE_GENERATION, {**changed, "row_id": values["id"]})
        else:
            connection.execute(_INSERT_GENERATION, values)
        if event_rows:
            connection.execute(_INSERT_EVENTS, list(event_rows))

    def _fail(self, generation: Generation, events: _EventLog, exc: GatewayError) -> None:
        generation.status = GenerationStatus.FAILED.value
        generation.block_reason = f"{exc.code}: {exc.message}"[:500]
        try:
            self._finish(generation, events, final=False)
        except Exception:  # the original error matters more than a bookkeeping failure
            log.exception("could not record the failure of generation %s", generation.id)


_GENERATIONS = table_of(Generation)
_EVENTS = table_of(PipelineEvent)
_INSERT_GENERATION = sa.insert(_GENERATIONS)
_UPDATE_GENERATION = sa.update(_GENERATIONS).where(_GENERATIONS.c.id == sa.bindparam("row_id"))
_INSERT_EVENTS = sa.insert(_EVENTS)
_GENERATION_COLUMNS = tuple(column.name for column in _GENERATIONS.columns)


def _column_values(generation: Generation) -> dict[str, Any]:
    return {name: getattr(generation, name) for name in _GENERATION_COLUMNS}


def _new_generation(order: GenerationOrder | StampOrder, **fields: Any) -> Generation:
    """A generation that has not run yet; its row is first written with its custody."""
    return Generation.new(
        id=new_generation_id(),
        tenant_id=order.tenant_id,
        kind=order.kind.value,
        status=GenerationStatus.RUNNING.value,
        prompt=order.prompt,
        label_language=order.label_language,
        callback_url=order.callback_url,
        **fields,
    )


def _record_verdict(generation: Generation, verdict: ModerationVerdict) -> None:
    generation.policy_name = verdict.policy_name
    generation.policy_version = verdict.policy_version
    generation.decision = verdict.action.value
    generation.findings = [f.to_dict() for f in verdict.findings]
    generation.meta = {
        **generation.meta,
        "reasons": list(verdict.reasons),
        "review_queue": verdict.review_queue,
        "double_review": verdict.double_review,
        "reason_codes": [c.to_dict() for c in verdict.reason_codes],
    }


def _content_of(artifact: GeneratedArtifact) -> CheckedContent:
    if artifact.kind is ContentKind.TEXT:
        return CheckedContent(
            kind=artifact.kind, text=artifact.text, media_type=artifact.media_type
        )
    return CheckedContent(kind=artifact.kind, data=artifact.data, media_type=artifact.media_type)


def _raw_sha256(raw_path: str | None) -> str | None:
    # Store paths are "ab/cd/<sha256><suffix>": the digest is the file name's stem.
    if not raw_path:
        return None
    return raw_path.rsplit("/", 1)[-1].split(".", 1)[0]


def _verdict_from_row(generation: Generation) -> ModerationVerdict:
    meta = generation.meta
    return ModerationVerdict(
        action=Action(generation.decision or "review"),
        policy_name=generation.policy_name or "",
        policy_version=generation.policy_version or "",
        findings=tuple(Finding.from_dict(f) for f in generation.findings),
        reasons=tuple(meta.get("reasons", [])),
        review_queue=str(meta.get("review_queue", "default")),
        double_review=bool(meta.get("double_review", False)),
        reason_codes=tuple(ReasonCode.from_dict(c) for c in meta.get("reason_codes", [])),
    )
