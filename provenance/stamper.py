"""The stamper: runs the configured steps over one artifact and records each of them.

::

    stamper = build_stamper(settings, watermarker)
    result = stamper.stamp(request)      # StampResult; raises 4xx errors on bad input
    for step in result.steps:
        print(step.name, step.applied, step.detail, step.duration_ms)

Steps disabled by the request's policy (``options.disabled_steps``) are recorded as not
applied; if that leaves nothing to run, the stamper refuses (fail closed).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from common.errors import ConfigurationError, GatewayError
from common.types import MediaType
from provenance.interface import (
    StampingError,
    StampRequest,
    StampResult,
    StepName,
    StepResult,
    UnsupportedMediaError,
)
from provenance.keys import KeyProvider, build_key_provider
from provenance.media import IMAGE_TYPES, OpenedMedia, open_media
from provenance.registry import StepContext, build_steps
from provenance.settings import ProvenanceSettings
from provenance.steps.base import StampStep, StampWork, StepPhase
from provenance.watermark.interface import ImageWatermarker

__all__ = ["Stamper", "build_stamper"]


class Stamper:
    def __init__(
        self,
        settings: ProvenanceSettings,
        steps: Sequence[StampStep],
        key_provider: KeyProvider,
    ) -> None:
        if not steps:
            raise ConfigurationError("a stamper needs at least one step")
        self.settings = settings
        self.steps = tuple(steps)
        self.key_provider = key_provider

    def stamp(self, request: StampRequest) -> StampResult:
        """Validate, stamp and return the released bytes; bad input raises a 4xx error."""
        media = open_media(
            request.data,
            request.media_type,
            max_bytes=self.settings.max_input_bytes,
            max_image_pixels=self.settings.max_image_pixels,
        )
        work = self._new_work(request, media)
        records = self._run_steps(work, request.options.disabled_steps)
        return _result_of(work, records)

    def _run_steps(self, work: StampWork, disabled: frozenset[StepName]) -> list[StepResult]:
        enabled = [step for step in self.steps if step.name not in disabled]
        if not enabled:
            raise ConfigurationError("the policy disabled every stamping step")
        records: list[StepResult] = []
        for step in self.steps:
            # Pixels are encoded once, between the pixel steps and the metadata steps.
            if step.phase > StepPhase.PIXELS and work.encoded is None and work.is_image:
                records.append(_encode(work))
            records.append(self._run(step, work, step in enabled))
        return records

    def _new_work(self, request: StampRequest, media: OpenedMedia) -> StampWork:
        output_type = _output_type(request, media.media_type)
        return StampWork(
            request=request,
            settings=self.settings,
            media_type=output_type,
            image=media.image,
            text=media.text,
            glb=media.glb,
        )

    @staticmethod
    def _run(step: StampStep, work: StampWork, enabled: bool) -> StepResult:
        if not enabled:
            if step.name is StepName.WATERMARK:
                work.watermark_reason = "watermark step disabled by policy"
            return StepResult(step.name, False, "disabled by policy", 0.0)
        started = time.perf_counter()
        try:
            outcome = step.apply(work)
        except GatewayError:
            raise
        except Exception as exc:  # a library's own error: translate at the boundary
            raise StampingError(f"stamping step {step.name} failed") from exc
        duration_ms = (time.perf_counter() - started) * 1000
        return StepResult(step.name, outcome.applied, outcome.detail, round(duration_ms, 3))


def build_stamper(
    settings: ProvenanceSettings,
    watermarker: ImageWatermarker | None,
    key_provider: KeyProvider | None = None,
) -> Stamper:
    """The stamper the gateway uses: configured steps, configured key provider."""
    provider = key_provider or build_key_provider(settings)
    steps = build_steps(settings.steps, StepContext(settings, provider, watermarker))
    return Stamper(settings, steps, provider)


def _result_of(work: StampWork, records: list[StepResult]) -> StampResult:
    data = work.output_bytes()
    return StampResult(
        data=data,
        media_type=work.media_type,
        sha256=hashlib.sha256(data).hexdigest(),
        watermark_id=work.watermark_id,
        watermark_reason=work.watermark_reason,
        manifest_label=work.manifest_label,
        manifest_hash=_sha256_or_none(work.manifest_bytes),
        manifest_bytes=work.manifest_bytes,
        manifest_embedded=work.manifest_embedded,
        implicit_label=work.implicit_label,
        steps=tuple(records),
    )


def _output_type(request: StampRequest, input_type: MediaType) -> MediaType:
    wanted = request.options.output_media_type
    if input_type not in IMAGE_TYPES:
        if wanted is not None and wanted is not input_type:
            raise UnsupportedMediaError(f"cannot convert {input_type} to {wanted}")
        return input_type
    if wanted is None:
        return MediaType.PNG  # contract: images are PNG unless asked otherwise
    if wanted not in IMAGE_TYPES:
        raise UnsupportedMediaError(f"cannot convert an image to {wanted}")
    return wanted


def _sha256_or_none(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _encode(work: StampWork) -> StepResult:
    started = time.perf_counter()
    size = len(work.image_bytes())
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    return StepResult(StepName.ENCODE, True, f"{work.media_type}, {size} bytes", duration_ms)
