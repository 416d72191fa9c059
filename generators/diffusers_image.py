"""Image generation with a diffusers ``StableDiffusionPipeline``; PNG out.

The pipeline comes from a local directory (``local_files_only``) or a hub id, is loaded
once and kept in memory; one image is generated at a time per pipeline (the caller
loops for ``n``). The same seed gives the same pixels::

    generator = DiffusersImageGenerator(settings.image_model_source(), settings=settings)
    artifact = generator.generate(GenerationRequest(ContentKind.IMAGE, "a red teapot",
                                                    {"width": 256, "height": 256, "seed": 7}))
    artifact.media_type   # MediaType.PNG

Parameters (all optional): ``width``, ``height`` (multiples of 8 up to the configured
maximum), ``steps``, ``guidance``, ``seed``, ``negative_prompt``.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.types import ContentKind, MediaType
from generators.interface import (
    GeneratedArtifact,
    GenerationFailedError,
    GenerationRequest,
    GeneratorNotReadyError,
    InvalidParamsError,
)
from generators.model_files import LazyModel, apply_torch_threads, model_revision
from generators.params import (
    read_float,
    read_int,
    read_optional_str,
    read_seed,
    reject_unknown_params,
)
from generators.settings import GeneratorSettings, ModelSource

__all__ = ["DiffusersImageGenerator", "ImageParams"]

logger = logging.getLogger(__name__)

IMAGE_PARAMS = frozenset({"width", "height", "steps", "guidance", "seed", "negative_prompt"})
# The VAE downsamples by 8 and the UNet halves the latent once more per down block:
# diffusers rejects sizes that are not multiples of 8.
SIZE_MULTIPLE_PX = 8
MAX_GUIDANCE = 30.0


@dataclass(frozen=True, slots=True)
class ImageParams:
    width_px: int
    height_px: int
    steps: int
    guidance: float
    seed: int
    negative_prompt: str | None

    @classmethod
    def from_request(cls, params: Mapping[str, Any], settings: GeneratorSettings) -> ImageParams:
        reject_unknown_params(params, IMAGE_PARAMS)
        width = read_size(
            params, "width", settings.image_default_size_px, settings.image_max_width_px
        )
        height = read_size(
            params, "height", settings.image_default_size_px, settings.image_max_height_px
        )
        return cls(
            width_px=width,
            height_px=height,
            steps=read_int(
                params,
                "steps",
                default=settings.image_default_steps,
                minimum=1,
                maximum=settings.image_max_steps,
            ),
            guidance=read_float(
                params,
                "guidance",
                default=settings.image_default_guidance,
                minimum=0.0,
                maximum=MAX_GUIDANCE,
            ),
            seed=read_seed(params),
            negative_prompt=read_optional_str(params, "negative_prompt", max_chars=2000),
        )


def read_size(params: Mapping[str, Any], name: str, default: int, maximum: int) -> int:
    size = read_int(params, name, default=default, minimum=SIZE_MULTIPLE_PX, maximum=maximum)
    if size % SIZE_MULTIPLE_PX:
        raise InvalidParamsError(
            f"{name} must be a multiple of {SIZE_MULTIPLE_PX}, got {size}",
            details={"param": name, "multiple_of": SIZE_MULTIPLE_PX},
        )
    return size


class DiffusersImageGenerator:
    """A ``Generator`` for images over ``StableDiffusionPipeline``."""

    kind = ContentKind.IMAGE

    def __init__(
        self, source: ModelSource, *, settings: GeneratorSettings, name: str = "diffusers-image"
    ) -> None:
        self.name = name
        self.source = source
        self._settings = settings
        self._lock = threading.Lock()
        self._pipeline: LazyModel[Any] = LazyModel(
            self._lock,
            self._load,
            self._files_problem,
            f"the {name} model is not installed; an operator must run "
            "`aigc-gateway models init` or configure AIGC_GENERATORS__IMAGE_MODEL",
        )
        self._revision = ""

    def readiness_problem(self) -> str | None:
        return self._pipeline.readiness_problem()

    def _files_problem(self) -> str | None:
        path = self.source.path
        if path is None:
            return None  # a hub id: only loading can tell
        if not (path / "model_index.json").is_file():
            return (
                f"The image model directory {path} does not exist or holds no diffusers "
                "pipeline (model_index.json); run `aigc-gateway models init` to build the "
                "default models, or set AIGC_GENERATORS__IMAGE_MODEL to a pipeline "
                "directory or hub id."
            )
        return None

    def load(self) -> None:
        """Load the pipeline now rather than on the first request."""
        self._pipeline.get()

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        if request.kind is not ContentKind.IMAGE:
            raise InvalidParamsError(f"{self.name} generates images, not {request.kind}")
        params = ImageParams.from_request(request.params, self._settings)
        pipeline = self._pipeline.get()
        with self._lock:
            # OpenMP's thread count is per OS thread (see transformers_text).
            apply_torch_threads(self._settings.torch_threads)
            try:
                image = self._run(pipeline, request.prompt, params)
            except (RuntimeError, ValueError) as exc:
                logger.exception("image generation failed in %s", self.name)
                raise GenerationFailedError(
                    f"the image model failed to generate ({type(exc).__name__})"
                ) from exc
        return GeneratedArtifact(
            kind=ContentKind.IMAGE,
            media_type=MediaType.PNG,
            data=encode_png(image),
            generator=self.name,
            model=self.source.name,
            model_revision=self._revision,
        )

    def _load(self) -> Any:
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
        apply_torch_threads(self._settings.torch_threads)
        local = {"local_files_only": True} if self.source.is_local else {}
        try:
            # diffusers leaves from_pretrained unannotated.
            pipeline = StableDiffusionPipeline.from_pretrained(self.source.load_from, **local)
        except (OSError, ValueError) as exc:
            raise GeneratorNotReadyError(
                f"the {self.name} model could not be loaded",
                operator_detail=f"The image model {self.source.name} could not be loaded: {exc}",
            ) from exc
        pipeline.set_progress_bar_config(disable=True)
        pipeline.to(self._settings.device)
        self._revision = model_revision(self.source, getattr(pipeline.config, "_commit_hash", None))
        return pipeline

    def _run(self, pipeline: Any, prompt: str, params: ImageParams) -> Any:
        import torch

        seeded = torch.Generator(device=self._settings.device).manual_seed(params.seed)
        with torch.inference_mode():
            result = pipeline(
                prompt=prompt,
                negative_prompt=params.negative_prompt,
                width=params.width_px,
                height=params.height_px,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance,
                generator=seeded,
                output_type="pil",
            )
        return result.images[0]


def encode_png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
