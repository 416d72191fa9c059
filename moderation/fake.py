"""A fake moderation engine for other packages' tests: fast, deterministic, no models.

It has the real engine's methods and decides with the real ``Policy``, but finds only
configured marker strings::

    engine = FakeModerationEngine()                      # default markers below
    policy = load_policy("cn-marketing")
    engine.moderate_text("please BLOCKME", Direction.INPUT, policy).action   # Action.BLOCK
    engine.moderate_text("REVIEWME now", Direction.OUTPUT, policy).action    # Action.REVIEW
    engine.calls        # [("text", Direction.INPUT, "please BLOCKME"), ...]

Images: PNG/JPEG/WebP bytes pass unless they contain a marker; other bytes raise
``NotAnImageError`` like the real engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from common.types import ContentKind
from moderation.interface import (
    Decision,
    Direction,
    Finding,
    ImageHashEntry,
    NotAnImageError,
    TenantLists,
    TextTooLargeError,
)
from moderation.policy import Policy
from moderation.scanners.pii import redact

__all__ = ["DEFAULT_MARKERS", "FakeModerationEngine"]

# marker → (category, score); under cn-marketing BLOCKME blocks and REVIEWME reviews.
DEFAULT_MARKERS: Mapping[str, tuple[str, float]] = {
    "BLOCKME": ("toxicity", 0.99),
    "REVIEWME": ("ad_law.absolute_term", 0.8),
    "PIIME": ("pii.cn_mobile", 0.9),
}
_FAKE_VERSIONS = ("fake=1",)
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")


class FakeModerationEngine:
    def __init__(
        self,
        markers: Mapping[str, tuple[str, float]] = DEFAULT_MARKERS,
        *,
        readiness_problem: str | None = None,
        max_text_chars: int = 100_000,
    ) -> None:
        self.markers = dict(markers)
        self.calls: list[tuple[str, Direction, str]] = []
        self._readiness_problem = readiness_problem
        self._max_text_chars = max_text_chars

    def moderate_text(
        self,
        text: str | bytes,
        direction: Direction,
        policy: Policy,
        *,
        tenant_lists: TenantLists | None = None,
    ) -> Decision:
        return self.moderate_texts([text], direction, policy, tenant_lists=tenant_lists)[0]

    def moderate_texts(
        self,
        texts: Sequence[str | bytes],
        direction: Direction,
        policy: Policy,
        *,
        tenant_lists: TenantLists | None = None,
    ) -> list[Decision]:
        decisions = []
        for raw in texts:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if len(text) > self._max_text_chars:
                raise TextTooLargeError(f"the text has {len(text)} characters")
            self.calls.append(("text", direction, text))
            decisions.append(policy.decide(self._find(text), direction, _FAKE_VERSIONS))
        return decisions

    def moderate_image(
        self,
        data: bytes,
        direction: Direction,
        policy: Policy,
        *,
        tenant_images: Sequence[ImageHashEntry] = (),
    ) -> Decision:
        if not data.startswith(_IMAGE_MAGIC):
            raise NotAnImageError("the content is not a decodable image")
        self.calls.append(("image", direction, f"{len(data)} bytes"))
        text = data.decode("latin-1")
        findings = [
            Finding("fake", "image_match.banned", 1.0, evidence=marker)
            for marker in self.markers
            if marker in text
        ]
        return policy.decide(findings, direction, _FAKE_VERSIONS)

    def moderate_content(
        self,
        kind: ContentKind,
        data: bytes,
        direction: Direction,
        policy: Policy,
        *,
        tenant_lists: TenantLists | None = None,
        tenant_images: Sequence[ImageHashEntry] = (),
    ) -> Decision:
        if kind is ContentKind.IMAGE:
            return self.moderate_image(data, direction, policy, tenant_images=tenant_images)
        # Text, and a 3D model's bytes read as text: markers anywhere count.
        text = data.decode("utf-8", errors="replace")
        return self.moderate_text(text, direction, policy, tenant_lists=tenant_lists)

    def redact(self, text: str) -> str:
        return redact(text)

    def readiness_problem(self) -> str | None:
        return self._readiness_problem

    def warm_up(self, policy: Policy) -> None:
        return None

    def _find(self, text: str) -> list[Finding]:
        findings = []
        for marker, (category, score) in self.markers.items():
            start = text.find(marker)
            if start >= 0:
                span = (start, start + len(marker))
                findings.append(Finding("fake", category, score, span, marker))
        return findings
