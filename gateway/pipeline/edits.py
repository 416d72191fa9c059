"""A reviewer's edit of a text output: moderated again before it can be released.

    edit = moderate_edit(moderation, store, generation, "春季新款连衣裙，舒适透气。", events)
    adopt_edit(generation, edit)     # the edited text is now what a release stamps
    edit.verdict.action              # allow: release it; otherwise back to the queue

The original stays in the content store; ``generation.meta["review_edit"]`` names both
texts by path and SHA-256, and the review ledger event records both hashes.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.types import ContentKind, Direction, TenantId
from gateway.content_store import ContentStore
from gateway.models import Generation
from gateway.pipeline.records import EventLog, raw_sha256
from gateway.ports import CheckedContent, ModerationPort, ModerationVerdict

__all__ = ["ReviewEdit", "adopt_edit", "moderate_edit"]


@dataclass(frozen=True, slots=True)
class ReviewEdit:
    text: str
    edited_path: str
    edited_sha256: str
    original_path: str
    original_sha256: str
    verdict: ModerationVerdict


def moderate_edit(
    moderation: ModerationPort,
    store: ContentStore,
    generation: Generation,
    text: str,
    events: EventLog,
) -> ReviewEdit:
    """Check the edited text as an output under the generation's policy, and keep it."""
    with events.stage("edit_moderation", moderation.name) as record:
        verdict = moderation.check(
            CheckedContent(kind=ContentKind.TEXT, text=text),
            Direction.OUTPUT,
            generation.policy_name or "",
            TenantId(generation.tenant_id),
        )
        record["outcome"] = verdict.action.value
        record["detail"] = {"categories": sorted({f.category for f in verdict.findings})}
    stored = store.put(text.encode("utf-8"), ".txt")
    return ReviewEdit(
        text=text,
        edited_path=stored.path,
        edited_sha256=stored.sha256,
        original_path=generation.raw_path or "",
        original_sha256=raw_sha256(generation.raw_path) or "",
        verdict=verdict,
    )


def adopt_edit(generation: Generation, edit: ReviewEdit) -> None:
    """The edited text becomes the output a release stamps; the original is named."""
    generation.raw_path = edit.edited_path
    generation.meta = {
        **generation.meta,
        "review_edit": {
            "original_path": edit.original_path,
            "original_sha256": edit.original_sha256,
            "edited_sha256": edit.edited_sha256,
            "moderation": edit.verdict.action.value,
        },
    }
