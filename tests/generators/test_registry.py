"""Names → generators, and the catalogue that builds each once."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.types import ContentKind
from generators.fake import FakeTextGenerator
from generators.interface import Generator, InvalidParamsError, UnknownGeneratorError
from generators.registry import GENERATORS, GeneratorCatalog, build_generator, generator_names
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


def test_catalog_builds_defaults_once(tmp_path: Path) -> None:
    catalog = GeneratorCatalog(GeneratorSettings(models_dir=tmp_path))

    text = catalog.get(None, ContentKind.TEXT)

    assert text.name == "transformers-text"
    assert catalog.get("transformers-text", ContentKind.TEXT) is text
    assert catalog.get(None, ContentKind.MODEL3D).name == "parametric-3d"


def test_catalog_rejects_a_generator_of_another_kind() -> None:
    catalog = GeneratorCatalog(GeneratorSettings())

    with pytest.raises(InvalidParamsError, match="makes image, not text"):
        catalog.get("tiny-image", ContentKind.TEXT)


def test_catalog_reports_missing_default_models(tmp_path: Path) -> None:
    problems = GeneratorCatalog(GeneratorSettings(models_dir=tmp_path)).default_readiness_problems()

    assert set(problems) == {"transformers-text", "diffusers-image"}
    assert all("aigc-gateway models init" in problem for problem in problems.values())


def test_catalog_ready_with_built_models(tiny_settings: GeneratorSettings) -> None:
    assert GeneratorCatalog(tiny_settings).default_readiness_problems() == {}


def test_catalog_accepts_ready_made_instances() -> None:
    catalog = GeneratorCatalog(GeneratorSettings(default_text_generator="custom"))
    custom = FakeTextGenerator("custom", reply="hello")

    catalog.put(custom)

    assert catalog.get(None, ContentKind.TEXT) is custom
