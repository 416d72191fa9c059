"""Step ``implicit_label``: the GB 45438 AIGC JSON in the file's metadata.

- PNG / JPEG / WebP: an XMP packet (``TC260:AIGC`` + IPTC DigitalSourceType);
- Markdown: the ``AIGC:`` front-matter key; plain text: only the result field;
- GLB: ``asset.extras.AIGC`` and a ``KHR_xmp_json_ld`` packet referenced from ``asset``.

``ReservedCode1`` is computed here over the final content (see :mod:`provenance.gb45438`)::

    step = ImplicitLabelStep()
"""

from __future__ import annotations

import io
from typing import Any

from common.types import MediaType
from provenance.frontmatter import add_aigc_front_matter, split_front_matter
from provenance.gb45438 import (
    build_label,
    reserved_code_for_glb,
    reserved_code_for_image,
    reserved_code_for_text,
)
from provenance.interface import StepName
from provenance.media import normalise_mode
from provenance.steps.base import StampWork, StepOutcome, StepPhase
from provenance.xmp import (
    IPTC_EXT_NS,
    TC260_NS,
    TRAINED_ALGORITHMIC_MEDIA,
    build_xmp_packet,
    embed_xmp,
)

__all__ = ["KHR_XMP_JSON_LD", "ImplicitLabelStep", "final_image_reserved_code"]

KHR_XMP_JSON_LD = "KHR_xmp_json_ld"


class ImplicitLabelStep:
    name = StepName.IMPLICIT_LABEL
    phase = StepPhase.METADATA

    def apply(self, work: StampWork) -> StepOutcome:
        if work.is_image:
            return self._label_image(work)
        if work.media_type is MediaType.GLB:
            return self._label_glb(work)
        if work.media_type is MediaType.MARKDOWN:
            return self._label_markdown(work)
        work.implicit_label = self._label(work, reserved_code_for_text(work.require_text()))
        return StepOutcome.done("plain text: label returned as a response field only")

    @staticmethod
    def _label(work: StampWork, reserved_code: str) -> str:
        return build_label(
            content_producer=work.request.content_producer,
            produce_id=work.request.artifact_id,
            reserved_code1=reserved_code,
        )

    def _label_image(self, work: StampWork) -> StepOutcome:
        encoded = work.image_bytes()
        label = self._label(work, final_image_reserved_code(work, encoded))
        work.encoded = embed_xmp(encoded, work.media_type, build_xmp_packet(label))
        work.implicit_label = label
        return StepOutcome.done(f"XMP TC260:AIGC in {work.media_type}")

    def _label_markdown(self, work: StampWork) -> StepOutcome:
        _, body = split_front_matter(work.require_text())
        label = self._label(work, reserved_code_for_text(body))
        work.text = add_aigc_front_matter(work.require_text(), label)
        work.implicit_label = label
        return StepOutcome.done("YAML front matter AIGC key")

    def _label_glb(self, work: StampWork) -> StepOutcome:
        doc = work.require_glb()
        label = self._label(work, reserved_code_for_glb(doc))
        _add_glb_label(doc.gltf, label)
        work.implicit_label = label
        return StepOutcome.done(f"asset.extras.AIGC and {KHR_XMP_JSON_LD} packet")


def final_image_reserved_code(work: StampWork, encoded: bytes) -> str:
    """ReservedCode1 over the pixels a decoder will see in the released file."""
    if work.media_type is MediaType.PNG and work.image is not None:
        return reserved_code_for_image(work.image)  # lossless: same pixels, no decode
    from PIL import Image

    with Image.open(io.BytesIO(encoded)) as decoded:
        return reserved_code_for_image(normalise_mode(decoded))


def _add_glb_label(gltf: dict[str, Any], label: str) -> None:
    asset: dict[str, Any] = gltf["asset"]
    asset.setdefault("extras", {})["AIGC"] = label
    # KHR_xmp_json_ld: packets live in the root extension, referenced by index.
    root_ext = gltf.setdefault("extensions", {}).setdefault(KHR_XMP_JSON_LD, {})
    packets: list[Any] = root_ext.setdefault("packets", [])
    packets.append(
        {
            "@context": {"TC260": TC260_NS, "Iptc4xmpExt": IPTC_EXT_NS},
            "TC260:AIGC": label,
            "Iptc4xmpExt:DigitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        }
    )
    asset.setdefault("extensions", {})[KHR_XMP_JSON_LD] = {"packet": len(packets) - 1}
    used: list[str] = gltf.setdefault("extensionsUsed", [])
    if KHR_XMP_JSON_LD not in used:
        used.append(KHR_XMP_JSON_LD)
