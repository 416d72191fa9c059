"""Per-tenant brand lists and image-hash registry: tables and the services that manage them.

The gateway's admin routes call the services; the moderation engine receives what they
return (``TenantLists``, ``ImageHashEntry``s) per call::

    brands = BrandListService(engine)
    brands.add_term(tenant, BrandTermKind.COMPETITOR, "竞品A")
    images = ImageRegistryService(engine)
    images.add_image(tenant, png_bytes, ImageEntryKind.BANNED, label="old logo")
    decision = moderation.moderate_text(text, Direction.OUTPUT, policy,
                                        tenant_lists=brands.tenant_lists(tenant))

Tables: ``moderation_brand_terms`` and ``moderation_image_hashes`` (Alembic migrations
live in ``gateway/migrations``; ``create_tables`` is for tests and scratch databases).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from moderation.interface import (
    ImageHashEntry,
    InvalidTermError,
    ModerationEntryNotFoundError,
    TenantLists,
)
from moderation.scanners.image_hash import compute_hashes

__all__ = [
    "MAX_TERM_CHARS",
    "BrandListService",
    "BrandTerm",
    "BrandTermKind",
    "ImageEntryKind",
    "ImageRegistryService",
    "ModerationBrandTerm",
    "ModerationImageHash",
    "RegisteredImage",
    "create_tables",
]

MAX_TERM_CHARS = 200


class BrandTermKind(StrEnum):
    BANNED_TERM = "banned_term"  # blocked under cn-marketing
    COMPETITOR = "competitor"  # goes to review
    PRODUCT_NAME = "product_name"  # ad-law terms inside it are exempt (SAMR 2023)


class ImageEntryKind(StrEnum):
    BANNED = "banned"
    PROTECTED = "protected"  # brand assets, copyrighted works
    REJECTED = "rejected"  # outputs a reviewer rejected before


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ModerationBrandTerm(SQLModel, table=True):
    __tablename__ = "moderation_brand_terms"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "kind", "term"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=128)
    kind: str = Field(max_length=32)
    term: str = Field(max_length=MAX_TERM_CHARS)
    created_at: dt.datetime = Field(
        default_factory=_now,
        sa_type=sa.DateTime(timezone=True),
    )


class ModerationImageHash(SQLModel, table=True):
    __tablename__ = "moderation_image_hashes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "kind", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=128)
    kind: str = Field(max_length=32)
    label: str = Field(max_length=200)
    phash: str = Field(max_length=16)
    dhash: str = Field(max_length=16)
    sha256: str = Field(max_length=64)
    created_at: dt.datetime = Field(
        default_factory=_now,
        sa_type=sa.DateTime(timezone=True),
    )


@dataclass(frozen=True, slots=True)
class BrandTerm:
    id: int
    tenant_id: str
    kind: BrandTermKind
    term: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RegisteredImage:
    id: int
    tenant_id: str
    kind: ImageEntryKind
    label: str
    phash: str
    dhash: str
    sha256: str
    created_at: dt.datetime


_TABLE_NAMES = ("moderation_brand_terms", "moderation_image_hashes")


def create_tables(engine: sa.Engine) -> None:
    tables = [SQLModel.metadata.tables[name] for name in _TABLE_NAMES]
    SQLModel.metadata.create_all(engine, tables=tables)


class BrandListService:
    """Add, list and remove a tenant's banned terms, competitor names and product names."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def add_term(self, tenant_id: str, kind: BrandTermKind, term: str) -> BrandTerm:
        """Idempotent: adding a term that exists returns the existing entry."""
        cleaned = _clean_term(term)
        with Session(self._engine) as session:
            existing = session.exec(
                select(ModerationBrandTerm).where(
                    ModerationBrandTerm.tenant_id == tenant_id,
                    ModerationBrandTerm.kind == kind.value,
                    ModerationBrandTerm.term == cleaned,
                )
            ).first()
            if existing is not None:
                return _brand_term(existing)
            row = ModerationBrandTerm(tenant_id=tenant_id, kind=kind.value, term=cleaned)
            session.add(row)
            session.commit()
            session.refresh(row)
            return _brand_term(row)

    def list_terms(self, tenant_id: str, kind: BrandTermKind | None = None) -> list[BrandTerm]:
        query = select(ModerationBrandTerm).where(ModerationBrandTerm.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(ModerationBrandTerm.kind == kind.value)
        with Session(self._engine) as session:
            rows = session.exec(query.order_by(ModerationBrandTerm.id)).all()  # type: ignore[arg-type]  # SQLModel column typing
            return [_brand_term(row) for row in rows]

    def remove_term(self, tenant_id: str, term_id: int) -> None:
        with Session(self._engine) as session:
            row = session.get(ModerationBrandTerm, term_id)
            if row is None or row.tenant_id != tenant_id:
                raise ModerationEntryNotFoundError(f"no brand-list term {term_id}")
            session.delete(row)
            session.commit()

    def tenant_lists(self, tenant_id: str) -> TenantLists:
        terms = self.list_terms(tenant_id)

        def of(kind: BrandTermKind) -> tuple[str, ...]:
            return tuple(sorted(term.term for term in terms if term.kind is kind))

        return TenantLists(
            banned_terms=of(BrandTermKind.BANNED_TERM),
            competitor_names=of(BrandTermKind.COMPETITOR),
            product_names=of(BrandTermKind.PRODUCT_NAME),
        )


class ImageRegistryService:
    """Add, list and remove a tenant's registered images (stored as hashes, not pixels)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def add_image(
        self, tenant_id: str, data: bytes, kind: ImageEntryKind, label: str = ""
    ) -> RegisteredImage:
        """Raises ``NotAnImageError`` (415) for undecodable bytes; idempotent per image."""
        hashes = compute_hashes(data)
        digest = hashlib.sha256(data).hexdigest()
        with Session(self._engine) as session:
            existing = session.exec(
                select(ModerationImageHash).where(
                    ModerationImageHash.tenant_id == tenant_id,
                    ModerationImageHash.kind == kind.value,
                    ModerationImageHash.sha256 == digest,
                )
            ).first()
            if existing is not None:
                return _registered_image(existing)
            row = ModerationImageHash(
                tenant_id=tenant_id,
                kind=kind.value,
                label=label[:200],
                phash=hashes.phash,
                dhash=hashes.dhash,
                sha256=digest,
            )
            session.add(row)
            session.commit()
            session.refresh(row)
            return _registered_image(row)

    def list_images(
        self, tenant_id: str, kind: ImageEntryKind | None = None
    ) -> list[RegisteredImage]:
        query = select(ModerationImageHash).where(ModerationImageHash.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(ModerationImageHash.kind == kind.value)
        with Session(self._engine) as session:
            rows = session.exec(query.order_by(ModerationImageHash.id)).all()  # type: ignore[arg-type]  # SQLModel column typing
            return [_registered_image(row) for row in rows]

    def remove_image(self, tenant_id: str, image_id: int) -> None:
        with Session(self._engine) as session:
            row = session.get(ModerationImageHash, image_id)
            if row is None or row.tenant_id != tenant_id:
                raise ModerationEntryNotFoundError(f"no registered image {image_id}")
            session.delete(row)
            session.commit()

    def tenant_images(self, tenant_id: str) -> tuple[ImageHashEntry, ...]:
        return tuple(
            ImageHashEntry(
                entry_id=image.id,
                kind=image.kind.value,
                label=image.label,
                phash=image.phash,
                dhash=image.dhash,
            )
            for image in self.list_images(tenant_id)
        )


def _clean_term(term: str) -> str:
    cleaned = term.strip()
    if not cleaned or len(cleaned) > MAX_TERM_CHARS:
        raise InvalidTermError(f"a term must have 1 to {MAX_TERM_CHARS} characters")
    return cleaned


def _brand_term(row: ModerationBrandTerm) -> BrandTerm:
    assert row.id is not None  # rows come from the database
    return BrandTerm(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=BrandTermKind(row.kind),
        term=row.term,
        created_at=row.created_at,
    )


def _registered_image(row: ModerationImageHash) -> RegisteredImage:
    assert row.id is not None  # rows come from the database
    return RegisteredImage(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=ImageEntryKind(row.kind),
        label=row.label,
        phash=row.phash,
        dhash=row.dhash,
        sha256=row.sha256,
        created_at=row.created_at,
    )
