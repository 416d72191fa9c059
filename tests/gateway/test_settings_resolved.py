"""Derived settings keep every guard whatever the operator set explicitly."""

from __future__ import annotations

from pathlib import Path

from gateway.settings import LimitSettings, Settings
from provenance.settings import ProvenanceSettings


def test_an_explicit_keys_dir_keeps_the_pixel_limit(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        limits=LimitSettings(max_image_pixels=1234),
        provenance=ProvenanceSettings(keys_dir=tmp_path / "mine"),
    )
    resolved = settings.provenance_resolved
    assert resolved.keys_dir == tmp_path / "mine"
    assert resolved.max_image_pixels == 1234  # lost before: the bomb guard fell back


def test_the_default_keys_dir_is_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, limits=LimitSettings(max_image_pixels=99))
    assert settings.provenance_resolved.keys_dir == (tmp_path / "keys").resolve()
    assert settings.provenance_resolved.max_image_pixels == 99
