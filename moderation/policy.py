"""Policies: which scanners run in which order, and how findings become a decision.

A policy is a YAML file (shipped: ``cn-marketing``, the default, and ``eu-general`` in
``moderation/policies/``). Rules are tried in file order; the first rule whose category
patterns (``fnmatch``: ``ad_law.*``) match a finding decides that finding's action by
the highest threshold its score reaches. The decision takes the most severe action and
lists, for each finding that moved it, the rule and the clause it cites::

    policy = load_policy("cn-marketing")          # or a path to a tenant's own file
    policy.version                                # sha256 hex of the canonical content
    policy.scanners_for(Direction.INPUT)          # ("pii", "lexicon", "bias", "toxicity")
    decision = policy.decide(findings, Direction.OUTPUT)
    strict = policy.with_double_review(["bias.*"])   # a tenant's variant, new version

A malformed file fails at load time with a ``PolicyError`` naming the file and line.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from common.types import ReasonCode
from moderation._yaml import LineDict, load_yaml, raise_at, with_lines
from moderation.interface import Action, Decision, DecisionReason, Direction, Finding, PolicyError
from moderation.settings import PACKAGE_DIR

__all__ = [
    "DEFAULT_POLICY",
    "Policy",
    "PolicyRule",
    "ReasonCode",
    "Threshold",
    "load_policy",
    "shipped_policy_names",
]

DEFAULT_POLICY = "cn-marketing"
SHIPPED_POLICY_DIR = PACKAGE_DIR / "policies"
_SCANNER_KEYS = ("input", "output", "image")


@dataclass(frozen=True, slots=True)
class Threshold:
    min_score: float
    action: Action


@dataclass(frozen=True, slots=True)
class PolicyRule:
    id: str
    categories: tuple[str, ...]  # fnmatch patterns
    thresholds: tuple[Threshold, ...]  # highest min_score first
    clause: str
    queue: str
    reason_code: str | None = None

    def matches(self, category: str) -> bool:
        return any(fnmatch.fnmatchcase(category, pattern) for pattern in self.categories)

    def action_for(self, score: float) -> Action:
        for threshold in self.thresholds:
            if score >= threshold.min_score:
                return threshold.action
        return Action.ALLOW


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    version: str
    description: str
    input_scanners: tuple[str, ...]
    output_scanners: tuple[str, ...]
    image_scanners: tuple[str, ...]
    rules: tuple[PolicyRule, ...]
    reason_codes: tuple[ReasonCode, ...]
    default_action: Action  # for a finding no rule matches: fail closed, not open
    default_queue: str
    double_review_categories: tuple[str, ...] = ()

    def scanners_for(self, direction: Direction) -> tuple[str, ...]:
        return self.input_scanners if direction is Direction.INPUT else self.output_scanners

    def rule_for(self, category: str) -> PolicyRule | None:
        return next((rule for rule in self.rules if rule.matches(category)), None)

    def reason_code(self, code: str) -> ReasonCode | None:
        return next((reason for reason in self.reason_codes if reason.code == code), None)

    def reason_codes_for(self, categories: Iterable[str]) -> tuple[ReasonCode, ...]:
        """The codes a reviewer may give for findings of these categories, in list order.

        Those of the rules the findings matched, plus ``other`` (a reviewer's judgement is
        always possible). A policy without ``other`` whose rules name no code offers every
        code, so a reject is never impossible.
        """
        wanted = {"other"}
        for category in categories:
            rule = self.rule_for(category)
            if rule is not None and rule.reason_code:
                wanted.add(rule.reason_code)
        applicable = tuple(r for r in self.reason_codes if r.code in wanted)
        return applicable or self.reason_codes

    def needs_double_review(self, category: str) -> bool:
        return any(fnmatch.fnmatchcase(category, p) for p in self.double_review_categories)

    def decide(
        self,
        findings: Sequence[Finding],
        direction: Direction,
        scanner_versions: Sequence[str] = (),
    ) -> Decision:
        reasons = tuple(
            reason
            for index, finding in enumerate(findings)
            if (reason := self._reason(index, finding)).action is not Action.ALLOW
        )
        action = max((r.action for r in reasons), key=lambda a: a.severity, default=Action.ALLOW)
        deciding = [reason for reason in reasons if reason.action is action]
        return Decision(
            action=action,
            findings=tuple(findings),
            reasons=reasons,
            policy_name=self.name,
            policy_version=self.version,
            direction=direction,
            review_queue=self._queue(deciding[0]) if deciding else self.default_queue,
            double_review=action is Action.REVIEW
            and any(self.needs_double_review(reason.category) for reason in deciding),
            scanner_versions=tuple(scanner_versions),
        )

    def with_double_review(self, categories: Iterable[str]) -> Policy:
        """A tenant's variant in which findings of these categories need two reviewers."""
        extra = tuple(categories)
        variant = dataclasses.replace(self, double_review_categories=extra, version="")
        fingerprint = json.dumps([self.version, list(extra)], ensure_ascii=False)
        return dataclasses.replace(variant, version=_sha256(fingerprint))

    def _reason(self, index: int, finding: Finding) -> DecisionReason:
        rule = self.rule_for(finding.category)
        if rule is None:
            return DecisionReason(
                category=finding.category,
                action=self.default_action,
                clause=f"no rule of policy {self.name} covers this category (policy default)",
                rule="default",
                finding_index=index,
            )
        return DecisionReason(
            category=finding.category,
            action=rule.action_for(finding.score),
            clause=rule.clause,
            rule=rule.id,
            finding_index=index,
            reason_code=rule.reason_code,
        )

    def _queue(self, reason: DecisionReason) -> str:
        rule = next((rule for rule in self.rules if rule.id == reason.rule), None)
        return rule.queue if rule else self.default_queue


