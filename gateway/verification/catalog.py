"""``ArtifactCatalog`` over the gateway's ``generations`` table and content store.

Only released generations answer, newest first; the stamped bytes and the manifest store
are read from the content store, and erased content (PIPL) reads as ``None``::

    catalog = SqlArtifactCatalog(engine, store)
    catalog.by_sha256(hashlib.sha256(data).hexdigest()).generation_id
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from common.errors import NotFoundError
from gateway.content_store import ContentStore
from gateway.db import session_scope
from gateway.models import Generation, GenerationStatus
from gateway.verification.interface import StoredArtifact

__all__ = ["SqlArtifactCatalog"]


class SqlArtifactCatalog:
    """Finds released artifacts by what a verifier can read off a file."""

    def __init__(self, engine: Engine, store: ContentStore) -> None:
        self._engine = engine
        self._store = store

    def by_sha256(self, sha256: str) -> StoredArtifact | None:
        return self._first(col(Generation.artifact_sha256), sha256)

    def by_generation_id(self, generation_id: str) -> StoredArtifact | None:
        return self._first(col(Generation.id), generation_id)

    def by_watermark_id(self, watermark_id: str) -> StoredArtifact | None:
        return self._first(col(Generation.watermark_id), watermark_id)

    def by_manifest_label(self, manifest_label: str) -> StoredArtifact | None:
        return self._first(col(Generation.manifest_label), manifest_label)

    def _first(self, column: Mapped[Any], value: str) -> StoredArtifact | None:
        query = (
            select(Generation)
            .where(column == value)
            .where(Generation.status == GenerationStatus.RELEASED.value)
            .order_by(col(Generation.created_at).desc())
            .limit(1)
        )
        with session_scope(self._engine) as session:
            row = session.exec(query).first()
        return None if row is None else self._artifact(row)

    def _artifact(self, row: Generation) -> StoredArtifact:
        return StoredArtifact(
            generation_id=row.id,
            media_type=row.media_type or "",
            artifact_sha256=row.artifact_sha256,
            manifest_label=row.manifest_label,
            manifest_bytes=self._read(row.manifest_path),
            original=self._read(row.artifact_path),
            implicit_label=_implicit_label_text(row.meta),
            watermark_id=row.watermark_id,
        )

    def _read(self, path: str | None) -> bytes | None:
        if not path:
            return None
        try:
            return self._store.read(path)
        except NotFoundError:
            return None  # erased content (PIPL): the ledger still proves the record


def _implicit_label_text(meta: Mapping[str, Any] | None) -> str | None:
    """The GB 45438 JSON as it was issued: compact (ARCHITECTURE "Images and labels")."""
    label = (meta or {}).get("implicit_label")
    if isinstance(label, Mapping):  # the pipeline keeps the parsed object
        label = json.dumps(label, separators=(",", ":"), ensure_ascii=False)
    return label if isinstance(label, str) else None
