"""What the pipeline writes: a generation's row, its pipeline events, its stored verdict.

Core statements prebuilt once per process: the ORM's unit of work (and the SELECT that
``Session.merge`` issues) cost more than the database does for one row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from common.errors import GatewayError
from common.sqltable import table_of
from common.types import Action, ContentKind, Finding, MediaType, ReasonCode
from gateway.content_store import ContentStore
from gateway.models import Generation, GenerationStatus, PipelineEvent, utcnow
from gateway.pipeline.orders import GenerationOrder, PipelineHooks, StampOrder, new_generation_id
from gateway.ports import CheckedContent, LedgerRef, ModerationVerdict
from generators.interface import GeneratedArtifact

__all__ = [
    "EventLog",
    "column_values",
    "content_of",
    "keep_raw",
    "new_generation",
    "raw_sha256",
    "record_verdict",
    "suffix_of",
    "verdict_from_row",
    "write_events",
    "write_generation",
]


def suffix_of(media_type: str) -> str:
    known = MediaType.parse(media_type)
    return known.suffix if known else ""


class EventLog:
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


def write_generation(
    engine: Engine,
    connection: Connection | None,
    values: dict[str, Any],
    event_rows: Sequence[dict[str, Any]],
    row_exists: bool,
) -> None:
    """Write a generation's row (INSERT or UPDATE) and its new events in one transaction.

    ``connection`` is a transaction to join (the ledger's); ``None`` opens one.
    """
    if connection is None:
        with engine.begin() as own:
            write_generation(engine, own, values, event_rows, row_exists)
        return
    if row_exists:
        changed = {name: value for name, value in values.items() if name != "id"}
        connection.execute(_UPDATE_GENERATION, {**changed, "row_id": values["id"]})
    else:
        connection.execute(_INSERT_GENERATION, values)
    if event_rows:
        connection.execute(_INSERT_EVENTS, list(event_rows))


def write_events(engine: Engine, event_rows: Sequence[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(_INSERT_EVENTS, list(event_rows))


_GENERATIONS = table_of(Generation)
_EVENTS = table_of(PipelineEvent)
_INSERT_GENERATION = sa.insert(_GENERATIONS)
_UPDATE_GENERATION = sa.update(_GENERATIONS).where(_GENERATIONS.c.id == sa.bindparam("row_id"))
_INSERT_EVENTS = sa.insert(_EVENTS)
_GENERATION_COLUMNS = tuple(column.name for column in _GENERATIONS.columns)


def column_values(generation: Generation) -> dict[str, Any]:
    return {name: getattr(generation, name) for name in _GENERATION_COLUMNS}


def new_generation(
    order: GenerationOrder | StampOrder,
    status: GenerationStatus = GenerationStatus.RUNNING,
    **fields: Any,
) -> Generation:
    """A generation that has not run yet; its row is first written with its custody
    (in the API process) or with its job (queued for a worker)."""
    return Generation.new(
        id=new_generation_id(),
        tenant_id=order.tenant_id,
        kind=order.kind.value,
        status=status.value,
        prompt=order.prompt,
        label_language=order.label_language,
        callback_url=order.callback_url,
        **fields,
    )


def record_verdict(generation: Generation, verdict: ModerationVerdict) -> None:
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


def content_of(artifact: GeneratedArtifact) -> CheckedContent:
    if artifact.kind is ContentKind.TEXT:
        return CheckedContent(
            kind=artifact.kind, text=artifact.text, media_type=artifact.media_type
        )
    return CheckedContent(kind=artifact.kind, data=artifact.data, media_type=artifact.media_type)


def raw_sha256(raw_path: str | None) -> str | None:
    # Store paths are "ab/cd/<sha256><suffix>": the digest is the file name's stem.
    if not raw_path:
        return None
    return raw_path.rsplit("/", 1)[-1].split(".", 1)[0]


def verdict_from_row(generation: Generation) -> ModerationVerdict:
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


def keep_raw(store: ContentStore, generation: Generation, artifact: GeneratedArtifact) -> None:
    """Store the generated output unstamped and note on the row what made it."""
    stored = store.put(artifact.data, suffix_of(artifact.media_type))
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
