"""The C2PA manifest definition we sign, and the names of our own assertions.

C2PA 2.2: ``c2pa.actions`` starts with ``c2pa.created`` carrying digitalSourceType
trainedAlgorithmicMedia and the generator as ``softwareAgent``; custom assertions use
reverse-domain labels of our own; ``c2pa.soft-binding`` ties the manifest to the
invisible watermark so a stripped copy can be matched back::

    definition = build_manifest_definition(
        request, MediaType.PNG, watermark_id=0x1234, implicit_label=label_json,
        claim_generator=("aigc-gateway", "0.1.0"),
    )

Soft-binding algorithm ``org.aigc-gateway.image-watermark.1``: the value is the base64 of
the watermark id as 8 big-endian bytes, decoded by the watermarker registered for the
gateway (dwtDctSvd-based, error-corrected payload; see docs/watermark.md).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from common.types import MediaType
from provenance.interface import StampRequest
from provenance.xmp import TRAINED_ALGORITHMIC_MEDIA

# IPTC digital source type of a person's changes to generated media.
HUMAN_EDITS = "http://cv.iptc.org/newscodes/digitalsourcetype/humanEdits"

__all__ = [
    "GB45438_ASSERTION",
    "LEDGER_ASSERTION",
    "MODERATION_ASSERTION",
    "REVIEW_ASSERTION",
    "SOFT_BINDING_ALG",
    "SOFT_BINDING_ASSERTION",
    "build_manifest_definition",
    "decode_soft_binding_value",
    "encode_soft_binding_value",
]

MODERATION_ASSERTION = "org.aigc-gateway.moderation"
REVIEW_ASSERTION = "org.aigc-gateway.review"
LEDGER_ASSERTION = "org.aigc-gateway.ledger"
GB45438_ASSERTION = "org.aigc-gateway.gb45438"
SOFT_BINDING_ASSERTION = "c2pa.soft-binding"
SOFT_BINDING_ALG = "org.aigc-gateway.image-watermark.1"
_ID_BYTES = 8


def encode_soft_binding_value(watermark_id: int) -> str:
    return base64.b64encode(watermark_id.to_bytes(_ID_BYTES, "big")).decode("ascii")


def decode_soft_binding_value(value: str) -> int | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == _ID_BYTES else None


def build_manifest_definition(
    request: StampRequest,
    media_type: MediaType,
    *,
    watermark_id: int | None,
    implicit_label: str | None,
    claim_generator: tuple[str, str],
) -> dict[str, Any]:
    """The manifest definition for ``c2pa.Builder``; its label is a fresh claim URN."""
    assertions = [
        _actions(request),
        {"label": MODERATION_ASSERTION, "data": _moderation(request)},
        {"label": REVIEW_ASSERTION, "data": _review(request)},
        {"label": LEDGER_ASSERTION, "data": _ledger(request)},
    ]
    if implicit_label is not None:
        assertions.append({"label": GB45438_ASSERTION, "data": {"AIGC": implicit_label}})
    if watermark_id is not None:
        assertions.append({"label": SOFT_BINDING_ASSERTION, "data": _soft_binding(watermark_id)})
    name, version = claim_generator
    return {
        # C2PA 2.2 §10.3: a claim is labelled by a URN with a version-4 UUID.
        "label": f"urn:c2pa:{uuid.uuid4()}",
        "claim_generator_info": [{"name": name, "version": version}],
        "title": request.artifact_id,
        "format": str(media_type),
        "assertions": assertions,
    }


def _actions(request: StampRequest) -> dict[str, Any]:
    generator = request.generator
    agent = {
        "name": generator.name,
        "version": generator.revision,
        "org.aigc-gateway.model": generator.model,
    }
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
    }
    actions = [created]
    review = request.review
    if review is not None and review.edited:
        # A person changed the generated output (IPTC "humanEdits"): no software agent.
        actions.append(
            {
                "action": "c2pa.edited",
                "digitalSourceType": HUMAN_EDITS,
                "description": "output rewritten by a reviewer before approval",
                "parameters": {"org.aigc-gateway.reviewer": review.reviewer_id},
            }
        )
    return {"label": "c2pa.actions", "data": {"actions": actions}}


def _moderation(request: StampRequest) -> dict[str, Any]:
    moderation = request.moderation
    return {
        "decision": moderation.decision,
        "policy": moderation.policy_name,
        "policy_version": moderation.policy_version,
        "findings": dict(moderation.findings),
    }


def _review(request: StampRequest) -> dict[str, Any]:
    review = request.review
    if review is None:
        return {"reviewed": False}
    return {
        "reviewed": True,
        "reviewer_id": review.reviewer_id,
        "decision": review.decision,
        "decided_at": review.decided_at.isoformat(),
        "reason_code": review.reason_code,
        "reviewers": list(review.reviewers or (review.reviewer_id,)),
        "edited": review.edited,
    }


def _ledger(request: StampRequest) -> dict[str, Any]:
    refs = [
        {"event": ref.event, "index": ref.index, "leaf_hash": ref.leaf_hash}
        for ref in request.ledger_refs
    ]
    return {"artifact_id": request.artifact_id, "refs": refs}


def _soft_binding(watermark_id: int) -> dict[str, Any]:
    # C2PA 2.2 §A.7 (soft binding): alg plus blocks of {scope, value}; whole-image scope.
    return {
        "alg": SOFT_BINDING_ALG,
        "blocks": [{"scope": {}, "value": encode_soft_binding_value(watermark_id)}],
    }
