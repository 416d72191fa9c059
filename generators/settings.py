"""The ``generators`` section of the gateway's settings.

``gateway.settings.Settings`` nests it (``AIGC_GENERATORS__TEXT_MODEL=...``); the gateway
passes ``models_dir=<AIGC_DATA_DIR>/models`` so that the tiny models built by
``aigc-gateway models init`` are found::

    settings = GeneratorSettings(models_dir=Path("data/models"))
    settings.text_model_source().path   # data/models/tiny-text-lm
    settings.default_generator(ContentKind.IMAGE)   # "diffusers-image"

A model is named by a path or a Hugging Face hub id, resolved by :meth:`ModelSource.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from common.types import ContentKind

__all__ = ["TINY_IMAGE_MODEL_DIR", "TINY_TEXT_MODEL_DIR", "GeneratorSettings", "ModelSource"]

# Directory names under ``models_dir`` that ``build_default_models`` writes.
TINY_TEXT_MODEL_DIR = "tiny-text-lm"
TINY_IMAGE_MODEL_DIR = "tiny-image-sd"


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where a model's files come from: a local directory, or a hub id."""

    name: str  # as configured
    path: Path | None  # set for local models
    hub_id: str | None  # set for hub models

    @property
    def is_local(self) -> bool:
        return self.path is not None

    @property
    def load_from(self) -> str:
        """The argument for ``from_pretrained``."""
        return str(self.path) if self.path is not None else str(self.hub_id)

    @classmethod
    def parse(cls, value: str, models_dir: Path | None) -> ModelSource:
        """Resolve a configured model name.

        An absolute path, or one starting with ``.`` or ``~``, is a local directory; so
        is a bare name (no ``/``), looked up under ``models_dir``; so is ``org/name``
        when that directory exists under ``models_dir``. Anything else with a ``/`` is
        a hub id (``Qwen/Qwen2.5-0.5B-Instruct``).
        """
        if value.startswith(("/", ".", "~")):
            return cls(value, Path(value).expanduser(), None)
        base = models_dir if models_dir is not None else Path(".")
        if "/" not in value or (base / value).is_dir():
            return cls(value, base / value, None)
        return cls(value, None, value)


class GeneratorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Where `aigc-gateway models init` writes; the gateway sets <AIGC_DATA_DIR>/models.
    models_dir: Path | None = None
    device: str = "cpu"
    # torch's intra-op threads, set process-wide when a torch model loads; None keeps
    # torch's default (all cores). 1 suits the tiny default models: on a busy 2-core
    # machine 32 tokens took 0.09 s with one thread and 0.8-2 s with two (measured
    # here). Raise it, or set None, for a real model on a machine of its own.
    torch_threads: int | None = Field(default=1, gt=0)

    # Registry names used when a request names no generator.
    # The transformers/diffusers generators load text_model/image_model, which default to
    # the tiny models: pointing those at a real model is the one setting to change.
    default_text_generator: str = "transformers-text"
    default_image_generator: str = "diffusers-image"
    default_model3d_generator: str = "parametric-3d"

    # Text (transformers): a directory (absolute, or a name under models_dir) or hub id.
    text_model: str = TINY_TEXT_MODEL_DIR
    text_max_new_tokens_limit: int = Field(default=1024, gt=0)
    text_default_max_new_tokens: int = Field(default=96, gt=0)
    text_watermark: bool = True  # green-list watermark during generation (needs a key)

    # Image (diffusers).
    image_model: str = TINY_IMAGE_MODEL_DIR
    image_max_width_px: int = Field(default=1024, ge=8)
    image_max_height_px: int = Field(default=1024, ge=8)
    image_default_size_px: int = Field(default=512, ge=8)
    image_default_steps: int = Field(default=10, gt=0)
    image_max_steps: int = Field(default=100, gt=0)
    image_default_guidance: float = Field(default=7.5, ge=0)

    # OpenAI-compatible upstream for the `openai-upstream` generator.
    upstream_base_url: str | None = None  # e.g. https://api.example.com/v1
    upstream_api_key: SecretStr | None = None
    upstream_model: str = "default"
    upstream_timeout_s: float = Field(default=60.0, gt=0)

    # External text-to-3D command for `external-3d`: argv, run without a shell.
    external_3d_command: list[str] | None = None
    external_3d_timeout_s: float = Field(default=300.0, gt=0)
    external_3d_max_bytes: int = Field(default=200_000_000, gt=0)

    @model_validator(mode="after")
    def _check_image_limits(self) -> GeneratorSettings:
        # Stable Diffusion's VAE downsamples by 8: sizes must be multiples of 8.
        for name in ("image_max_width_px", "image_max_height_px", "image_default_size_px"):
            if getattr(self, name) % 8:
                raise ValueError(f"{name} must be a multiple of 8")
        if self.image_default_size_px > min(self.image_max_width_px, self.image_max_height_px):
            raise ValueError("image_default_size_px exceeds the maximum width or height")
        if self.text_default_max_new_tokens > self.text_max_new_tokens_limit:
            raise ValueError("text_default_max_new_tokens exceeds text_max_new_tokens_limit")
        if self.image_default_steps > self.image_max_steps:
            raise ValueError("image_default_steps exceeds image_max_steps")
        return self

    def text_model_source(self) -> ModelSource:
        return ModelSource.parse(self.text_model, self.models_dir)

    def image_model_source(self) -> ModelSource:
        return ModelSource.parse(self.image_model, self.models_dir)

    def default_generator(self, kind: ContentKind) -> str:
        defaults = {
            ContentKind.TEXT: self.default_text_generator,
            ContentKind.IMAGE: self.default_image_generator,
            ContentKind.MODEL3D: self.default_model3d_generator,
        }
        return defaults[kind]
