"""The fake engine behaves like the real one where other packages rely on it."""

from __future__ import annotations

import pytest

from common.types import ContentKind
from moderation import Action, Direction, NotAnImageError
from moderation.fake import FakeModerationEngine
from moderation.policy import Policy


def test_markers_decide_through_the_real_policy(cn_policy: Policy) -> None:
    fake = FakeModerationEngine()
    assert fake.moderate_text("ok", Direction.INPUT, cn_policy).action is Action.ALLOW
    assert fake.moderate_text("x BLOCKME", Direction.INPUT, cn_policy).action is Action.BLOCK
    review = fake.moderate_text("REVIEWME", Direction.OUTPUT, cn_policy)
    assert review.action is Action.REVIEW
    assert review.findings[0].span == (0, 8)
    assert fake.calls == [
        ("text", Direction.INPUT, "ok"),
        ("text", Direction.INPUT, "x BLOCKME"),
        ("text", Direction.OUTPUT, "REVIEWME"),
    ]


def test_images(cn_policy: Policy) -> None:
    fake = FakeModerationEngine()
    png = b"\x89PNG\r\n\x1a\n" + b"pixels"
    assert fake.moderate_image(png, Direction.OUTPUT, cn_policy).action is Action.ALLOW
    assert fake.moderate_image(png + b"BLOCKME", Direction.OUTPUT, cn_policy).action is Action.BLOCK
    with pytest.raises(NotAnImageError):
        fake.moderate_image(b"text", Direction.OUTPUT, cn_policy)


def test_content_dispatch(cn_policy: Policy) -> None:
    fake = FakeModerationEngine()
    glb = b"glTF\x02\x00\x00\x00 REVIEWME"
    decision = fake.moderate_content(ContentKind.MODEL3D, glb, Direction.OUTPUT, cn_policy)
    assert decision.action is Action.REVIEW


def test_readiness_is_configurable() -> None:
    assert FakeModerationEngine().readiness_problem() is None
    assert FakeModerationEngine(readiness_problem="down").readiness_problem() == "down"
