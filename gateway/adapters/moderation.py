"""The moderation port over ``moderation.ModerationEngine`` and the tenant's brand lists.

port = EngineModeration(build_engine(settings), BrandListService(db), ImageRegistryService(db))
verdict = port.check(CheckedContent(kind=ContentKind.TEXT, text="全网最佳"),
                     Direction.OUTPUT, "cn-marketing", "acme")
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from pathlib import Path

from common.errors import InvalidInputError
from common.types import Action, Direction
from gateway.ports import CheckedContent, ModerationVerdict
from moderation.engine import ModerationEngine
from moderation.interface import Decision, ImageHashEntry, PolicyError, TenantLists
from moderation.models import (
    BrandListService,
    BrandTerm,
    BrandTermKind,
    ImageEntryKind,
    ImageRegistryService,
    RegisteredImage,
)
from moderation.policy import Policy, load_policy, shipped_policy_names

__all__ = [
    "EngineModeration",
    "InvalidPolicyError",
    "UnknownPolicyError",
    "custom_policy_name",
    "is_custom_policy_of",
]

_LISTS_TTL_S = 2.0
_POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CUSTOM_POLICY_NAME = re.compile(r"^custom-[0-9a-f]{16}-v[0-9]{1,9}$")


def custom_policy_name(tenant_id: str, version: int) -> str:
    """The name of a tenant's uploaded policy: its tenant by hash, and its version."""
    return f"custom-{hashlib.sha256(tenant_id.encode()).hexdigest()[:16]}-v{version}"


def is_custom_policy_of(name: str, tenant_id: str) -> bool:
    prefix = custom_policy_name(tenant_id, 0).removesuffix("v0")
    return bool(_CUSTOM_POLICY_NAME.match(name)) and name.startswith(prefix)


class UnknownPolicyError(InvalidInputError):
    code = "unknown_policy"


class InvalidPolicyError(InvalidInputError):
    """An uploaded policy that does not load (422, naming the line)."""

    code = "invalid_policy"


