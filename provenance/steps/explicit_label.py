"""Step ``explicit_label``: the visible "AI生成" / "AI-generated" notice.

Images get the mark in the policy's corner (:mod:`provenance.labels`); text gets a label
line at the start or end; GLB gets a label node in the opening scene and the scene's
name prefixed (Measures Art. 4: a prominent notice at the opening scene)::

    step = ExplicitLabelStep()
    outcome = step.apply(work)
"""

from __future__ import annotations

from typing import Any

from common.types import MediaType
from provenance.frontmatter import join_front_matter, split_front_matter
from provenance.interface import StepName
from provenance.labels import IMAGE_LABELS, add_text_label, draw_image_label
from provenance.steps.base import StampWork, StepOutcome, StepPhase

__all__ = ["ExplicitLabelStep"]


class ExplicitLabelStep:
    name = StepName.EXPLICIT_LABEL
    phase = StepPhase.PIXELS

    def apply(self, work: StampWork) -> StepOutcome:
        if work.is_image:
            return self._label_image(work)
        if work.media_type is MediaType.GLB:
            return self._label_glb(work)
        return self._label_text(work)

    def _label_image(self, work: StampWork) -> StepOutcome:
        options = work.request.options
        labelled, geometry = draw_image_label(
            work.require_image(),
            work.request.label_language,
            options.label_corner,
            work.settings.label_height_fraction,
            work.settings.font_path,
        )
        work.image = labelled
        return StepOutcome.done(
            f"{IMAGE_LABELS[work.request.label_language]!r} at {options.label_corner}, "
            f"glyph height {geometry.cap_height_px} px, box {geometry.box}"
        )

    def _label_text(self, work: StampWork) -> StepOutcome:
        position = work.request.options.text_label_position
        block, body = split_front_matter(work.require_text())
        if work.media_type is not MediaType.MARKDOWN:
            block, body = None, work.require_text()
        labelled = add_text_label(body, work.request.label_language, position)
        # Markdown front matter must stay the first thing in the file.
        work.text = join_front_matter(block, labelled)
        return StepOutcome.done(f"label line at the {position}")

    def _label_glb(self, work: StampWork) -> StepOutcome:
        gltf = work.require_glb().gltf
        label = IMAGE_LABELS[work.request.label_language]
        scene = _opening_scene(gltf)
        nodes: list[Any] = gltf.setdefault("nodes", [])
        nodes.append({"name": label, "extras": {"aigc_explicit_label": label}})
        scene.setdefault("nodes", []).append(len(nodes) - 1)
        scene["name"] = f"{label} {scene.get('name', '')}".strip()
        return StepOutcome.done(f"scene named {scene['name']!r} with label node {len(nodes) - 1}")


def _opening_scene(gltf: dict[str, Any]) -> dict[str, Any]:
    # glTF 2.0 §5.27: "scene" selects the scene shown at load time; create one if absent.
    scenes: list[dict[str, Any]] = gltf.setdefault("scenes", [])
    if not scenes:
        scenes.append({"nodes": _root_nodes(gltf)})
    index = gltf.get("scene", 0)
    if not isinstance(index, int) or not 0 <= index < len(scenes):
        index = 0
    gltf["scene"] = index
    return scenes[index]


def _root_nodes(gltf: dict[str, Any]) -> list[int]:
    # glTF 2.0 §5.27: scene nodes must be roots, never another node's child.
    nodes = gltf.get("nodes", [])
    children = {child for node in nodes for child in node.get("children", [])}
    return [i for i in range(len(nodes)) if i not in children]
