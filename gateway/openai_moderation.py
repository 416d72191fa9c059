"""Moderation decisions in the shape of OpenAI's moderation result (``POST /v1/moderations``).

A wire format, so it lives in the gateway, not in the moderation domain. One result per
input, built from the input decision and, when the route also runs the output scanners,
the output decision::

    result = to_openai_moderation(input_decision, output_decision)
    response = {"id": "modr-...", "model": policy.name, "results": [result]}

``flagged`` is true when either decision is review or block, whatever the category
(ARCHITECTURE: ad-law terms and personal data included). ``categories`` and
``category_scores`` use OpenAI's names; findings that have no OpenAI counterpart
(advertising law, personal data, brand lists) still flag, and appear in ``findings``
with their spans, the action and the clause they map to.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from moderation.interface import Action, Decision

__all__ = ["OPENAI_CATEGORIES", "openai_categories_for", "to_openai_moderation"]

OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# Our category pattern → OpenAI categories (first matching pattern wins).
_CATEGORY_MAP: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("threat", ("harassment/threatening", "violence")),
    ("identity_attack", ("hate",)),
    ("bias.*", ("hate",)),
    ("sexual_explicit", ("sexual",)),
    ("toxicity", ("harassment",)),
    ("severe_toxicity", ("harassment",)),
    ("insult", ("harassment",)),
    ("obscene", ("harassment",)),
)


def openai_categories_for(category: str) -> tuple[str, ...]:
    for pattern, names in _CATEGORY_MAP:
        if fnmatch.fnmatchcase(category, pattern):
            return names
    return ()


def to_openai_moderation(
    input_decision: Decision, output_decision: Decision | None = None
) -> dict[str, Any]:
    decisions = [d for d in (input_decision, output_decision) if d is not None]
    categories = dict.fromkeys(OPENAI_CATEGORIES, False)
    scores = dict.fromkeys(OPENAI_CATEGORIES, 0.0)
    findings: list[dict[str, Any]] = []
    for decision in decisions:
        actions = _action_per_finding(decision)
        for index, finding in enumerate(decision.findings):
            action, clause = actions.get(index, (Action.ALLOW, None))
            for name in openai_categories_for(finding.category):
                scores[name] = max(scores[name], finding.score)
                categories[name] = categories[name] or action is not Action.ALLOW
            findings.append(
                {
                    "direction": decision.direction.value,
                    "scanner": finding.scanner,
                    "category": finding.category,
                    "score": finding.score,
                    "span": list(finding.span) if finding.span else None,
                    "evidence": finding.evidence,
                    "action": action.value,
                    "clause": clause,
                }
            )
    return {
        "flagged": any(decision.flagged for decision in decisions),
        "categories": categories,
        "category_scores": scores,
        "findings": findings,
        "decision": {
            "input": input_decision.action.value,
            "output": output_decision.action.value if output_decision else None,
            "policy": input_decision.policy_name,
            "policy_version": input_decision.policy_version,
        },
    }


def _action_per_finding(decision: Decision) -> dict[int, tuple[Action, str | None]]:
    return {reason.finding_index: (reason.action, reason.clause) for reason in decision.reasons}
