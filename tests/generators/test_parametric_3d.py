"""The parametric reference 3D generator."""

from __future__ import annotations

import io
from typing import Any

import pytest
import trimesh

from common.types import ContentKind, MediaType
from generators.interface import GenerationRequest, InvalidParamsError
from generators.parametric_3d import COLOR_WORDS, Parametric3DGenerator, Shape, shapes_from_prompt


def generate(prompt: str, **params: Any) -> bytes:
    artifact = Parametric3DGenerator().generate(
        GenerationRequest(kind=ContentKind.MODEL3D, prompt=prompt, params=params)
    )
    assert artifact.media_type is MediaType.GLB
    return artifact.data


def load(glb: bytes) -> trimesh.Scene:
    scene = trimesh.load(io.BytesIO(glb), file_type="glb")
    assert isinstance(scene, trimesh.Scene)
    return scene


def test_glb_opens_in_trimesh_with_one_mesh_per_shape() -> None:
    scene = load(generate("a red cube next to a blue sphere and a green torus"))

    assert sorted(scene.geometry) == ["cube-0", "sphere-1", "torus-2"]
    for mesh in scene.geometry.values():
        assert mesh.is_watertight
        assert len(mesh.faces) > 0


def test_each_shape_takes_the_colour_named_before_it() -> None:
    specs = shapes_from_prompt("a red cube next to a blue sphere")

    assert [(spec.shape, spec.rgba) for spec in specs] == [
        (Shape.CUBE, COLOR_WORDS["red"]),
        (Shape.SPHERE, COLOR_WORDS["blue"]),
    ]


def test_colour_reaches_the_glb_material() -> None:
    scene = load(generate("a red cone"))

    (mesh,) = scene.geometry.values()
    assert list(mesh.visual.material.baseColorFactor[:3]) == list(COLOR_WORDS["red"][:3])


def test_chinese_prompt() -> None:
    specs = shapes_from_prompt("一个红色的圆柱体和蓝色的球")

    assert [spec.shape for spec in specs] == [Shape.CYLINDER, Shape.SPHERE]
    assert specs[1].rgba == COLOR_WORDS["蓝"]


def test_english_words_match_at_word_starts_only() -> None:
    assert shapes_from_prompt("a hemisphere") == []
    assert [spec.shape for spec in shapes_from_prompt("two Cubes")] == [Shape.CUBE]


def test_prompt_without_shapes_gives_a_grey_cube() -> None:
    scene = load(generate("something nice"))

    assert list(scene.geometry) == ["cube-0"]


def test_size_param_scales_the_mesh() -> None:
    scene = load(generate("a cube", size=2.5))

    (mesh,) = scene.geometry.values()
    assert mesh.extents == pytest.approx([2.5, 2.5, 2.5])


def test_shape_and_color_params_override_the_prompt() -> None:
    scene = load(generate("a red cube", shape="cylinder", color="#00ff00"))

    (name, mesh), *_ = scene.geometry.items()
    assert name == "cylinder-0"
    assert list(mesh.visual.material.baseColorFactor[:3]) == [0, 255, 0]


def test_same_prompt_gives_the_same_bytes() -> None:
    assert generate("a gold torus", segments=24) == generate("a gold torus", segments=24)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"size": 0}, "size must be between"),
        ({"size": "big"}, "size must be a number"),
        ({"segments": 4}, "segments must be between 8 and 256"),
        ({"shape": "pyramid"}, "unknown shape"),
        ({"color": "octarine"}, "unknown color"),
        ({"texture": "wood"}, "unknown parameter"),
    ],
)
def test_bad_params_are_rejected(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParamsError, match=message):
        generate("a cube", **params)


def test_is_always_ready() -> None:
    assert Parametric3DGenerator().readiness_problem() is None
