"""What the queue page's filter form means: status, minimum age, and ages as labels.

status_filter("open")          # [TaskStatus.PENDING, TaskStatus.CLAIMED]
minutes_to_s("90")             # 5400.0; "soon" -> 422 invalid_filter
age_label(5400, Language.EN)   # "1 h 30 min"
"""

from __future__ import annotations

import math
from functools import partial

from common.errors import InvalidInputError
from common.types import Language
from review_ui.i18n import translate
from review_ui.interface import TaskStatus

__all__ = ["age_label", "minutes_to_s", "status_filter"]


def status_filter(status: str) -> list[TaskStatus] | TaskStatus | None:
    if status == "all":
        return None
    if status in ("", "open"):
        return [TaskStatus.PENDING, TaskStatus.CLAIMED]
    try:
        return TaskStatus(status)
    except ValueError as exc:
        raise _InvalidFilterError(f"unknown status {status!r}") from exc


class _InvalidFilterError(InvalidInputError):
    code = "invalid_filter"


_MAX_AGE_MIN = 10 * 366 * 24 * 60  # ten years: older than any task a queue holds


def minutes_to_s(minutes: str) -> float | None:
    if not minutes.strip():
        return None
    try:
        value = float(minutes)
    except ValueError as exc:
        raise _InvalidFilterError("older than: a number of minutes") from exc
    # inf, nan and 1e20 minutes reach datetime arithmetic, which overflows (a 500).
    if not math.isfinite(value) or not 0 <= value <= _MAX_AGE_MIN:
        raise _InvalidFilterError(f"older than: a number of minutes from 0 to {_MAX_AGE_MIN}")
    return value * 60


def age_label(age_s: float, lang: Language) -> str:
    t = partial(translate, lang)
    minutes = int(age_s // 60)
    if minutes < 60:
        return f"{minutes} {t('unit_min')}"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} {t('unit_h')} {minutes:02d} {t('unit_min')}"
    return f"{hours // 24} {t('unit_d')}"
