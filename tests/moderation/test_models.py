"""Per-tenant brand lists and image registry on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from PIL import Image

from moderation import (
    Action,
    Direction,
    InvalidTermError,
    ModerationEngine,
    ModerationEntryNotFoundError,
    NotAnImageError,
)
from moderation.models import (
    BrandListService,
    BrandTermKind,
    ImageEntryKind,
    ImageRegistryService,
    create_tables,
)
from moderation.policy import Policy

pytestmark = pytest.mark.db


@pytest.fixture
def db(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url)
    create_tables(engine)
    yield engine
    engine.dispose()


def png_of(color: tuple[int, int, int], pattern: bool = False) -> bytes:
    image = Image.new("RGB", (64, 64), color)
    if pattern:
        for x in range(0, 64, 8):
            for y in range(0, 64, 2):
                image.putpixel((x, y), (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_brand_terms_add_list_remove_per_tenant(db: sa.Engine) -> None:
    service = BrandListService(db)
    banned = service.add_term("t1", BrandTermKind.BANNED_TERM, " 山寨 ")
    assert banned.term == "山寨"
    assert service.add_term("t1", BrandTermKind.BANNED_TERM, "山寨") == banned  # idempotent
    service.add_term("t1", BrandTermKind.COMPETITOR, "Acme")
    service.add_term("t2", BrandTermKind.COMPETITOR, "Other")
    assert [t.term for t in service.list_terms("t1")] == ["山寨", "Acme"]
    assert [t.term for t in service.list_terms("t1", BrandTermKind.COMPETITOR)] == ["Acme"]
    lists = service.tenant_lists("t1")
    assert lists.banned_terms == ("山寨",)
    assert lists.competitor_names == ("Acme",)
    with pytest.raises(ModerationEntryNotFoundError):
        service.remove_term("t2", banned.id)  # another tenant's id is not found
    service.remove_term("t1", banned.id)
    assert service.tenant_lists("t1").banned_terms == ()


@pytest.mark.parametrize("term", ["", "   ", "x" * 201])
def test_invalid_terms_are_rejected(db: sa.Engine, term: str) -> None:
    with pytest.raises(InvalidTermError):
        BrandListService(db).add_term("t1", BrandTermKind.BANNED_TERM, term)


def test_image_registry_add_list_remove(db: sa.Engine) -> None:
    service = ImageRegistryService(db)
    logo = service.add_image(
        "t1", png_of((200, 30, 30), pattern=True), ImageEntryKind.BANNED, "logo"
    )
    assert len(logo.phash) == 16
    assert len(logo.sha256) == 64
    again = service.add_image("t1", png_of((200, 30, 30), pattern=True), ImageEntryKind.BANNED)
    assert again.id == logo.id
    service.add_image("t1", png_of((10, 200, 30)), ImageEntryKind.PROTECTED, "brand asset")
    assert [image.kind for image in service.list_images("t1")] == [
        ImageEntryKind.BANNED,
        ImageEntryKind.PROTECTED,
    ]
    assert service.list_images("t2") == []
    with pytest.raises(ModerationEntryNotFoundError):
        service.remove_image("t2", logo.id)
    service.remove_image("t1", logo.id)
    assert [entry.label for entry in service.tenant_images("t1")] == ["brand asset"]


def test_registry_rejects_non_images(db: sa.Engine) -> None:
    with pytest.raises(NotAnImageError):
        ImageRegistryService(db).add_image("t1", b"GIF89a-truncated", ImageEntryKind.BANNED)


def test_engine_uses_what_the_services_return(
    db: sa.Engine, engine: ModerationEngine, cn_policy: Policy
) -> None:
    brands = BrandListService(db)
    brands.add_term("t1", BrandTermKind.BANNED_TERM, "山寨")
    brands.add_term("t1", BrandTermKind.PRODUCT_NAME, "极品绿茶")
    decision = engine.moderate_text(
        "极品绿茶，不是山寨货", Direction.OUTPUT, cn_policy, tenant_lists=brands.tenant_lists("t1")
    )
    assert [f.category for f in decision.findings] == ["brand.banned_term"]
    assert decision.action is Action.BLOCK

    images = ImageRegistryService(db)
    banned = png_of((200, 30, 30), pattern=True)
    images.add_image("t1", banned, ImageEntryKind.BANNED, "banned")
    decision = engine.moderate_image(
        banned, Direction.OUTPUT, cn_policy, tenant_images=images.tenant_images("t1")
    )
    assert decision.action is Action.BLOCK
