"""The stamping port over ``provenance.stamper.Stamper``.

Translates the pipeline's subject (verdict, review, ledger references) into the
provenance request, and the result back. Watermark ids travel as lowercase hex, zero
padded to the watermarker's width, everywhere outside ``provenance`` (ledger leaves,
generation rows, verify responses): ``format_watermark_id(0xabc, 48) == "000000000abc"``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from common.types import Language, MediaType
from gateway.ports import StampOutcome, StampStep, StampSubject
from gateway.settings import StampProfile
from provenance.interface import (
    GeneratorInfo,
    LedgerReference,
    ModerationSummary,
    ReviewSummary,
    StampOptions,
    StampRequest,
    StampResult,
)
from provenance.stamper import Stamper

__all__ = ["ProvenanceStamping", "format_watermark_id"]

_OUTPUT_TYPES = {"png": MediaType.PNG, "jpeg": MediaType.JPEG, "webp": MediaType.WEBP}


def format_watermark_id(watermark_id: int, id_bits: int) -> str:
    return f"{watermark_id:0{(id_bits + 3) // 4}x}"


class ProvenanceStamping:
    name = "provenance-stamper"

    def __init__(
        self,
        stamper: Stamper,
        content_producer: str,
        watermark_id_bits: int,
        profiles: Mapping[str, StampProfile] | None = None,
    ) -> None:
        self.stamper = stamper
        self.content_producer = content_producer
        self.watermark_id_bits = watermark_id_bits
        self.profiles = dict(profiles or {})

    def options_for(self, subject: StampSubject) -> StampOptions:
        profile = self.profiles.get(subject.verdict.policy_name, StampProfile())
        return StampOptions(
            label_corner=profile.label_corner,
            text_label_position=profile.text_label_position,
            disabled_steps=frozenset(profile.disabled_steps),
            output_media_type=_OUTPUT_TYPES.get(subject.output_format or ""),
        )

    def stamp(self, subject: StampSubject) -> StampOutcome:
        result = self.stamper.stamp(self._request(subject))
        return self._outcome(result)

    def _request(self, subject: StampSubject) -> StampRequest:
        counts = Counter(f.category for f in subject.verdict.findings)
        return StampRequest(
            data=subject.data,
            media_type=MediaType(subject.media_type),
            artifact_id=subject.generation_id,
            content_producer=self.content_producer,
            generator=GeneratorInfo(subject.generator, subject.model, subject.model_revision),
            moderation=ModerationSummary(
                decision=subject.verdict.action.value,
                policy_name=subject.verdict.policy_name,
                policy_version=subject.verdict.policy_version,
                findings=dict(counts),
            ),
            label_language=Language(subject.label_language),
            review=_review_summary(subject),
            ledger_refs=tuple(
                LedgerReference(event=_event_name(r.event), index=r.index, leaf_hash=r.leaf_hash)
                for r in subject.ledger_refs
            ),
            options=self.options_for(subject),
        )

    def _outcome(self, result: StampResult) -> StampOutcome:
        watermark = (
            format_watermark_id(result.watermark_id, self.watermark_id_bits)
            if result.watermark_id is not None
            else None
        )
        steps = [StampStep(s.name.value, s.applied, s.detail, s.duration_ms) for s in result.steps]
        return StampOutcome(
            data=result.data,
            media_type=result.media_type.value,
            watermark_id=watermark,
            manifest_label=result.manifest_label,
            manifest_hash=result.manifest_hash,
            # Sidecars must be stored; embedded stores are kept too, so a stripped image
            # matched through its watermark can still show its manifest.
            manifest_bytes=result.manifest_bytes,
            implicit_label=result.implicit_label or None,
            steps=tuple(steps),
        )


def _review_summary(subject: StampSubject) -> ReviewSummary | None:
    if subject.review is None:
        return None
    return ReviewSummary(
        reviewer_id=subject.review.reviewer,
        decision="approve" if subject.review.decision == "approved" else subject.review.decision,
        decided_at=datetime.fromisoformat(subject.review.decided_at),
        reason_code=subject.review.reason_code,
        reviewers=subject.review.reviewers,
        edited=subject.review.was_edited,
    )


def _event_name(event: str) -> str:
    return "review" if event.startswith("review") else event or "event"
