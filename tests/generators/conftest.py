"""Session fixtures: the tiny models (built once) and settings pointing at them."""

from __future__ import annotations

from pathlib import Path

import pytest

from generators.settings import GeneratorSettings
from tests.generators.tiny_models import cached_tiny_models


@pytest.fixture(scope="session")
def tiny_models_dir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return cached_tiny_models(request.config, tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_settings(tiny_models_dir: Path) -> GeneratorSettings:
    # One torch thread: much faster for tiny models on a shared machine.
    return GeneratorSettings(models_dir=tiny_models_dir, torch_threads=1)
