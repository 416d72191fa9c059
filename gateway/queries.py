"""Tenant-scoped reads of generations and their pipeline events.

Another tenant's id answers exactly like a missing one (404), so ids leak nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from common.errors import InvalidInputError, NotFoundError
from gateway.db import session_scope
from gateway.models import Generation, PipelineEvent

__all__ = ["get_generation", "list_generations", "pipeline_events"]


def get_generation(engine: Engine, tenant_id: str, generation_id: str) -> Generation:
    with session_scope(engine) as session:
        generation = session.get(Generation, generation_id)
    if generation is None or generation.tenant_id != tenant_id:
        raise NotFoundError(f"no generation {generation_id}")
    return generation


def list_generations(
    engine: Engine, tenant_id: str, status: str | None, cursor: str | None, limit: int
) -> tuple[list[Generation], str | None]:
    """Newest first; the cursor is the creation time and id of the last item returned."""
    query = select(Generation).where(Generation.tenant_id == tenant_id)
    if status:
        query = query.where(Generation.status == status)
    if cursor:
        created, _, last_id = cursor.partition("|")
        try:
            created_at = datetime.fromisoformat(created)
        except ValueError as exc:
            raise InvalidInputError("malformed cursor") from exc
        if created_at.tzinfo is None:  # ours always carry one; the column compares aware
            raise InvalidInputError("malformed cursor: the time has no timezone")
        query = query.where(
            (col(Generation.created_at) < created_at)
            | ((col(Generation.created_at) == created_at) & (col(Generation.id) < last_id))
        )
    query = query.order_by(col(Generation.created_at).desc(), col(Generation.id).desc())
    with session_scope(engine) as session:
        rows = list(session.exec(query.limit(limit + 1)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = f"{rows[-1].created_at.isoformat()}|{rows[-1].id}"
    return rows, next_cursor


def pipeline_events(engine: Engine, generation_id: str) -> list[PipelineEvent]:
    with session_scope(engine) as session:
        query = (
            select(PipelineEvent)
            .where(PipelineEvent.generation_id == generation_id)
            .order_by(col(PipelineEvent.seq))
        )
        return list(session.exec(query).all())
