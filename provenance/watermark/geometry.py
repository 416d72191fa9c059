"""Geometric synchronisation of the tiled watermark: rotation, scale, aspect and shear.

The tile repeats, so a marked image's spectrum carries a lattice of lines at the tile's
harmonics. A rotated, rescaled or stretched copy carries the same lattice, transformed by
the inverse transpose of the attack. No extra template is embedded (it would cost PSNR
and could show on flat colours): the search scores lattice hypotheses by the flattened
power at the tile harmonics where the keyed sync pattern is strongest, which is a matched
filter for the pattern the detector already knows.

1. Coarse scan of square lattices, 1° × 1.6 % over ±45° (a quarter turn is the fold's
   business) and periods 62–200 px at the canonical scale: rotations up to ±45°, crops,
   shrinking and the larger canvas of a rotation that kept the corners.
2. The best few are refined axis by axis (each lattice vector's angle and length on its
   own), which picks up aspect changes and the shear that rotation plus stretching makes.
3. The caller resamples the luminance so the lattice becomes the nominal square tile
   again, then folds and decodes exactly as for an unrotated copy; only a decoded id with
   a matching CRC counts, so a wrong hypothesis costs time, never a false id.

Flat areas (the corners an editor fills after a rotation, a plain background) are masked
out first: their straight, stair-stepped borders put periodic ridges in the spectrum that
would outscore the watermark's lattice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from provenance.watermark import imaging

if TYPE_CHECKING:
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float32]
    Vector = NDArray[np.float64]

__all__ = ["Lattice", "LatticeSearch", "mask_flat_areas", "rectify"]


@dataclass(frozen=True, slots=True)
class Lattice:
    """Two tile-lattice vectors, (x, y) in canonical pixels: where tile (1, 0) and (0, 1) went."""

    first: tuple[float, float]
    second: tuple[float, float]

    @classmethod
    def from_polar(cls, params: Vector) -> Lattice:
        angle_1, length_1, angle_2, length_2 = (float(value) for value in params)
        return cls(
            (length_1 * math.cos(angle_1), length_1 * math.sin(angle_1)),
            (length_2 * math.cos(angle_2), length_2 * math.sin(angle_2)),
        )

    def matrix(self) -> Vector:
        """Columns are the lattice vectors: canonical position = matrix @ tile position."""
        return np.array([[self.first[0], self.second[0]], [self.first[1], self.second[1]]])

    @property
    def period_px(self) -> float:
        return math.sqrt(abs(float(np.linalg.det(self.matrix()))))


@dataclass(frozen=True, slots=True)
class SearchParams:
    period_range: tuple[float, float] = (62.0, 200.0)  # canonical px, square lattices
    angle_step_deg: float = 1.0  # coarse scan; the 3 x 3 max filter widens each line
    period_step: float = 0.016  # relative
    lines: int = 50  # strongest sync harmonics in the coarse scan (more: slower, no better)
    refine_lines: int = 400  # and in the refinement, where few hypotheses are scored
    candidates: int = 4  # coarse maxima refined
    refine_rounds: int = 3


class LatticeSearch:
    """Lattice hypotheses for one key: built from the key's whitened sync tile."""

    def __init__(self, sync_tile: FloatArray, params: SearchParams | None = None) -> None:
        self._params = params or SearchParams()
        self._orders, self._weights = _strongest_harmonics(sync_tile, self._params.lines)
        self._fine_orders, self._fine_weights = _strongest_harmonics(
            sync_tile, self._params.refine_lines
        )

    def candidates(self, whitened: FloatArray) -> list[Lattice]:
        """Best lattice hypotheses first; empty for an image too small to hold a tile."""
        if min(whitened.shape) < 2 * self._params.period_range[0]:
            return []
        import cv2

        spectrum = _flattened_spectrum(whitened)
        # A 3 x 3 max filter widens every line: coarse steps still land on it.
        widened = np.asarray(cv2.dilate(spectrum, np.ones((3, 3), np.uint8)), np.float32)
        coarse = self._coarse_maxima(widened)
        refined = [self._refine(spectrum, widened, start) for start in coarse]
        refined.sort(key=lambda item: -item[0])
        return [Lattice.from_polar(params) for _, params in refined]

    def _coarse_maxima(self, widened: FloatArray) -> list[Vector]:
        import cv2

        params = self._params
        angles = np.radians(np.arange(-45.0, 45.0, params.angle_step_deg))
        low, high = params.period_range
        periods = low * np.exp(np.arange(0.0, math.log(high / low), params.period_step))
        scores = self._square_scores(widened, angles, periods)
        peaks = scores >= cv2.dilate(scores, np.ones((5, 5), np.uint8))
        rows, cols = np.nonzero(peaks)
        best = np.argsort(-scores[rows, cols])[: params.candidates]
        return [
            np.array([angles[i], periods[j], angles[i] + math.pi / 2, periods[j]])
            for i, j in zip(rows[best], cols[best], strict=True)
        ]

    def _square_scores(self, spectrum: FloatArray, angles: Vector, periods: Vector) -> FloatArray:
        """Weighted line power of every (angle, period) square lattice, one remap call.

        For a square lattice of period p turned by a, harmonic k sits at frequency
        R(a) k / p: rotate the harmonics once per angle, then divide by each period.
        """
        import cv2

        height, width = spectrum.shape
        cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
        kx, ky = self._orders[:, 0][None, :], self._orders[:, 1][None, :]
        turned_x, turned_y = cos * kx - sin * ky, sin * kx + cos * ky  # angles x lines
        inverse = (1.0 / periods)[None, :, None]
        fx = (turned_x[:, None, :] * inverse * width + width // 2).astype(np.float32)
        fy = (turned_y[:, None, :] * inverse * height + height // 2).astype(np.float32)
        shape = fx.shape
        values = cv2.remap(
            spectrum,
            fx.reshape(-1, shape[2]),
            fy.reshape(-1, shape[2]),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        scores: FloatArray = (values @ self._weights).reshape(shape[:2]).astype(np.float32)
        return scores

    def _refine(
        self, spectrum: FloatArray, widened: FloatArray, start: Vector
    ) -> tuple[float, Vector]:
        """Coordinate ascent over each vector's angle and length (aspect, shear).

        The first round steps by the coarse grid's half step on the widened spectrum,
        later rounds by finer steps on the sharp one.
        """
        steps = np.array([math.radians(0.5), 0.008, math.radians(0.5), 0.008])
        # Lengths reach ±9.6 %: the coarse square may fit either axis of a stretched copy.
        reach = np.array([3, 12, 3, 12])
        current = start.copy()
        for round_index in range(self._params.refine_rounds):
            scored = widened if round_index == 0 else spectrum
            for axis in range(4):
                offsets = np.arange(-reach[axis], reach[axis] + 1, dtype=np.float64)
                trials = np.repeat(current[None], offsets.size, axis=0)
                if axis % 2:
                    trials[:, axis] = current[axis] * np.exp(offsets * steps[axis])
                else:
                    trials[:, axis] = current[axis] + offsets * steps[axis]
                current = trials[int(np.argmax(self._general_scores(scored, trials)))]
            steps, reach = steps / 2.5, np.full(4, 3)
        return float(self._general_scores(spectrum, current[None])[0]), current

    def _general_scores(self, spectrum: FloatArray, polar: Vector) -> Vector:
        import cv2

        height, width = spectrum.shape
        matrices = np.stack([Lattice.from_polar(row).matrix() for row in polar])
        # Harmonic k of lattice V sits at frequency k^T V^-1 (cycles per pixel).
        frequencies = np.einsum("kc,ncd->nkd", self._fine_orders, np.linalg.inv(matrices))
        fx = (frequencies[..., 0] * width + width // 2).astype(np.float32)
        fy = (frequencies[..., 1] * height + height // 2).astype(np.float32)
        values = cv2.remap(spectrum, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        scores: Vector = values.astype(np.float64) @ self._fine_weights
        return scores


def _strongest_harmonics(sync_tile: FloatArray, count: int) -> tuple[Vector, Vector]:
    """Tile harmonics (kx, ky) where the sync pattern's power is largest, and weights.

    One of each ±k pair (a real image's spectrum is symmetric); orders below 3 drown in
    the host's own low frequencies, orders above 40 in JPEG's quantisation.
    """
    power = np.abs(np.fft.fft2(sync_tile.astype(np.float64))) ** 2
    side = sync_tile.shape[0]
    min_order, max_order = 3.0, 40
    orders, weights = [], []
    for kx in range(-max_order, max_order + 1):
        for ky in range(0, max_order + 1):
            if ky == 0 and kx <= 0:
                continue
            if not min_order <= math.hypot(kx, ky) <= max_order:
                continue
            orders.append((kx, ky))
            weights.append(power[ky % side, kx % side])
    weight_array = np.array(weights)
    chosen = np.argsort(-weight_array)[:count]
    picked = weight_array[chosen]
    return np.array(orders, dtype=np.float64)[chosen], picked / picked.sum()


def _flattened_spectrum(whitened: FloatArray) -> FloatArray:
    """Power spectrum (zero frequency centred) divided by its local mean: lines stand out."""
    from scipy import fft

    return imaging.flatten_power(np.fft.fftshift(np.abs(fft.fft2(whitened)) ** 2), 7)


def mask_flat_areas(small: FloatArray, whitened: FloatArray) -> FloatArray:
    """``whitened`` with flat areas and their borders zeroed (see the module docstring)."""
    import cv2

    mean = cv2.blur(small, (5, 5))
    variance = cv2.blur(small * small, (5, 5)) - mean * mean
    flat = cv2.dilate((variance < 0.5).astype(np.uint8), np.ones((7, 7), np.uint8))
    result: FloatArray = whitened * (1.0 - flat.astype(np.float32))
    return result


def rectify(
    array: FloatArray, lattice: Lattice, tile_px: int, *, shrink: int = 1
) -> tuple[FloatArray, FloatArray]:
    """``array`` resampled so ``lattice`` becomes the square ``tile_px / shrink`` grid,
    and a mask of the output pixels that came from inside the input."""
    import cv2

    matrix = lattice.matrix() * (shrink / tile_px)  # input position = matrix @ output position
    height, width = array.shape
    corners = np.array([[0.0, width, 0.0, width], [0.0, 0.0, height, height]])
    mapped = np.linalg.solve(matrix, corners)
    low, high = mapped.min(axis=1), mapped.max(axis=1)
    size = (math.ceil(high[0] - low[0]), math.ceil(high[1] - low[1]))
    affine = np.hstack([matrix, (matrix @ low)[:, None]])
    flags = cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(
        array, affine, size, flags=flags | cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inside = cv2.warpAffine(
        np.ones_like(array), affine, size, flags=flags | cv2.INTER_NEAREST, borderValue=0
    )
    return np.asarray(out, np.float32), np.asarray(inside, np.float32)
