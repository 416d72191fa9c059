"""Which rectifications of a turned or stretched copy are worth decoding.

Hypotheses come from two places: the spectral lattice search (``geometry``) and a direct
scan of small tilts. Under a full-frame fine texture (grass, gravel) the lattice's lines
drown in the host's own spectrum — the spectral score at the true lattice is ~0 — while
the sync pattern's coherent sum still stands out (half-scale z 7.5–10 against at most 5.5
for unmarked images), so straightened or hand-held copies (±6°) are tried whatever the
spectrum says. Every hypothesis is ranked by the sync z-score of its rectified, folded
half-scale copy; only those clearing a gate are decoded, which is also what keeps an
unmarked image cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import numpy as np

from provenance.watermark import imaging
from provenance.watermark.geometry import (
    Lattice,
    LatticeSearch,
    mask_flat_areas,
    rectify,
    rectify_zero_mean,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float32]
    Vector = NDArray[np.float64]

__all__ = ["ORIENTATIONS", "LatticeScreen", "ScreenParams", "SyncScorer"]

Orientation = Callable[["FloatArray"], "FloatArray"]


def _turned(turns: int, mirrored: bool) -> Orientation:
    def transform(array: FloatArray) -> FloatArray:
        turned = np.rot90(np.fliplr(array) if mirrored else array, turns)
        return np.ascontiguousarray(turned)

    return transform


# The dihedral group of the square, identity first: every way a copy can be turned
# or mirrored without resampling.
ORIENTATIONS = tuple(_turned(turns, mirrored) for mirrored in (False, True) for turns in range(4))


class SyncScorer(Protocol):
    def sync_z_many(self, folds: FloatArray, *, coarse: bool) -> Vector:
        """Sync z-score of each folded tile in a stack (half-scale tiles if ``coarse``)."""


@dataclass(frozen=True, slots=True)
class ScreenParams:
    lattices: int = 2  # hypotheses handed on to be decoded
    lattice_min_z: float = 4.8  # half-scale z a spectral lattice needs
    tilt_step_deg: float = 0.5
    tilt_reach_deg: float = 6.0
    # Tilts are tried on every image, so they must clear more than the spectral lattices:
    # unmarked images reach 5.5 at most, grass and gravel copies 7.5-10.
    tilt_min_z: float = 6.0


class LatticeScreen:
    def __init__(
        self, search: LatticeSearch, sync: SyncScorer, tile_px: int, params: ScreenParams
    ) -> None:
        self._search = search
        self._sync = sync
        self._tile_px = tile_px
        self._params = params

    def upright(
        self, whitened: FloatArray, lattice: Lattice
    ) -> tuple[FloatArray, FloatArray, float]:
        """``whitened`` resampled so the lattice is the nominal tile again, turned to the
        best of the 8 orientations (a lattice cannot tell a quarter turn or a mirror), the
        mask of what came from inside the image, and the sync z-score of that best."""
        rectified, inside = rectify(whitened, lattice, self._tile_px)
        grid = rectified * inside
        folded = imaging.fold(grid, self._tile_px)
        scores = self._sync.sync_z_many(
            np.stack([turn(folded) for turn in ORIENTATIONS]), coarse=False
        )
        best = int(np.argmax(scores))
        return ORIENTATIONS[best](grid), ORIENTATIONS[best](inside), float(scores[best])

    def lattices(self, small: FloatArray, whitened: FloatArray) -> list[Lattice]:
        """The hypotheses worth decoding, best half-scale sync z-score first.

        The spectral score finds a lattice; the keyed sync pattern tells the right one
        from a texture's own periodicity far better, so it decides what is decoded.
        """
        params = self._params
        spectral = self._search.candidates(mask_flat_areas(small, whitened))
        # Below the gate no lattice of the bench's turned or stretched copies ever decoded,
        # and most unmarked images stop here (their best is 4.3 at the median).
        eligible = [
            (z, lattice, False)
            for lattice in spectral
            if (z := self._half_scale_z(whitened, lattice)) >= params.lattice_min_z
        ]
        for tilt in self._tilts:
            # A tilt is a near-upright copy: its orientation is the image's own.
            z = self._half_scale_z(whitened, tilt, ORIENTATIONS[:1])
            if z >= params.tilt_min_z:
                eligible.append((z, tilt, True))
        eligible.sort(key=lambda item: -item[0])
        return [
            self._polished_tilt(whitened, lattice) if is_tilt else lattice
            for _, lattice, is_tilt in eligible[: params.lattices]
        ]

    @cached_property
    def _tilts(self) -> list[Lattice]:
        step, reach = self._params.tilt_step_deg, self._params.tilt_reach_deg
        count = round(reach / step)
        period = float(self._tile_px)
        return [
            Lattice.stretched(math.radians(step * k), period, 1.0) for k in range(-count, count + 1)
        ]

    def _half_scale_z(
        self,
        whitened: FloatArray,
        lattice: Lattice,
        orientations: tuple[Orientation, ...] = ORIENTATIONS,
    ) -> float:
        """Sync z-score of the rectified, folded half-scale copy, best of the orientations."""
        rectified = rectify_zero_mean(whitened, lattice, self._tile_px, shrink=2)
        folded = imaging.fold(rectified, self._tile_px // 2, average=False)
        turned = np.stack([turn(folded) for turn in orientations])
        return float(self._sync.sync_z_many(turned, coarse=True).max())

    def _polished_tilt(self, whitened: FloatArray, tilt: Lattice) -> Lattice:
        """A screened tilt to within a quarter degree (the fold wants ±0.3°), judged at
        full scale: half-scale z-scores are too noisy to split half a degree."""
        angle, period = float(tilt.polar()[0]), float(self._tile_px)
        quarter = math.radians(0.25)
        trials = [tilt, *(Lattice.stretched(angle + d, period, 1.0) for d in (-quarter, quarter))]
        return max(trials, key=lambda lattice: self.upright(whitened, lattice)[2])
