"""A reference 3D generator: simple parametric meshes from words in the prompt, as GLB.

It stands in for a real text-to-3D system (plug one in with ``external-3d``) and gives
the pipeline, labels and C2PA sidecars real GLB files to work on. Shapes and colours
are read from the prompt in English or Chinese; each shape takes the colour named most
recently before it::

    generator = Parametric3DGenerator()
    artifact = generator.generate(GenerationRequest(ContentKind.MODEL3D,
                                                    "a red cube next to a blue sphere"))
    trimesh.load(io.BytesIO(artifact.data), file_type="glb")   # two meshes

Parameters (all optional): ``size`` (edge or diameter in metres), ``shape`` and
``color`` (override the prompt), ``segments`` (smoothness of round shapes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, assert_never

from common.types import ContentKind, MediaType
from generators.interface import (
    GeneratedArtifact,
    GenerationFailedError,
    GenerationRequest,
    InvalidParamsError,
)
from generators.params import read_float, read_int, read_optional_str, reject_unknown_params

__all__ = ["Parametric3DGenerator", "Shape", "ShapeSpec", "shapes_from_prompt"]

MODEL_REVISION = "parametric-3d/1"  # bump when the meshes for a prompt change
MAX_SHAPES = 8
DEFAULT_RGBA = (180, 180, 180, 255)
SHAPE_PARAMS = frozenset({"size", "shape", "color", "segments"})


class Shape(StrEnum):
    CUBE = "cube"
    SPHERE = "sphere"
    CYLINDER = "cylinder"
    CONE = "cone"
    TORUS = "torus"


# Longer words first, so that 圆柱体 is not read as 柱 and "cubes" as "cube".
SHAPE_WORDS: dict[str, Shape] = {
    "cube": Shape.CUBE,
    "box": Shape.CUBE,
    "立方体": Shape.CUBE,
    "正方体": Shape.CUBE,
    "方块": Shape.CUBE,
    "盒子": Shape.CUBE,
    "sphere": Shape.SPHERE,
    "ball": Shape.SPHERE,
    "球体": Shape.SPHERE,
    "球": Shape.SPHERE,
    "cylinder": Shape.CYLINDER,
    "圆柱体": Shape.CYLINDER,
    "圆柱": Shape.CYLINDER,
    "cone": Shape.CONE,
    "圆锥体": Shape.CONE,
    "圆锥": Shape.CONE,
    "torus": Shape.TORUS,
    "donut": Shape.TORUS,
    "ring": Shape.TORUS,
    "圆环": Shape.TORUS,
    "甜甜圈": Shape.TORUS,
}

COLOR_WORDS: dict[str, tuple[int, int, int, int]] = {
    "red": (220, 40, 40, 255),
    "红": (220, 40, 40, 255),
    "orange": (240, 140, 30, 255),
    "橙": (240, 140, 30, 255),
    "yellow": (240, 210, 40, 255),
    "黄": (240, 210, 40, 255),
    "green": (50, 170, 70, 255),
    "绿": (50, 170, 70, 255),
    "blue": (40, 90, 220, 255),
    "蓝": (40, 90, 220, 255),
    "purple": (140, 60, 200, 255),
    "紫": (140, 60, 200, 255),
    "pink": (240, 130, 180, 255),
    "粉": (240, 130, 180, 255),
    "white": (245, 245, 245, 255),
    "白": (245, 245, 245, 255),
    "black": (25, 25, 25, 255),
    "黑": (25, 25, 25, 255),
    "grey": (128, 128, 128, 255),
    "gray": (128, 128, 128, 255),
    "灰": (128, 128, 128, 255),
    "gold": (212, 175, 55, 255),
    "金": (212, 175, 55, 255),
}
HEX_COLOR = re.compile(r"#([0-9a-fA-F]{6})\b")


@dataclass(frozen=True, slots=True)
class ShapeSpec:
    shape: Shape
    rgba: tuple[int, int, int, int]


def _alternation(words: Mapping[str, object]) -> re.Pattern[str]:
    ordered = sorted(words, key=len, reverse=True)
    # English words match at word starts (so "sphere" in "hemisphere" does not);
    # Chinese has no spaces, so any occurrence counts.
    parts = [rf"\b{w}" if w.isascii() else re.escape(w) for w in ordered]
    return re.compile("|".join(parts), re.IGNORECASE)


_SHAPE_PATTERN = _alternation(SHAPE_WORDS)
_COLOR_PATTERN = _alternation(COLOR_WORDS)


def shapes_from_prompt(prompt: str) -> list[ShapeSpec]:
    """Shapes in order of mention, each with the colour named last before it."""
    events = [(m.start(), "shape", m.group(0).lower()) for m in _SHAPE_PATTERN.finditer(prompt)]
    events += [(m.start(), "color", m.group(0).lower()) for m in _COLOR_PATTERN.finditer(prompt)]
    specs: list[ShapeSpec] = []
    colour = DEFAULT_RGBA
    for _, what, word in sorted(events):
        if what == "color":
            colour = COLOR_WORDS[word]
        else:
            specs.append(ShapeSpec(SHAPE_WORDS[word], colour))
    return specs[:MAX_SHAPES]


def parse_color(value: str) -> tuple[int, int, int, int]:
    hex_match = HEX_COLOR.fullmatch(value.strip())
    if hex_match:
        rgb = bytes.fromhex(hex_match.group(1))
        return (rgb[0], rgb[1], rgb[2], 255)
    if value.strip().lower() in COLOR_WORDS:
        return COLOR_WORDS[value.strip().lower()]
    raise InvalidParamsError(
        f"unknown color {value!r}; use #rrggbb or one of {', '.join(sorted(COLOR_WORDS))}",
        details={"param": "color"},
    )


@dataclass(frozen=True, slots=True)
class ShapeParams:
    size_m: float
    segments: int
    shape: Shape | None
    rgba: tuple[int, int, int, int] | None

    @classmethod
    def from_request(cls, params: Mapping[str, Any]) -> ShapeParams:
        reject_unknown_params(params, SHAPE_PARAMS)
        shape_name = read_optional_str(params, "shape", max_chars=32)
        color = read_optional_str(params, "color", max_chars=32)
        if shape_name is not None and shape_name not in {shape.value for shape in Shape}:
            raise InvalidParamsError(
                f"unknown shape {shape_name!r}; use one of {', '.join(Shape)}",
                details={"param": "shape"},
            )
        return cls(
            size_m=read_float(params, "size", default=1.0, minimum=0.001, maximum=1000.0),
            segments=read_int(params, "segments", default=48, minimum=8, maximum=256),
            shape=Shape(shape_name) if shape_name is not None else None,
            rgba=parse_color(color) if color is not None else None,
        )


class Parametric3DGenerator:
    """A ``Generator`` for ``model3d`` that needs no model and no network."""

    kind = ContentKind.MODEL3D

    def __init__(self, name: str = "parametric-3d") -> None:
        self.name = name

    def readiness_problem(self) -> str | None:
        return None

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        if request.kind is not ContentKind.MODEL3D:
            raise InvalidParamsError(f"{self.name} generates 3D models, not {request.kind}")
        params = ShapeParams.from_request(request.params)
        specs = resolve_specs(request.prompt, params)
        try:
            glb = build_glb(specs, params)
        except (ValueError, TypeError) as exc:
            raise GenerationFailedError(f"building the mesh failed: {exc}") from exc
        return GeneratedArtifact(
            kind=ContentKind.MODEL3D,
            media_type=MediaType.GLB,
            data=glb,
            generator=self.name,
            model=self.name,
            model_revision=MODEL_REVISION,
        )


def resolve_specs(prompt: str, params: ShapeParams) -> list[ShapeSpec]:
    """Shapes from the prompt (a grey cube when it names none), then the overrides."""
    specs = shapes_from_prompt(prompt) or [ShapeSpec(Shape.CUBE, DEFAULT_RGBA)]
    if params.shape is not None:
        specs = [ShapeSpec(params.shape, specs[0].rgba)]
    if params.rgba is not None:
        specs = [ShapeSpec(spec.shape, params.rgba) for spec in specs]
    return specs


def build_glb(specs: list[ShapeSpec], params: ShapeParams) -> bytes:
    """One node per shape, side by side along x, each with a PBR base colour."""
    import trimesh
    from trimesh.visual.material import PBRMaterial

    scene = trimesh.Scene()
    spacing_m = params.size_m * 1.5
    for index, spec in enumerate(specs):
        mesh = build_mesh(spec.shape, params.size_m, params.segments)
        mesh.apply_translation([(index - (len(specs) - 1) / 2) * spacing_m, 0.0, 0.0])
        # trimesh's constructors and export carry no annotations.
        colour = list(spec.rgba)
        material = PBRMaterial(name=f"{spec.shape}-{index}", baseColorFactor=colour)
        mesh.visual = trimesh.visual.TextureVisuals(material=material)
        scene.add_geometry(
            mesh, node_name=f"{spec.shape}-{index}", geom_name=f"{spec.shape}-{index}"
        )
    glb: bytes = scene.export(file_type="glb")
    return glb


def build_mesh(shape: Shape, size_m: float, segments: int) -> Any:
    import trimesh

    radius = size_m / 2
    match shape:
        case Shape.CUBE:
            return trimesh.creation.box(extents=[size_m, size_m, size_m])
        case Shape.SPHERE:
            return trimesh.creation.uv_sphere(radius=radius, count=[segments, segments])
        case Shape.CYLINDER:
            return trimesh.creation.cylinder(radius=radius, height=size_m, sections=segments)
        case Shape.CONE:
            return trimesh.creation.cone(radius=radius, height=size_m, sections=segments)
        case Shape.TORUS:
            return trimesh.creation.torus(
                major_radius=radius * 0.7,
                minor_radius=radius * 0.3,
                major_sections=segments,
                minor_sections=max(8, segments // 2),
            )
        case _:
            assert_never(shape)
