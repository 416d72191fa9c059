"""The gateway's generator catalogue: configured names, defaults built once, readiness."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from common.types import ContentKind
from gateway.catalog import GeneratorCatalog
from gateway.settings import Settings
from gateway.wiring import DomainWiring, SecretFiles
from generators.interface import UnknownGeneratorError


def catalog_for(data_dir: Path, **settings: object) -> GeneratorCatalog:
    config = Settings(data_dir=data_dir, **settings)  # type: ignore[arg-type]
    wiring = DomainWiring(config, sa.create_engine("sqlite://"), SecretFiles(data_dir / "s"))
    return wiring.generator_catalog()


def test_defaults_are_built_once(data_dir: Path) -> None:
    catalog = catalog_for(data_dir)
    text = catalog.get(ContentKind.TEXT, None)
    assert text.name == "transformers-text"
    assert catalog.get(ContentKind.TEXT, "transformers-text") is text
    assert catalog.get(ContentKind.MODEL3D, None).name == "parametric-3d"


def test_only_configured_generators_are_listed(data_dir: Path) -> None:
    assert catalog_for(data_dir).names() == [
        "diffusers-image",
        "parametric-3d",
        "transformers-text",
    ]
    upstream = catalog_for(data_dir, generators={"upstream_base_url": "http://127.0.0.1:9/v1"})
    assert "openai-upstream" in upstream.names(ContentKind.TEXT)


def test_a_generator_of_another_kind_is_refused(data_dir: Path) -> None:
    with pytest.raises(UnknownGeneratorError, match="unknown text generator 'diffusers-image'"):
        catalog_for(data_dir).get(ContentKind.TEXT, "diffusers-image")


def test_missing_default_models_are_reported(data_dir: Path) -> None:
    problems = catalog_for(data_dir, models_dir=data_dir / "empty").readiness_problems()
    assert len(problems) == 2  # text and image; the 3D default needs no model
    assert all("models init" in problem for problem in problems)


def test_ready_with_built_models(data_dir: Path, tiny_models_dir: Path) -> None:
    assert catalog_for(data_dir, models_dir=tiny_models_dir).readiness_problems() == []
