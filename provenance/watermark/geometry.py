"""Geometric synchronisation of the tiled watermark: rotation, scale, aspect and shear.

The tile repeats, so a marked image's spectrum carries a lattice of lines at the tile's
harmonics. A rotated, rescaled or stretched copy carries the same lattice, transformed by
the inverse transpose of the attack. No extra template is embedded (it would cost PSNR
and could show on flat colours): the search scores lattice hypotheses by the flattened
power at the tile harmonics where the keyed sync pattern is strongest, which is a matched
filter for the pattern the detector already knows.

1. Coarse scan of square lattices over ±45° (a quarter turn is the fold's business) and
   periods 62–200 px at the canonical scale, at five stretch factors within ±10 %: one
   log-polar cross-correlation per stretch weighs every sync harmonic (``_LogPolarScan``).
   That covers rotations up to ±45°, crops, shrinking, aspect changes and the larger
   canvas of a rotation that kept the corners.
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

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from provenance.watermark import imaging

if TYPE_CHECKING:
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float32]
    Vector = NDArray[np.float64]

__all__ = ["Lattice", "LatticeSearch", "mask_flat_areas", "rectify", "rectify_zero_mean"]


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

    @classmethod
    def stretched(cls, angle: float, period: float, aspect: float) -> Lattice:
        """The square lattice of ``period`` turned by ``angle``, then stretched along x."""
        cos, sin = math.cos(angle), math.sin(angle)
        return cls((period * cos * aspect, period * sin), (-period * sin * aspect, period * cos))

    def polar(self) -> Vector:
        """(angle, length) of each vector: the refinement's coordinates."""
        return np.array(
            [
                math.atan2(self.first[1], self.first[0]),
                math.hypot(*self.first),
                math.atan2(self.second[1], self.second[0]),
                math.hypot(*self.second),
            ]
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
    angle_step_deg: float = 0.5  # coarse scan, in log-polar coordinates
    log_step: float = 0.008  # of the radius (and so of the period): 0.8 %
    refine_lines: int = 400  # strongest sync harmonics in the refinement
    aspects: int = 5  # stretch factors scanned, log-spaced over [1/max_aspect, max_aspect]
    max_aspect: float = 1.1
    candidates: int = 4  # coarse maxima refined
    refine_rounds: int = 3


class LatticeSearch:
    """Lattice hypotheses for one key: built from the key's whitened sync tile."""

    def __init__(self, sync_tile: FloatArray, params: SearchParams | None = None) -> None:
        self._params = params or SearchParams()
        self._scan = _LogPolarScan(sync_tile, self._params)
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
        coarse = self._coarse_maxima(np.asarray(cv2.blur(spectrum, (3, 3)), np.float32))
        refined = [self._refine(spectrum, widened, start) for start in coarse]
        refined.sort(key=lambda item: -item[0])
        return [Lattice.from_polar(params) for _, params in refined]

    def _coarse_maxima(self, spectrum: FloatArray) -> list[Vector]:
        """The best (aspect, angle, period) lattices of the coarse scan, as refinement starts."""
        params = self._params
        scan = self._scan
        scores = np.stack([scan.scores(spectrum, aspect) for aspect in scan.aspects])
        peaks = scores >= _neighbourhood_max(scores)
        found = np.nonzero(peaks)
        best = np.argsort(-scores[found])[: params.candidates]
        starts = []
        for h, i, j in zip(*(axis[best] for axis in found), strict=True):
            angle, period = scan.angle(int(i)), scan.period(int(j))
            starts.append(Lattice.stretched(angle, period, float(scan.aspects[h])).polar())
        return starts

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
        frequencies = np.matmul(self._fine_orders[None], np.linalg.inv(matrices))
        fx = (frequencies[..., 0] * width + width // 2).astype(np.float32)
        fy = (frequencies[..., 1] * height + height // 2).astype(np.float32)
        values = cv2.remap(spectrum, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        scores: Vector = values.astype(np.float64) @ self._fine_weights
        return scores


class _LogPolarScan:
    """Every (angle, period) square lattice scored at once, for a few stretch factors.

    In log-polar coordinates of the spectrum a turn is a shift along the angle and a
    rescale a shift along the log radius, so the weighted power at all harmonics of
    every turned and rescaled lattice is one cross-correlation of the resampled spectrum
    with the harmonics' template (the classic Fourier-Mellin idea, applied to the tile
    lattice the watermark already has rather than to an added template). It weighs every
    harmonic of the sync pattern: a scan over a few dozen strongest harmonics lost the
    lattice of busy photos in their own lines. A stretch is not a shift: each aspect is
    its own resampling, of the spectrum squeezed along x.
    """

    def __init__(self, sync_tile: FloatArray, params: SearchParams) -> None:
        self._params = params
        self.aspects = np.exp(np.linspace(-1.0, 1.0, params.aspects) * math.log(params.max_aspect))
        self._angle_step = math.radians(params.angle_step_deg)
        self._angles = round(math.pi / self._angle_step)  # a spectrum repeats every half turn
        orders, weights = _strongest_harmonics(sync_tile, 1 << 20)
        radii = np.hypot(orders[:, 0], orders[:, 1])
        self._log_low = math.log(float(radii.min()) / params.period_range[1])
        # Radii beyond Nyquist (0.5 cycles per pixel) hold nothing: sampled as zeros.
        self._radii = math.ceil((math.log(0.5) - self._log_low) / params.log_step) + 1
        self._padded_radii = self._room_for_every_lag(radii)
        self._template = self._splat(orders, weights, radii)
        self._lags = self._period_lags()

    def _splat(self, orders: Vector, weights: Vector, radii: Vector) -> NDArray[np.complex64]:
        """The harmonics' template on the log-polar grid (bilinear), as its conjugate FFT."""
        step = self._params.log_step
        radial = (np.log(radii) - math.log(float(radii.min()))) / step
        angular = np.mod(np.arctan2(orders[:, 1], orders[:, 0]), math.pi) / self._angle_step
        size = (self._padded_radii, self._angles)
        template = np.zeros(size)
        r0, a0 = np.floor(radial).astype(int), np.floor(angular).astype(int)
        fr, fa = radial - r0, angular - a0
        for dr, da, share in (
            (0, 0, (1 - fr) * (1 - fa)),
            (1, 0, fr * (1 - fa)),
            (0, 1, (1 - fr) * fa),
            (1, 1, fr * fa),
        ):
            np.add.at(template, (r0 + dr, (a0 + da) % self._angles), weights * share)
        from scipy import fft

        spectrum: NDArray[np.complex64] = np.conj(fft.rfft2(template.astype(np.float32)))
        return spectrum

    def _room_for_every_lag(self, radii: Vector) -> int:
        """Radial size of the correlation: every lag of the period range over the
        template's radial extent, without wrapping round."""
        from scipy import fft

        step = self._params.log_step
        template_extent = math.ceil(math.log(float(radii.max() / radii.min())) / step) + 2
        low, high = self._params.period_range
        max_lag = math.ceil(math.log(high / low) / step)
        return int(fft.next_fast_len(max(self._radii, template_extent + max_lag + 1), real=True))

    def _period_lags(self) -> NDArray[np.int64]:
        low, high = self._params.period_range
        span = math.log(high / low) / self._params.log_step
        return np.arange(0, math.floor(span) + 1)

    def period(self, lag: int) -> float:
        """Lag 0 is the longest period (the harmonics sit at the smallest radii)."""
        return float(self._params.period_range[1] * math.exp(-lag * self._params.log_step))

    def angle(self, index: int) -> float:
        return (index - self._angles // 4) * self._angle_step  # index 0 is -45 degrees

    def scores(self, spectrum: FloatArray, aspect: float) -> FloatArray:
        """Scores over (angle in [-45, 45) degrees, period lag) for one stretch factor."""
        import cv2
        from scipy import fft

        fx, fy = self._sample_grid(spectrum.shape, aspect)
        polar = np.zeros((self._padded_radii, self._angles), np.float32)
        polar[: self._radii] = cv2.remap(
            spectrum, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        correlation = fft.irfft2(fft.rfft2(polar) * self._template, s=polar.shape)
        # correlation[lag, shift] = sum of template[r, a] * polar[r + lag, a + shift]
        turned = np.roll(correlation, self._angles // 4, axis=1)[:, : self._angles // 2]
        result: FloatArray = turned[self._lags].T.astype(np.float32)
        return result

    @functools.lru_cache(maxsize=32)  # noqa: B019 - one scan per key, a few shapes each
    def _sample_grid(self, shape: tuple[int, ...], aspect: float) -> tuple[FloatArray, FloatArray]:
        """Where each log-polar sample sits in the centred spectrum, squeezed along x."""
        height, width = shape
        radii = np.exp(self._log_low + np.arange(self._radii) * self._params.log_step)
        angles = np.arange(self._angles) * self._angle_step
        fx = radii[:, None] * np.cos(angles)[None, :] / aspect * width + width // 2
        fy = radii[:, None] * np.sin(angles)[None, :] * height + height // 2
        return fx.astype(np.float32), fy.astype(np.float32)


def _neighbourhood_max(scores: FloatArray) -> FloatArray:
    """Max over 3 stretches x 5 angles x 5 periods around each score (edges clamp):
    ``scipy.ndimage.maximum_filter`` gives the same, 4x slower."""
    import cv2

    planes = np.stack([cv2.dilate(plane, np.ones((5, 5), np.uint8)) for plane in scores])
    above = np.concatenate([planes[1:], planes[-1:]])
    below = np.concatenate([planes[:1], planes[:-1]])
    result: FloatArray = np.maximum(planes, np.maximum(above, below))
    return result


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

    affine, size = _rectifying_affine(array.shape, lattice, tile_px, shrink)
    flags = cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(
        array, affine, size, flags=flags | cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inside = cv2.warpAffine(
        np.ones_like(array), affine, size, flags=flags | cv2.INTER_NEAREST, borderValue=0
    )
    return np.asarray(out, np.float32), np.asarray(inside, np.float32)


def rectify_zero_mean(
    array: FloatArray, lattice: Lattice, tile_px: int, *, shrink: int = 1
) -> FloatArray:
    """``rectify`` for a whitened (zero-mean) array: outside the input reads as 0, so no
    mask is needed — half the cost, for screening many hypotheses."""
    import cv2

    affine, size = _rectifying_affine(array.shape, lattice, tile_px, shrink)
    flags = cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR
    return np.asarray(cv2.warpAffine(array, affine, size, flags=flags, borderValue=0), np.float32)


def _rectifying_affine(
    shape: tuple[int, ...], lattice: Lattice, tile_px: int, shrink: int
) -> tuple[Vector, tuple[int, int]]:
    """Output -> input affine map (for ``WARP_INVERSE_MAP``) and the output size that
    holds the whole input."""
    matrix = lattice.matrix() * (shrink / tile_px)  # input position = matrix @ output position
    height, width = shape
    corners = np.array([[0.0, width, 0.0, width], [0.0, 0.0, height, height]])
    mapped = np.linalg.solve(matrix, corners)
    low, high = mapped.min(axis=1), mapped.max(axis=1)
    size = (math.ceil(high[0] - low[0]), math.ceil(high[1] - low[1]))
    return np.hstack([matrix, (matrix @ low)[:, None]]), size
