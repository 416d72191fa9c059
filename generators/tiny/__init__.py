"""Tiny models built offline, so that the gateway generates on a machine with no model hub.

``aigc-gateway models init`` calls :func:`build_default_models`; it is idempotent (a
completed model directory is left alone) and deterministic (two builds write identical
files on the same platform)::

    paths = build_default_models(Path("data/models"))
    paths["text"]    # data/models/tiny-text-lm  (trained tokenizer + 2-layer Llama)
    paths["image"]   # data/models/tiny-image-sd (StableDiffusionPipeline from configs)
"""

from __future__ import annotations

from pathlib import Path

from common.types import ContentKind
from generators.settings import TINY_IMAGE_MODEL_DIR, TINY_TEXT_MODEL_DIR
from generators.tiny.image_sd import build_tiny_image_pipeline
from generators.tiny.text_lm import build_tiny_text_model

__all__ = ["build_default_models"]


def build_default_models(models_dir: Path) -> dict[str, Path]:
    """Build every default model under ``models_dir``; return ``{kind: directory}``."""
    return {
        ContentKind.TEXT.value: build_tiny_text_model(models_dir / TINY_TEXT_MODEL_DIR),
        ContentKind.IMAGE.value: build_tiny_image_pipeline(models_dir / TINY_IMAGE_MODEL_DIR),
    }
