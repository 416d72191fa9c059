"""The moderation engine: runs a policy's scanners in order and returns its decision.

One engine per process, built from settings; policies and tenant lists are passed per
call, so every tenant can have its own::

    engine = build_engine(ModerationSettings())
    policy = load_policy("cn-marketing")
    engine.warm_up(policy)                                   # load models at start-up
    decision = engine.moderate_text(prompt, Direction.INPUT, policy,
                                    tenant_lists=TenantLists(banned_terms=("竞品A",)))
    if decision.action is Action.BLOCK: ...                  # never reaches a generator
    decisions = engine.moderate_texts(outputs, Direction.OUTPUT, policy)  # batched
    engine.moderate_image(png_bytes, Direction.OUTPUT, policy, tenant_images=entries)
    engine.redact("电话13812345678")                          # "电话[REDACTED:cn_mobile]"

Scanners are built on first use and cached; the lexicon scanner with a tenant's brand
lists is built per distinct list (LRU-cached), since one automaton holds both.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import assert_never

from common.types import ContentKind
from moderation.interface import (
    Decision,
    Direction,
    Finding,
    ImageHashEntry,
    ImageScanner,
    InvalidTextError,
    NotAnImageError,
    PolicyError,
    Scanner,
    TenantLists,
    TextTooLargeError,
)
from moderation.policy import Policy, load_policy
from moderation.registry import build_image_scanner, build_scanner
from moderation.scanners.lexicon import LexiconScanner, tenant_lexicon
from moderation.scanners.model3d import extract_glb_content
from moderation.scanners.pii import redact
from moderation.scanners.toxicity import DetoxifyScanner
from moderation.settings import ModerationSettings

__all__ = ["ModerationEngine", "build_engine"]

_UNDECODABLE_TEXTURE = Finding(
    scanner="model3d",
    category="model3d.undecodable_texture",
    score=1.0,
    evidence="an embedded texture is not a decodable image",
)


def build_engine(settings: ModerationSettings) -> ModerationEngine:
    return ModerationEngine(settings)


class ModerationEngine:
    def __init__(self, settings: ModerationSettings) -> None:
        self.settings = settings
        self._scanners: dict[str, Scanner] = {}
        self._image_scanners: dict[str, ImageScanner] = {}
        self._lock = threading.Lock()
        self._tenant_lexicon_scanner = lru_cache(maxsize=settings.tenant_lexicon_cache_size)(
            self._build_tenant_lexicon_scanner
        )

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
        """One decision per text; model scanners see the whole batch at once."""
        decoded = [self.checked_text(text) for text in texts]
        per_text, versions = self._scan_texts(decoded, direction, policy, tenant_lists)
        return [self._decide(policy, findings, direction, versions) for findings in per_text]

    def moderate_image(
        self,
        data: bytes,
        direction: Direction,
        policy: Policy,
        *,
        tenant_images: Sequence[ImageHashEntry] = (),
    ) -> Decision:
        """Raises ``NotAnImageError`` (415) when the bytes are not an image."""
        findings, versions = self._scan_image(data, policy, tenant_images)
        return self._decide(policy, findings, direction, versions)

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
        """Any artifact by kind: text (UTF-8 bytes), image, or 3D model (GLB)."""
        if kind is ContentKind.TEXT:
            return self.moderate_text(data, direction, policy, tenant_lists=tenant_lists)
        if kind is ContentKind.IMAGE:
            return self.moderate_image(data, direction, policy, tenant_images=tenant_images)
        if kind is ContentKind.MODEL3D:
            return self._moderate_model3d(data, direction, policy, tenant_lists, tenant_images)
        assert_never(kind)

    def load_policy(self, name_or_path: str | Path) -> Policy:
        """A policy by name (``settings.policy_dir`` first, then the shipped ones) or path."""
        return load_policy(name_or_path, search_dir=self.settings.policy_dir)

    def redact(self, text: str) -> str:
        """The text with personal data replaced by ``[REDACTED:<type>]`` markers."""
        return redact(self.checked_text(text))

    def checked_text(self, text: str | bytes) -> str:
        """Text within the configured size, decoded from UTF-8 when given as bytes."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidTextError(f"the text is not valid UTF-8 ({exc.reason})") from exc
        if len(text) > self.settings.max_text_chars:
            raise TextTooLargeError(
                f"the text has {len(text)} characters; the limit is {self.settings.max_text_chars}",
                details={"limit": self.settings.max_text_chars},
            )
        return text

    def warm_up(self, policy: Policy) -> None:
        """Build every scanner the policy names and load models, so errors come at start-up."""
        for direction in Direction:
            for scanner in self._pipeline(policy, direction, None):
                scanner.scan_many(["warm up"])
        for name in policy.image_scanners:
            self._image_scanner(name)

    def readiness_problem(self) -> str | None:
        """``None`` when the configured scanners can run, else a sentence saying why not."""
        if self.settings.detoxify.model is not None:
            problem = DetoxifyScanner(self.settings.detoxify).readiness_problem()
            if problem is not None:
                return problem
        directories = [
            ("lexicon directory", self.settings.lexicon_dir_resolved),
            ("bias lexicon directory", self.settings.bias_lexicon_dir_resolved),
            ("policy directory", self.settings.policy_dir),
        ]
        for label, directory in directories:
            if directory is not None and not directory.is_dir():
                return f"the {label} {directory} does not exist"
        return None

    def _moderate_model3d(
        self,
        data: bytes,
        direction: Direction,
        policy: Policy,
        tenant_lists: TenantLists | None,
        tenant_images: Sequence[ImageHashEntry],
    ) -> Decision:
        """Text scanners on the model's strings, image scanners on every texture."""
        content = extract_glb_content(data)
        text = self.checked_text(content.text)
        [findings], versions = self._scan_texts([text], direction, policy, tenant_lists)
        for texture in content.images:
            try:
                texture_findings, image_versions = self._scan_image(texture, policy, tenant_images)
            except NotAnImageError:
                # Fail closed: a texture we cannot decode cannot be cleared.
                texture_findings, image_versions = [_UNDECODABLE_TEXTURE], []
            findings.extend(texture_findings)
            versions.extend(v for v in image_versions if v not in versions)
        return self._decide(policy, findings, direction, versions)

    def _scan_texts(
        self,
        texts: list[str],
        direction: Direction,
        policy: Policy,
        tenant_lists: TenantLists | None,
    ) -> tuple[list[list[Finding]], list[str]]:
        per_text: list[list[Finding]] = [[] for _ in texts]
        pipeline = self._pipeline(policy, direction, tenant_lists)
        for scanner in pipeline:
            for findings, more in zip(per_text, scanner.scan_many(texts), strict=True):
                findings.extend(more)
        return per_text, [f"{scanner.name}={scanner.version}" for scanner in pipeline]

    def _scan_image(
        self, data: bytes, policy: Policy, tenant_images: Sequence[ImageHashEntry]
    ) -> tuple[list[Finding], list[str]]:
        if not policy.image_scanners:
            # STYLE: fail closed; a policy without image scanners cannot pass an image.
            raise PolicyError(f"policy {policy.name!r} lists no image scanners")
        findings: list[Finding] = []
        versions: list[str] = []
        for name in policy.image_scanners:
            scanner = self._image_scanner(name)
            findings.extend(scanner.scan_image(data, tenant_images))
            versions.append(f"{scanner.name}={scanner.version}")
        return findings, versions

    def _decide(
        self, policy: Policy, findings: list[Finding], direction: Direction, versions: list[str]
    ) -> Decision:
        capped = _capped(findings, self.settings.max_findings_per_category)
        return policy.decide(capped, direction, versions)

    def _pipeline(
        self, policy: Policy, direction: Direction, tenant_lists: TenantLists | None
    ) -> list[Scanner]:
        names = policy.scanners_for(direction)
        if not names:
            raise PolicyError(f"policy {policy.name!r} lists no {direction} scanners")
        return [self._text_scanner(name, tenant_lists) for name in names]

    def _text_scanner(self, name: str, tenant_lists: TenantLists | None) -> Scanner:
        if name == "lexicon" and tenant_lists is not None and not tenant_lists.is_empty():
            return self._tenant_lexicon_scanner(tenant_lists)
        with self._lock:
            if name not in self._scanners:
                self._scanners[name] = build_scanner(name, self.settings)
            return self._scanners[name]

    def _image_scanner(self, name: str) -> ImageScanner:
        with self._lock:
            if name not in self._image_scanners:
                self._image_scanners[name] = build_image_scanner(name, self.settings)
            return self._image_scanners[name]

    def _build_tenant_lexicon_scanner(self, tenant_lists: TenantLists) -> LexiconScanner:
        shipped = self._text_scanner("lexicon", None)
        assert isinstance(shipped, LexiconScanner)  # the registry's "lexicon" factory
        return LexiconScanner("lexicon", [*shipped.lexicons, tenant_lexicon(tenant_lists)])


def _capped(findings: list[Finding], per_category: int) -> list[Finding]:
    """At most ``per_category`` findings of each category, the highest scores, in order."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.category] = counts.get(finding.category, 0) + 1
    if all(count <= per_category for count in counts.values()):
        return findings
    ranked = sorted(range(len(findings)), key=lambda index: -findings[index].score)
    kept: set[int] = set()
    taken: dict[str, int] = {}
    for index in ranked:
        category = findings[index].category
        if taken.get(category, 0) < per_category:
            taken[category] = taken.get(category, 0) + 1
            kept.add(index)
    return [finding for index, finding in enumerate(findings) if index in kept]
