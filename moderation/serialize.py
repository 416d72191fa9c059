"""Decisions as JSON-safe dicts, and back: for API bodies, review tasks and ledger events.

    body = decision_to_dict(decision)                       # API / review task: with evidence
    leaf = decision_to_dict(decision, with_evidence=False)  # ledger: no content at all
    decision_from_dict(body) == decision                    # round trip

Evidence is the only field that carries content (masked for personal data); ledger
leaves must hold no prompts, outputs or personal data (ARCHITECTURE: Ledger), so
``with_evidence=False`` drops it and keeps categories, scores, spans and clauses.
"""

from __future__ import annotations

from typing import Any

from moderation.interface import Action, Decision, DecisionReason, Direction, Finding

__all__ = ["decision_from_dict", "decision_to_dict", "finding_to_dict"]


def finding_to_dict(finding: Finding, *, with_evidence: bool = True) -> dict[str, Any]:
    return {
        "scanner": finding.scanner,
        "category": finding.category,
        "score": finding.score,
        "span": list(finding.span) if finding.span is not None else None,
        "evidence": finding.evidence if with_evidence else None,
    }


def decision_to_dict(decision: Decision, *, with_evidence: bool = True) -> dict[str, Any]:
    return {
        "action": decision.action.value,
        "direction": decision.direction.value,
        "policy_name": decision.policy_name,
        "policy_version": decision.policy_version,
        "review_queue": decision.review_queue,
        "double_review": decision.double_review,
        "scanner_versions": list(decision.scanner_versions),
        "findings": [finding_to_dict(f, with_evidence=with_evidence) for f in decision.findings],
        "reasons": [_reason_to_dict(reason) for reason in decision.reasons],
    }


def decision_from_dict(data: dict[str, Any]) -> Decision:
    return Decision(
        action=Action(data["action"]),
        findings=tuple(_finding_from_dict(item) for item in data["findings"]),
        reasons=tuple(_reason_from_dict(item) for item in data["reasons"]),
        policy_name=data["policy_name"],
        policy_version=data["policy_version"],
        direction=Direction(data["direction"]),
        review_queue=data["review_queue"],
        double_review=bool(data["double_review"]),
        scanner_versions=tuple(data.get("scanner_versions", ())),
    )


def _reason_to_dict(reason: DecisionReason) -> dict[str, Any]:
    return {
        "category": reason.category,
        "action": reason.action.value,
        "clause": reason.clause,
        "rule": reason.rule,
        "finding_index": reason.finding_index,
        "reason_code": reason.reason_code,
    }


def _finding_from_dict(data: dict[str, Any]) -> Finding:
    span = data.get("span")
    return Finding(
        scanner=data["scanner"],
        category=data["category"],
        score=float(data["score"]),
        span=(int(span[0]), int(span[1])) if span is not None else None,
        evidence=data.get("evidence"),
    )


def _reason_from_dict(data: dict[str, Any]) -> DecisionReason:
    return DecisionReason(
        category=data["category"],
        action=Action(data["action"]),
        clause=data["clause"],
        rule=data["rule"],
        finding_index=int(data["finding_index"]),
        reason_code=data.get("reason_code"),
    )
