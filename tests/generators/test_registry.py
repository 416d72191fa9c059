"""Names → generators, and the catalogue that builds each once."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.types import ContentKind
from generators.interface import Generator, UnknownGeneratorError
from generators.registry import GENERATORS, build_generator, generator_names
from generators.settings import GeneratorSettings


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_name_builds_a_generator_of_its_kind(name: str, tmp_path: Path) -> None:
    generator = build_generator(name, GeneratorSettings(models_dir=tmp_path))

    assert isinstance(generator, Generator)
    assert generator.name == name
    assert generator.kind is GENERATORS[name].kind


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownGeneratorError, match="unknown generator 'dall-e'") as caught:
        build_generator("dall-e", GeneratorSettings())

    for name in ("tiny-text", "transformers-text", "openai-upstream", "parametric-3d"):
        assert name in caught.value.message
    assert caught.value.http_status == 422


def test_names_by_kind() -> None:
    assert generator_names(ContentKind.MODEL3D) == ["external-3d", "fake-3d", "parametric-3d"]
    assert "tiny-image" in generator_names(ContentKind.IMAGE)
