"""Settings pointing at the tiny models (``tiny_models_dir`` comes from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generators.settings import GeneratorSettings


@pytest.fixture(scope="session")
def tiny_settings(tiny_models_dir: Path) -> GeneratorSettings:
    return GeneratorSettings(models_dir=tiny_models_dir)
