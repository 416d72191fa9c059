"""The diffusers image generator on the tiny pipeline."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from common.types import ContentKind, MediaType
from generators.diffusers_image import DiffusersImageGenerator
from generators.interface import GenerationRequest, GeneratorNotReadyError, InvalidParamsError
from generators.settings import TINY_IMAGE_MODEL_DIR, GeneratorSettings

FAST = {"width": 64, "height": 64, "steps": 2}


@pytest.fixture(scope="module")
def generator(tiny_settings: GeneratorSettings) -> DiffusersImageGenerator:
    image = DiffusersImageGenerator(tiny_settings.image_model_source(), settings=tiny_settings)
    image.load()
    return image


def request(prompt: str = "a red teapot 红色茶壶", **params: Any) -> GenerationRequest:
    return GenerationRequest(kind=ContentKind.IMAGE, prompt=prompt, params=params)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def test_same_seed_gives_the_same_pixels(generator: DiffusersImageGenerator) -> None:
    first = generator.generate(request(seed=5, **FAST))
    second = generator.generate(request(seed=5, **FAST))
    other = generator.generate(request(seed=6, **FAST))

    assert pixels(first.data) == pixels(second.data)
    assert pixels(other.data) != pixels(first.data)


def test_png_has_the_requested_size(generator: DiffusersImageGenerator) -> None:
    artifact = generator.generate(request(seed=1, width=96, height=64, steps=2))

    assert artifact.media_type is MediaType.PNG
    assert artifact.kind is ContentKind.IMAGE
    assert artifact.data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(artifact.data)) as image:
        assert image.size == (96, 64)
        assert image.mode == "RGB"
    assert artifact.generator == "diffusers-image"
    assert artifact.model == TINY_IMAGE_MODEL_DIR
    assert len(artifact.model_revision) == 16


def test_prompt_changes_the_image(generator: DiffusersImageGenerator) -> None:
    teapot = generator.generate(request("a red teapot", seed=2, **FAST))
    bicycle = generator.generate(request("a city bicycle", seed=2, **FAST))

    assert pixels(teapot.data) != pixels(bicycle.data)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"width": 100}, "width must be a multiple of 8"),
        ({"height": 250}, "height must be a multiple of 8"),
        ({"width": 2048}, "width must be between 8 and 1024"),
        ({"height": 0}, "height must be between"),
        ({"steps": 0}, "steps must be between 1 and 100"),
        ({"steps": 500}, "steps must be between 1 and 100"),
        ({"guidance": -1}, "guidance must be between"),
        ({"seed": "seven"}, "seed must be an integer"),
        ({"negative_prompt": 3}, "negative_prompt must be a string"),
        ({"n": 2}, "unknown parameter"),
    ],
)
def test_bad_params_are_rejected(
    generator: DiffusersImageGenerator, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParamsError, match=message):
        generator.generate(request(**params))


def test_size_limits_come_from_settings(tiny_models_dir: Path) -> None:
    settings = GeneratorSettings(
        models_dir=tiny_models_dir,
        image_max_width_px=128,
        image_max_height_px=128,
        image_default_size_px=64,
    )
    small = DiffusersImageGenerator(settings.image_model_source(), settings=settings)

    with pytest.raises(InvalidParamsError, match="between 8 and 128"):
        small.generate(request(width=256))


def test_missing_pipeline_is_a_readiness_problem(tmp_path: Path) -> None:
    settings = GeneratorSettings(models_dir=tmp_path)
    missing = DiffusersImageGenerator(settings.image_model_source(), settings=settings)

    problem = missing.readiness_problem()

    assert problem is not None
    assert str(tmp_path / TINY_IMAGE_MODEL_DIR) in problem
    assert "aigc-gateway models init" in problem
    with pytest.raises(GeneratorNotReadyError, match="models init") as caught:
        missing.generate(request(**FAST))
    assert str(tmp_path) not in caught.value.message
    assert caught.value.operator_detail == problem