def shipped_policy_names() -> list[str]:
    return sorted(path.stem for path in SHIPPED_POLICY_DIR.glob("*.yaml"))


def load_policy(name_or_path: str | Path, search_dir: Path | None = None) -> Policy:
    """A shipped policy by name, a policy in ``search_dir`` by name, or a file by path."""
    return _load_policy_file(_policy_path(name_or_path, search_dir))


def _policy_path(name_or_path: str | Path, search_dir: Path | None) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.is_absolute():
        return candidate
    for directory in (search_dir, SHIPPED_POLICY_DIR):
        if directory is not None and (directory / f"{name_or_path}.yaml").is_file():
            return directory / f"{name_or_path}.yaml"
    known = ", ".join(shipped_policy_names())
    raise PolicyError(f"unknown policy {str(name_or_path)!r}; shipped policies: {known}")


@lru_cache(maxsize=256)
def _load_policy_file_cached(path: Path, mtime_ns: int) -> Policy:
    return _parse_policy(path, load_yaml(path))


def _load_policy_file(path: Path) -> Policy:
    try:
        mtime_ns = path.stat().st_mtime_ns
    except OSError as exc:
        raise PolicyError(f"{path}: cannot be read: {exc}") from exc
    return _load_policy_file_cached(path.resolve(), mtime_ns)


def _parse_policy(path: Path, data: Any) -> Policy:
    if not isinstance(data, LineDict):
        raise_at(path, 1, "a policy file must be a mapping")
    _reject_unknown_keys(path, data, _POLICY_KEYS)
    scanners = _scanner_lists(path, data)
    reason_codes = tuple(
        _reason_code(path, item, line) for item, line in _items(path, data, "reason_codes")
    )
    known_codes = {reason.code for reason in reason_codes}
    rules = tuple(
        _rule(path, item, line, known_codes) for item, line in _items(path, data, "rules")
    )
    if not rules:
        raise_at(path, data.line_of("rules"), "a policy needs at least one rule")
    return Policy(
        name=_str(path, data, "name"),
        version=_sha256(json.dumps(data, sort_keys=True, ensure_ascii=False)),
        description=str(data.get("description", "")),
        input_scanners=scanners["input"],
        output_scanners=scanners["output"],
        image_scanners=scanners["image"],
        rules=rules,
        reason_codes=reason_codes,
        default_action=_action(path, data, "default_action", Action.REVIEW),
        default_queue=str(data.get("default_queue", "default")),
        double_review_categories=tuple(_str_list(path, data, "double_review_categories")),
    )


_POLICY_KEYS = frozenset(
    {
        "name",
        "description",
        "scanners",
        "default_action",
        "default_queue",
        "double_review_categories",
        "reason_codes",
        "rules",
    }
)
_RULE_KEYS = frozenset({"id", "categories", "clause", "queue", "reason_code", "thresholds"})


