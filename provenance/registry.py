"""Stamping steps by name: one line per plugin.

``build_steps`` turns the configured names into step objects and refuses an empty list,
an unknown name or an order that would sign before the last byte is written::

    steps = build_steps(settings.steps, StepContext(settings, key_provider, watermarker))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from common.errors import ConfigurationError
from provenance.interface import StepName
from provenance.keys import KeyProvider
from provenance.settings import ProvenanceSettings
from provenance.steps.base import StampStep
from provenance.watermark.interface import ImageWatermarker

__all__ = ["STEP_FACTORIES", "StepContext", "build_steps"]


@dataclass(frozen=True, slots=True)
class StepContext:
    settings: ProvenanceSettings
    key_provider: KeyProvider
    watermarker: ImageWatermarker | None


def _explicit_label(context: StepContext) -> StampStep:
    from provenance.steps.explicit_label import ExplicitLabelStep

    return ExplicitLabelStep()


def _watermark(context: StepContext) -> StampStep:
    from provenance.steps.watermark import WatermarkStep

    return WatermarkStep(context.watermarker, context.settings.watermark_min_side_px)


def _implicit_label(context: StepContext) -> StampStep:
    from provenance.steps.implicit_label import ImplicitLabelStep

    return ImplicitLabelStep()


def _c2pa(context: StepContext) -> StampStep:
    from provenance.steps.c2pa_manifest import C2paStep

    return C2paStep(context.key_provider, context.settings)


STEP_FACTORIES: dict[str, Callable[[StepContext], StampStep]] = {
    StepName.EXPLICIT_LABEL: _explicit_label,
    StepName.WATERMARK: _watermark,
    StepName.IMPLICIT_LABEL: _implicit_label,
    StepName.C2PA: _c2pa,
}


def build_steps(names: Sequence[str], context: StepContext) -> tuple[StampStep, ...]:
    if not names:
        # STYLE: composite checks fail closed; no steps is a configuration error.
        raise ConfigurationError("provenance.steps is empty: nothing would be stamped")
    unknown = [name for name in names if name not in STEP_FACTORIES]
    if unknown:
        raise ConfigurationError(
            f"unknown stamping step(s) {unknown}; known: {sorted(STEP_FACTORIES)}"
        )
    if len(set(names)) != len(names):
        raise ConfigurationError(f"a stamping step is listed twice: {list(names)}")
    steps = tuple(STEP_FACTORIES[name](context) for name in names)
    _check_phase_order(steps)
    return steps


def _check_phase_order(steps: Sequence[StampStep]) -> None:
    # Pixels before metadata before the signature: the hard binding covers final bytes.
    phases = [step.phase for step in steps]
    if phases != sorted(phases):
        order = [f"{step.name}({step.phase.name.lower()})" for step in steps]
        raise ConfigurationError(f"stamping steps out of order: {order}")