class EngineModeration:
    name = "moderation-engine"

    def __init__(
        self,
        engine: ModerationEngine,
        brand_lists: BrandListService,
        images: ImageRegistryService,
        policy_dir: Path | None = None,
        *,
        redact_prompts: bool = False,
        custom_policy_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.brand_lists = brand_lists
        self.images = images
        self.policy_dir = policy_dir
        # Policies a tenant's admin uploaded (PUT /v1/policy with YAML), one file per
        # version, named by ``custom_policy_name``; never listed to other tenants.
        self.custom_policy_dir = custom_policy_dir
        self.redact_prompts = redact_prompts
        self._lists: dict[str, tuple[float, TenantLists, tuple[ImageHashEntry, ...]]] = {}
        self._policies: dict[str, tuple[float, Policy]] = {}

    def tenant_lists(self, tenant_id: str) -> tuple[TenantLists, tuple[ImageHashEntry, ...]]:
        """The tenant's brand lists and image registry, read at most every few seconds.

        A prompt and its output are checked moments apart; reading the lists once for both
        saves two queries per generation. Changes made through this process apply at once
        (the mutations below forget the cached copy); other processes see them within
        ``_LISTS_TTL_S``.
        """
        now = time.monotonic()
        cached = self._lists.get(tenant_id)
        if cached is None or now - cached[0] > _LISTS_TTL_S:
            lists = self.brand_lists.tenant_lists(tenant_id)
            images = tuple(self.images.tenant_images(tenant_id))
            cached = self._lists[tenant_id] = (now, lists, images)
        return cached[1], cached[2]

    def _forget_tenant(self, tenant_id: str) -> None:
        self._lists.pop(tenant_id, None)

    # --- the tenant's lists: every change is seen by this process's next check ---------

    def list_terms(self, tenant_id: str, kind: BrandTermKind | None = None) -> list[BrandTerm]:
        return self.brand_lists.list_terms(tenant_id, kind)

    def add_term(self, tenant_id: str, kind: BrandTermKind, term: str) -> BrandTerm:
        added = self.brand_lists.add_term(tenant_id, kind, term)
        self._forget_tenant(tenant_id)
        return added

    def remove_term(self, tenant_id: str, term_id: int) -> None:
        self.brand_lists.remove_term(tenant_id, term_id)
        self._forget_tenant(tenant_id)

    def list_images(self, tenant_id: str) -> list[RegisteredImage]:
        return self.images.list_images(tenant_id)

    def add_image(
        self, tenant_id: str, data: bytes, kind: ImageEntryKind, label: str
    ) -> RegisteredImage:
        added = self.images.add_image(tenant_id, data, kind, label)
        self._forget_tenant(tenant_id)
        return added

    def remove_image(self, tenant_id: str, image_id: int) -> None:
        self.images.remove_image(tenant_id, image_id)
        self._forget_tenant(tenant_id)

    def validate(self, default_policy: str) -> None:
        """Load every policy (a malformed file fails here, naming its line) and build the
        default policy's scanners, so configuration errors stop the start, not a request."""
        for name in self.known_policies():
            self.policy(name)
        self.engine.warm_up(self.policy(default_policy))

    def known_policies(self) -> list[str]:
        local = sorted(p.stem for p in self.policy_dir.glob("*.yaml")) if self.policy_dir else []
        return sorted({*local, *shipped_policy_names()})

    def policy(self, name: str) -> Policy:
        """A policy by name, re-read from disk at most every few seconds.

        Finding it means listing two directories and statting its file — more than the
        scanners spend on a short text — and every generation asks twice; an edited or
        added policy file applies within ``_LISTS_TTL_S``.
        """
        now = time.monotonic()
        cached = self._policies.get(name)
        if cached is not None and now - cached[0] <= _LISTS_TTL_S:
            return cached[1]
        # Only plain names: a request must never make us read a path of its choosing.
        custom = self._custom_policy_path(name)
        if custom is not None:
            loaded = dataclasses.replace(load_policy(custom), name=name)
        elif _POLICY_NAME.match(name) and name in self.known_policies():
            loaded = load_policy(name, self.policy_dir)
        else:
            raise UnknownPolicyError(
                f"unknown policy {name!r}", details={"known": self.known_policies()}
            )
        self._policies[name] = (now, loaded)
        return loaded

    def _custom_policy_path(self, name: str) -> Path | None:
        if self.custom_policy_dir is None or not _CUSTOM_POLICY_NAME.match(name):
            return None
        path = self.custom_policy_dir / f"{name}.yaml"
        return path if path.is_file() else None

    def save_custom_policy(self, tenant_id: str, version: int, yaml_text: str) -> str:
        """Validate an uploaded policy and keep it as the tenant's version ``version``.

        Raises ``PolicyError`` (422, naming the line) for a policy that does not load; the
        file is written only once it loaded, so a bad upload leaves nothing behind.
        """
        if self.custom_policy_dir is None:
            raise UnknownPolicyError("this deployment takes no uploaded policies")
        name = custom_policy_name(tenant_id, version)
        self.custom_policy_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = self.custom_policy_dir / f".{name}.upload.yaml"
        staging.write_text(yaml_text, encoding="utf-8")
        try:
            load_policy(staging)
            staging.replace(self.custom_policy_dir / f"{name}.yaml")
        except PolicyError as exc:
            # The parser names the file it read: say "policy" instead of our path.
            message = str(exc).replace(str(staging.resolve()), "policy")
            raise InvalidPolicyError(message.replace(str(staging), "policy")) from exc
        finally:
            staging.unlink(missing_ok=True)
        return name

    def decide(
        self, content: CheckedContent, direction: Direction, policy: Policy, tenant_id: str
    ) -> Decision:
        """The domain decision for one piece of content (also used by /v1/moderations)."""
        lists, images = self.tenant_lists(tenant_id)
        if content.text is not None:
            return self.engine.moderate_text(content.text, direction, policy, tenant_lists=lists)
        # Images through the image scanners; 3D assets through both (their strings as
        # text, their textures as images).
        return self.engine.moderate_content(
            content.kind,
            content.data or b"",
            direction,
            policy,
            tenant_lists=lists,
            tenant_images=images,
        )

    def check(
        self, content: CheckedContent, direction: Direction, policy: str, tenant_id: str
    ) -> ModerationVerdict:
        loaded = self.policy(policy)
        verdict = verdict_from_decision(self.decide(content, direction, loaded, tenant_id), loaded)
        if self.redact_prompts and direction is Direction.INPUT and content.text is not None:
            redacted = self.engine.redact(content.text)
            if redacted != content.text:
                verdict = dataclasses.replace(verdict, redacted_text=redacted)
        return verdict

    def readiness_problem(self) -> str | None:
        return self.engine.readiness_problem()


def verdict_from_decision(decision: Decision, policy: Policy) -> ModerationVerdict:
    clauses = {reason.finding_index: reason for reason in decision.reasons}
    findings = []
    for index, finding in enumerate(decision.findings):
        reason = clauses.get(index)
        judged = dataclasses.replace(
            finding,
            score=round(finding.score, 4),
            direction=decision.direction,
            action=reason.action if reason else Action.ALLOW,
            clause=reason.clause if reason else None,
        )
        findings.append(judged)
    return ModerationVerdict(
        action=decision.action,
        policy_name=decision.policy_name,
        policy_version=decision.policy_version,
        findings=tuple(findings),
        reasons=tuple(f"{r.category}: {r.action.value} ({r.clause})" for r in decision.reasons),
        review_queue=decision.review_queue,
        double_review=decision.double_review,
        reason_codes=policy.reason_codes_for(f.category for f in decision.findings),
    )