def _scanner_lists(path: Path, data: LineDict) -> dict[str, tuple[str, ...]]:
    scanners = data.get("scanners")
    if not isinstance(scanners, LineDict):
        raise_at(path, data.line_of("scanners"), "'scanners' must map input/output/image to lists")
    _reject_unknown_keys(path, scanners, frozenset(_SCANNER_KEYS))
    lists = {key: tuple(_str_list(path, scanners, key)) for key in _SCANNER_KEYS}
    for key in ("input", "output"):
        # STYLE: composite checks fail closed; no scanners is a configuration error.
        if not lists[key]:
            raise_at(path, scanners.line_of(key), f"'scanners.{key}' must list at least one")
    return lists


def _rule(path: Path, item: Any, line: int, known_codes: set[str]) -> PolicyRule:
    if not isinstance(item, LineDict):
        raise_at(path, line, "each rule must be a mapping")
    _reject_unknown_keys(path, item, _RULE_KEYS)
    reason_code = item.get("reason_code")
    if reason_code is not None and reason_code not in known_codes:
        raise_at(path, item.line_of("reason_code"), f"unknown reason_code {reason_code!r}")
    thresholds = [_threshold(path, t, line) for t, line in _items(path, item, "thresholds")]
    if not thresholds:
        raise_at(path, item.line_of("thresholds"), "a rule needs at least one threshold")
    categories = _str_list(path, item, "categories")
    if not categories:
        raise_at(path, item.line_of("categories"), "a rule needs at least one category")
    return PolicyRule(
        id=_str(path, item, "id"),
        categories=tuple(categories),
        thresholds=tuple(sorted(thresholds, key=lambda t: -t.min_score)),
        clause=_str(path, item, "clause"),
        queue=str(item.get("queue", "default")),
        reason_code=reason_code,
    )


def _threshold(path: Path, item: Any, line: int) -> Threshold:
    if not isinstance(item, LineDict):
        raise_at(path, line, "each threshold must be a mapping {min_score, action}")
    _reject_unknown_keys(path, item, frozenset({"min_score", "action"}))
    score = item.get("min_score")
    if not isinstance(score, int | float) or isinstance(score, bool) or not 0 <= score <= 1:
        raise_at(path, item.line_of("min_score"), "'min_score' must be a number in 0..1")
    return Threshold(min_score=float(score), action=_action(path, item, "action", None))


def _reason_code(path: Path, item: Any, line: int) -> ReasonCode:
    if not isinstance(item, LineDict):
        raise_at(path, line, "each reason code must be a mapping")
    _reject_unknown_keys(path, item, frozenset({"code", "clause", "zh", "en"}))
    return ReasonCode(
        code=_str(path, item, "code"),
        clause=_str(path, item, "clause"),
        zh=_str(path, item, "zh"),
        en=_str(path, item, "en"),
    )


def _action(path: Path, data: LineDict, key: str, default: Action | None) -> Action:
    value = data.get(key)
    if value is None and default is not None:
        return default
    try:
        return Action(str(value))
    except ValueError:
        allowed = ", ".join(action.value for action in Action)
        raise_at(path, data.line_of(key), f"{key!r} must be one of {allowed}, not {value!r}")


def _reject_unknown_keys(path: Path, data: LineDict, allowed: frozenset[str]) -> None:
    for key in data:
        if key not in allowed:
            raise_at(path, data.line_of(key), f"unknown key {key!r}")


def _list(path: Path, data: LineDict, key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise_at(path, data.line_of(key), f"{key!r} must be a list")
    return value


def _items(path: Path, data: LineDict, key: str) -> list[tuple[Any, int]]:
    return with_lines(_list(path, data, key), data.line_of(key))


def _str_list(path: Path, data: LineDict, key: str) -> list[str]:
    value = _list(path, data, key)
    if not all(isinstance(item, str) and item for item in value):
        raise_at(path, data.line_of(key), f"{key!r} must be a list of non-empty strings")
    return value


def _str(path: Path, data: LineDict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise_at(path, data.line_of(key), f"{key!r} must be a non-empty string")
    return value


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
