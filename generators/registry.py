"""Generator names → factories, and a catalogue that builds each configured one once.

A new generator is one class implementing ``Generator`` plus one line in ``GENERATORS``::

    generator = build_generator("tiny-text", settings, watermark_key=key)
    build_generator("dall-e", settings)         # UnknownGeneratorError listing the names

The gateway keeps the configured ones, each built once, in ``gateway.catalog``.

Heavy libraries (torch, transformers, diffusers, trimesh, httpx) are imported inside the
implementations, when a generator first loads or runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from common.types import ContentKind
from generators.interface import Generator, UnknownGeneratorError
from generators.settings import (
    TINY_IMAGE_MODEL_DIR,
    TINY_TEXT_MODEL_DIR,
    GeneratorSettings,
    ModelSource,
)

__all__ = [
    "GENERATORS",
    "GeneratorSpec",
    "build_generator",
    "generator_names",
    "generator_spec",
]

Factory = Callable[[GeneratorSettings, int | None], Generator]


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    name: str
    kind: ContentKind
    description: str
    factory: Factory


def _transformers_text(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.transformers_text import TransformersTextGenerator

    return TransformersTextGenerator(
        settings.text_model_source(), settings=settings, watermark_key=key
    )


def _tiny_text(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.transformers_text import TransformersTextGenerator

    source = ModelSource.parse(TINY_TEXT_MODEL_DIR, settings.models_dir)
    return TransformersTextGenerator(source, settings=settings, watermark_key=key, name="tiny-text")


def _diffusers_image(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.diffusers_image import DiffusersImageGenerator

    return DiffusersImageGenerator(settings.image_model_source(), settings=settings)


def _tiny_image(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.diffusers_image import DiffusersImageGenerator

    source = ModelSource.parse(TINY_IMAGE_MODEL_DIR, settings.models_dir)
    return DiffusersImageGenerator(source, settings=settings, name="tiny-image")


def _openai_upstream(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.openai_upstream import OpenAIUpstreamGenerator

    return OpenAIUpstreamGenerator(settings)


def _parametric_3d(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.parametric_3d import Parametric3DGenerator

    return Parametric3DGenerator()


def _external_3d(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.external_3d import External3DGenerator

    return External3DGenerator(settings)


def _fake_text(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.fake import FakeTextGenerator

    return FakeTextGenerator()


def _fake_image(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.fake import FakeImageGenerator

    return FakeImageGenerator()


def _fake_3d(settings: GeneratorSettings, key: int | None) -> Generator:
    from generators.fake import FakeModel3DGenerator

    return FakeModel3DGenerator()


GENERATORS: Mapping[str, GeneratorSpec] = {
    spec.name: spec
    for spec in (
        GeneratorSpec(
            "transformers-text",
            ContentKind.TEXT,
            "Hugging Face causal LM from generators.text_model (a directory or hub id)",
            _transformers_text,
        ),
        GeneratorSpec(
            "tiny-text", ContentKind.TEXT, "the tiny LM built by `models init`", _tiny_text
        ),
        GeneratorSpec(
            "openai-upstream",
            ContentKind.TEXT,
            "any OpenAI-compatible chat completions server",
            _openai_upstream,
        ),
        GeneratorSpec(
            "diffusers-image",
            ContentKind.IMAGE,
            "diffusers StableDiffusionPipeline from generators.image_model",
            _diffusers_image,
        ),
        GeneratorSpec(
            "tiny-image",
            ContentKind.IMAGE,
            "the tiny diffusion pipeline built by `models init`",
            _tiny_image,
        ),
        GeneratorSpec(
            "parametric-3d",
            ContentKind.MODEL3D,
            "simple meshes from shape and colour words (trimesh)",
            _parametric_3d,
        ),
        GeneratorSpec(
            "external-3d",
            ContentKind.MODEL3D,
            "a configured command: JSON on stdin, GLB on stdout",
            _external_3d,
        ),
        GeneratorSpec("fake-text", ContentKind.TEXT, "deterministic test double", _fake_text),
        GeneratorSpec("fake-image", ContentKind.IMAGE, "deterministic test double", _fake_image),
        GeneratorSpec("fake-3d", ContentKind.MODEL3D, "deterministic test double", _fake_3d),
    )
}


def generator_names(kind: ContentKind | None = None) -> list[str]:
    return sorted(name for name, spec in GENERATORS.items() if kind is None or spec.kind is kind)


def generator_spec(name: str) -> GeneratorSpec:
    try:
        return GENERATORS[name]
    except KeyError:
        raise UnknownGeneratorError(
            f"unknown generator {name!r}; known generators: {', '.join(generator_names())}",
            details={"known": generator_names()},
        ) from None


def build_generator(
    name: str, settings: GeneratorSettings, *, watermark_key: int | None = None
) -> Generator:
    """A new generator; ``watermark_key`` (the gateway's text watermark secret) marks text."""
    return generator_spec(name).factory(settings, watermark_key)
