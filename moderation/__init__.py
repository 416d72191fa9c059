"""Moderation: scanners, policies and decisions for prompts, outputs and images.

    from moderation import Direction, ModerationSettings, build_engine, load_policy

    engine = build_engine(ModerationSettings())
    decision = engine.moderate_text("全网最低价", Direction.INPUT, load_policy("cn-marketing"))
    decision.action, decision.reasons[0].clause

Importing the package is cheap: models and lexicons load when first used.
"""

from __future__ import annotations

from moderation.engine import ModerationEngine, build_engine
from moderation.interface import (
    Action,
    Decision,
    DecisionReason,
    Direction,
    Finding,
    ImageHashEntry,
    ImageScanner,
    InvalidTermError,
    InvalidTextError,
    ModerationEntryNotFoundError,
    NotAModelError,
    NotAnImageError,
    PolicyError,
    Scanner,
    ScannerNotReadyError,
    TenantLists,
    TextTooLargeError,
    UnknownScannerError,
)
from moderation.policy import DEFAULT_POLICY, Policy, load_policy, shipped_policy_names
from moderation.settings import DetoxifySettings, ModerationSettings

__all__ = [
    "DEFAULT_POLICY",
    "Action",
    "Decision",
    "DecisionReason",
    "DetoxifySettings",
    "Direction",
    "Finding",
    "ImageHashEntry",
    "ImageScanner",
    "InvalidTermError",
    "InvalidTextError",
    "ModerationEngine",
    "ModerationEntryNotFoundError",
    "ModerationSettings",
    "NotAModelError",
    "NotAnImageError",
    "Policy",
    "PolicyError",
    "Scanner",
    "ScannerNotReadyError",
    "TenantLists",
    "TextTooLargeError",
    "UnknownScannerError",
    "build_engine",
    "load_policy",
    "shipped_policy_names",
]
