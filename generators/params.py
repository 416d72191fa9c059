"""Strict readers for ``GenerationRequest.params``: wrong types and ranges are errors.

Each generator declares the keys it understands and reads them one by one; anything
else is an :class:`~generators.interface.InvalidParamsError` (the diffusers rule: loud
errors instead of silent correction)::

    reject_unknown_params(params, {"seed", "steps"})
    steps = read_int(params, "steps", default=10, minimum=1, maximum=100)
    seed = read_seed(params)
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Collection, Mapping
from typing import Any

from generators.interface import InvalidParamsError

__all__ = [
    "MAX_SEED",
    "read_float",
    "read_int",
    "read_optional_str",
    "read_seed",
    "reject_unknown_params",
]

# torch.Generator.manual_seed accepts any 64-bit value; keep to signed 63 bits so the
# seed also fits a JSON number in every client and a BIGINT column.
MAX_SEED = 2**63 - 1


def reject_unknown_params(params: Mapping[str, Any], known: Collection[str]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidParamsError(
            f"unknown parameter(s) {', '.join(unknown)}; this generator accepts "
            f"{', '.join(sorted(known)) or 'none'}",
            details={"unknown": unknown, "accepted": sorted(known)},
        )


def read_int(
    params: Mapping[str, Any], name: str, *, default: int, minimum: int, maximum: int
) -> int:
    value = params.get(name, default)
    # bool is an int subclass: `true` as a step count is a client bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParamsError(f"{name} must be an integer", details={"param": name})
    if not minimum <= value <= maximum:
        raise InvalidParamsError(
            f"{name} must be between {minimum} and {maximum}, got {value}",
            details={"param": name, "minimum": minimum, "maximum": maximum},
        )
    return value


def read_float(
    params: Mapping[str, Any], name: str, *, default: float, minimum: float, maximum: float
) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParamsError(f"{name} must be a number", details={"param": name})
    number = float(value)
    if not math.isfinite(number) or not minimum <= number <= maximum:
        raise InvalidParamsError(
            f"{name} must be between {minimum} and {maximum}, got {value}",
            details={"param": name, "minimum": minimum, "maximum": maximum},
        )
    return number


def read_seed(params: Mapping[str, Any]) -> int:
    """The request's seed, or a fresh random one: the same seed gives the same output."""
    if params.get("seed") is None:
        return secrets.randbelow(MAX_SEED + 1)
    return read_int(params, "seed", default=0, minimum=0, maximum=MAX_SEED)


def read_optional_str(params: Mapping[str, Any], name: str, *, max_chars: int) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParamsError(f"{name} must be a string", details={"param": name})
    if len(value) > max_chars:
        raise InvalidParamsError(
            f"{name} must be at most {max_chars} characters", details={"param": name}
        )
    return value
