"""The offline builders: complete, idempotent, deterministic, loadable."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from generators.model_files import (
    BUILD_MARKER,
    directory_digest,
    model_revision,
    read_build_marker,
)
from generators.settings import TINY_IMAGE_MODEL_DIR, TINY_TEXT_MODEL_DIR, ModelSource
from generators.tiny import build_default_models
from generators.tiny.image_sd import build_tiny_image_pipeline
from generators.tiny.text_lm import TinyLMRecipe, build_tiny_text_model, read_corpus_documents

# A few steps exercise the same tokenizer, init and training code as the real recipe.
QUICK_RECIPE = TinyLMRecipe(train_steps=3, batch_size=2, context_tokens=16)


def test_default_models_are_complete(tiny_models_dir: Path) -> None:
    paths = build_default_models(tiny_models_dir)

    assert paths == {
        "text": tiny_models_dir / TINY_TEXT_MODEL_DIR,
        "image": tiny_models_dir / TINY_IMAGE_MODEL_DIR,
    }
    text_dir, image_dir = paths["text"], paths["image"]
    for name in ("config.json", "model.safetensors", "tokenizer.json", BUILD_MARKER):
        assert (text_dir / name).is_file()
    for name in ("model_index.json", "unet/config.json", "vae/config.json", "tokenizer"):
        assert (image_dir / name).exists()
    config = json.loads((text_dir / "config.json").read_text())
    assert config["num_hidden_layers"] == 2
    assert 64 <= config["hidden_size"] <= 128


def modification_times(model_dirs: list[Path]) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for d in model_dirs for p in d.rglob("*") if p.is_file()}


def test_second_build_is_a_no_op(tiny_models_dir: Path) -> None:
    # Only the finished model directories: the shared cache may hold another test
    # session's build in progress.
    model_dirs = [tiny_models_dir / TINY_TEXT_MODEL_DIR, tiny_models_dir / TINY_IMAGE_MODEL_DIR]
    before = modification_times(model_dirs)

    started = time.perf_counter()
    build_default_models(tiny_models_dir)

    assert time.perf_counter() - started < 1.0
    assert modification_times(model_dirs) == before


def test_revision_in_marker_pins_the_files(tiny_models_dir: Path) -> None:
    for name in (TINY_TEXT_MODEL_DIR, TINY_IMAGE_MODEL_DIR):
        marker = read_build_marker(tiny_models_dir / name)
        assert marker is not None
        assert marker.revision == directory_digest(tiny_models_dir / name)
        assert len(marker.revision) == 16


def test_text_builder_is_deterministic(tmp_path: Path) -> None:
    first = build_tiny_text_model(tmp_path / "a", QUICK_RECIPE)
    second = build_tiny_text_model(tmp_path / "b", QUICK_RECIPE)

    assert directory_digest(first) == directory_digest(second)
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir())


def test_image_builder_is_deterministic(tmp_path: Path, tiny_models_dir: Path) -> None:
    rebuilt = build_tiny_image_pipeline(tmp_path / TINY_IMAGE_MODEL_DIR)

    assert directory_digest(rebuilt) == directory_digest(tiny_models_dir / TINY_IMAGE_MODEL_DIR)


def test_interrupted_build_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("generators.tiny.text_lm.train_model", fail)

    with pytest.raises(RuntimeError, match="disk full"):
        build_tiny_text_model(tmp_path / "lm", QUICK_RECIPE)

    assert list(tmp_path.iterdir()) == []


def test_corpus_is_varied_bilingual_copy() -> None:
    documents = read_corpus_documents()
    lines = [line for document in documents for line in document.splitlines()]
    chinese = [line for line in lines if any("\u4e00" <= ch <= "\u9fff" for ch in line)]

    assert len(lines) >= 300
    assert len(chinese) >= 150
    assert len(lines) - len(chinese) >= 150
    assert len(set(lines)) == len(lines)
    # The corpus avoids absolute advertising claims (Advertising Law Art. 9(3)).
    absolute_terms = ("最佳", "第一", "最好", "顶级", "唯一", "首选", "完美", "国家级")
    assert not [line for line in lines if any(term in line for term in absolute_terms)]


def test_revision_changes_when_a_file_changes(tiny_models_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "edited"
    shutil.copytree(tiny_models_dir / TINY_TEXT_MODEL_DIR, copy)
    original = model_revision(ModelSource.parse(str(copy), None))

    (copy / "generation_config.json").write_text("{}")

    assert original == directory_digest(tiny_models_dir / TINY_TEXT_MODEL_DIR)
    assert model_revision(ModelSource.parse(str(copy), None)) != original
