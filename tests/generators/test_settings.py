"""Generator settings and model source resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from common.types import ContentKind
from generators.settings import GeneratorSettings, ModelSource


def test_bare_name_is_a_directory_under_models_dir(tmp_path: Path) -> None:
    source = ModelSource.parse("tiny-text-lm", tmp_path)

    assert source.path == tmp_path / "tiny-text-lm"
    assert source.is_local


def test_absolute_path_is_local(tmp_path: Path) -> None:
    assert ModelSource.parse(str(tmp_path / "m"), None).path == tmp_path / "m"


def test_org_slash_name_is_a_hub_id_unless_it_exists_locally(tmp_path: Path) -> None:
    hub = ModelSource.parse("Qwen/Qwen2.5-0.5B-Instruct", tmp_path)
    (tmp_path / "acme" / "copy-lm").mkdir(parents=True)
    local = ModelSource.parse("acme/copy-lm", tmp_path)

    assert hub.hub_id == "Qwen/Qwen2.5-0.5B-Instruct"
    assert not hub.is_local
    assert hub.load_from == "Qwen/Qwen2.5-0.5B-Instruct"
    assert local.path == tmp_path / "acme" / "copy-lm"


def test_defaults_per_kind() -> None:
    settings = GeneratorSettings()

    assert settings.default_generator(ContentKind.TEXT) == "transformers-text"
    assert settings.default_generator(ContentKind.IMAGE) == "diffusers-image"
    assert settings.default_generator(ContentKind.MODEL3D) == "parametric-3d"


@pytest.mark.parametrize(
    "overrides",
    [
        {"image_max_width_px": 1020},
        {"image_default_size_px": 2048},
        {"text_default_max_new_tokens": 5000},
        {"image_default_steps": 500},
        {"unknown_setting": 1},
    ],
)
def test_inconsistent_settings_fail_at_start(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GeneratorSettings.model_validate(overrides)


def test_api_key_is_not_printed() -> None:
    settings = GeneratorSettings.model_validate({"upstream_api_key": "sk-secret"})

    assert "sk-secret" not in repr(settings)
