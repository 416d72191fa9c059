"""A crop- and scale-robust invisible watermark: a keyed, tiled spread-spectrum pattern.

The 48-bit id, its CRC-16 and 63 BCH parity bits (a 127-bit codeword) are spread over a
square tile of ±1 chips together with a fixed synchronisation pattern; the tile repeats
over the whole image at a *canonical scale* (the shorter side resized to 512 px), is
shaped by a texture mask and added to the luminance. The embedder is *informed*: it
reads the host image the way the detector will and spends more amplitude on the bits
the host's own texture would flip (improved spread spectrum, Malvar & Florêncio 2003).
Detection never needs the original size:

1. resize the luminance to the canonical scale and whiten it (local mean removed);
2. try the nominal tile period, then periods suggested by the autocorrelation of the
   whitened image — a crop changes the canonical scale, the periodic pattern tells by
   how much; then the tile lattice of a turned or stretched copy (``geometry``), then
   the straightened grid of a keystoned one (``perspective``);
3. rescale to the nominal period and fold every tile onto one (averaging the copies);
4. find the cyclic offset of the folded tile by correlating it with the sync pattern;
5. read one soft value per codeword bit, decode BCH (Chase), accept only if the CRC
   matches.

    watermarker = TiledWatermarker(key=b"secret")
    marked = watermarker.embed(image, watermark_id=0x1234_5678_9ABC)
    assert watermarker.detect(marked).watermark_id == 0x1234_5678_9ABC
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from provenance.watermark import imaging
from provenance.watermark.bch import CODEWORD_BITS, bch_decode, bch_encode, crc16
from provenance.watermark.geometry import LatticeSearch
from provenance.watermark.interface import ImageTooSmallError, WatermarkReading
from provenance.watermark.perspective import resampled, straighten, unkeystone
from provenance.watermark.screening import ORIENTATIONS, LatticeScreen, ScreenParams

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from provenance.watermark.perspective import Quad

    FloatArray = NDArray[np.float32]
    Vector = NDArray[np.float64]

__all__ = [
    "ID_BITS",
    "MIN_SIDE_PX",
    "DetectionTrace",
    "TiledWatermarkParams",
    "TiledWatermarker",
]

ID_BITS = 48
CRC_BITS = 16
MIN_SIDE_PX = 256
_ID_LIMIT = 1 << ID_BITS


@dataclass(frozen=True, slots=True)
class TiledWatermarkParams:
    """Geometry, strength and thresholds; embedder and detector must share the geometry."""

    canonical_side_px: int = 512  # shorter side at the working scale
    tile_px: int = 128  # tile edge at the canonical scale
    cell_px: int = 4  # chip edge at the canonical scale
    sync_cells: int = 389  # the rest of the tile's 1,024 cells carry codeword bits
    target_rms: float = 2.85  # luminance residual RMS: PSNR = 20 log10(255 / rms) ≈ 39.0 dB
    chip_blur_px: float = 1.0  # Gaussian sigma softening the chip edges (visibility)
    whiten_sigma_px: float = 2.0  # local mean removed before reading
    informed: bool = True  # spend amplitude where the host opposes a bit
    min_gain: float = 0.3  # informed embedding: per-bit amplitude bounds, in units of
    max_gain: float = 3.0  # the uninformed amplitude
    period_search: tuple[float, float] = (0.9, 1.45)  # tile period range at detection
    period_candidates: int = 3  # autocorrelation peaks scanned besides the grid
    grid_search: tuple[float, float] = (1.0, 1.36)  # crops of up to 25 % of the short side
    grid_step: float = 0.005  # the fold stays aligned within ±0.25 % over 512 px
    scan_candidates: int = 3  # best scanned periods refined and decoded
    refine_step: float = 0.001  # relative period step of the refinement search
    refine_steps: int = 3  # steps each side of a scanned period
    min_sync_z: float = 5.0  # below this z-score a hypothesis is not even decoded
    present_sync_z: float = 8.0  # an undecodable mark is reported present above this
    chase_bits: int = 5  # least reliable bits flipped in Chase decoding
    screen: ScreenParams = field(default_factory=ScreenParams)  # which lattices are decoded

    @property
    def cells_per_side(self) -> int:
        return self.tile_px // self.cell_px


@dataclass(frozen=True, slots=True)
class DetectionTrace:
    """One synchronisation hypothesis and the soft codeword bits read under it."""

    period_px: float
    offset: tuple[int, int]
    sync_z: float
    soft_bits: tuple[float, ...]  # descrambled; > 0 reads as bit 1
    params: TiledWatermarkParams

    def reading(self) -> WatermarkReading:
        """Decode the soft bits; an id counts only when BCH corrects and the CRC matches."""
        soft = np.array(self.soft_bits)
        synchronised = self.sync_z >= self.params.min_sync_z
        message = _chase_decode(soft, self.params.chase_bits) if synchronised else None
        watermark_id = None if message is None else _verified_id(message)
        if message is None or watermark_id is None:
            # No verified id: how far the sync peak stands above what unmarked images
            # reach; 0.5 at the "present" threshold.
            low, high = self.params.min_sync_z, self.params.present_sync_z
            confidence = min(1.0, max(0.0, (self.sync_z - low) / (2 * (high - low))))
            present = self.sync_z >= high
            return WatermarkReading(present=present, watermark_id=None, confidence=confidence)
        return WatermarkReading(
            present=True,
            watermark_id=watermark_id,
            confidence=1.0,
            bit_accuracy=_bit_agreement(soft, bch_encode(message)),
        )

    def codeword_accuracy(self, watermark_id: int) -> float:
        """Fraction of hard decisions equal to the codeword ``watermark_id`` embeds."""
        return _bit_agreement(np.array(self.soft_bits), _plain_codeword(watermark_id))


class TiledWatermarker:
    """``ImageWatermarker`` carrying a 48-bit id; see the module docstring for the design."""

    name = "tiled-ss"
    id_bits = ID_BITS

    def __init__(self, key: bytes, params: TiledWatermarkParams | None = None) -> None:
        self._params = params or TiledWatermarkParams()
        self._layout = _TileLayout.from_key(key, self._params)
        self._screen = LatticeScreen(
            LatticeSearch(self._layout.sync_tile),
            self._layout,
            self._params.tile_px,
            self._params.screen,
        )

    # --- embedding ----------------------------------------------------------------

    def embed(self, image: Image.Image, watermark_id: int) -> Image.Image:
        if not 0 <= watermark_id < _ID_LIMIT:
            raise ValueError(f"watermark_id must fit in {ID_BITS} bits")
        _require_min_size(image)
        pixels, alpha, mode = imaging.split_image(image)
        codeword = _plain_codeword(watermark_id) ^ self._layout.scramble
        residual = self._residual(pixels, codeword)
        # Same luminance offset on R, G and B: chroma is untouched. Rounding the residual
        # first equals rounding the sum (pixels are integers) and keeps memory at 2 bytes.
        offset = np.rint(residual).astype(np.int16)[..., None]
        marked = np.clip(pixels.astype(np.int16) + offset, 0, 255).astype(np.uint8)
        return imaging.join_image(marked, alpha, mode, like=image)

    def _residual(self, pixels: NDArray[np.uint8], codeword: int) -> FloatArray:
        height, width = pixels.shape[:2]
        small = imaging.small_luminance(pixels, self._canonical_size(width, height))
        mask = imaging.texture_mask(small)
        if self._params.informed:
            pattern = self._informed_pattern(small, mask, codeword)
        else:
            pattern = imaging.tile_over(self._layout.tile_pattern(codeword, None), small.shape)
        residual = imaging.resize(pattern * mask, (width, height))
        return residual * np.float32(self._params.target_rms / _rms(residual))

    def _informed_pattern(self, small: FloatArray, mask: FloatArray, codeword: int) -> FloatArray:
        """Per-bit amplitudes, same energy as uniform ones, that beat the host's texture.

        The statistics are the detector's own (whitened, folded, matched-filtered) over
        the whole image; per-block variants were measured and lost more than they won.
        """
        layout, params = self._layout, self._params
        host = imaging.highpass(small, params.whiten_sigma_px)
        scale = imaging.local_scale(host)
        unit = imaging.tile_over(layout.tile_pattern(codeword, None), small.shape) * mask
        unit_highpass = imaging.highpass(unit, params.whiten_sigma_px) / scale
        # Signed so that positive means "reads as the transmitted bit".
        signs = layout.transmitted_signs(codeword)
        host_stat = signs * layout.bit_sums(imaging.fold(host / scale, params.tile_px))
        gain_stat = signs * layout.bit_sums(imaging.fold(unit_highpass, params.tile_px))
        gain_stat = np.maximum(gain_stat * params.target_rms / _rms(unit), 1e-9)
        energy = layout.bit_energies(imaging.fold(unit * unit, params.tile_px, average=False))
        gains = _water_fill(host_stat, gain_stat, energy, params)
        return imaging.tile_over(layout.tile_pattern(codeword, gains), small.shape)

    def _canonical_size(self, width: int, height: int) -> tuple[int, int]:
        return imaging.canonical_size(width, height, self._params.canonical_side_px)

    # --- detection ----------------------------------------------------------------

    def detect(self, image: Image.Image) -> WatermarkReading:
        best = WatermarkReading(present=False, watermark_id=None, confidence=0.0)
        for trace in self._traces(image):
            reading = trace.reading()
            if reading.watermark_id is not None:
                return reading
            if reading.confidence > best.confidence:
                best = reading
        return best

    def trace(self, image: Image.Image) -> DetectionTrace | None:
        """What detection saw (period, offset, sync z-score, soft bits): for benchmarks."""
        traces = []
        for trace in self._traces(image):
            if trace.reading().watermark_id is not None:
                return trace
            traces.append(trace)
        return max(traces, key=lambda trace: trace.sync_z, default=None)

    def _traces(self, image: Image.Image) -> Iterator[DetectionTrace]:
        pixels, _, _ = imaging.split_image(image)
        if min(pixels.shape[:2]) < self._params.tile_px // 2:
            return
        small = imaging.small_luminance(pixels, self._canonical_size(*image.size))
        whitened = imaging.whiten(small, self._params.whiten_sigma_px)
        for folded, alignment in self._alignments(small, whitened):
            aligned = np.roll(folded, (-alignment.offset[0], -alignment.offset[1]), axis=(0, 1))
            soft = self._layout.bit_sums(aligned) * self._layout.descramble_signs
            yield DetectionTrace(
                period_px=alignment.period_px,
                offset=alignment.offset,
                sync_z=alignment.sync_z,
                soft_bits=tuple(float(value) for value in soft),
                params=self._params,
            )

    def _alignments(
        self, small: FloatArray, whitened: FloatArray
    ) -> Iterator[tuple[FloatArray, _Alignment]]:
        """The nominal period first (nothing cropped), in each of the eight orientations
        (EXIF rotations, mirrored copies), then the best scanned periods (crops), then
        the best lattices of a turned, stretched or sheared copy, then straightened
        grids of a keystoned one."""
        tile_px = self._params.tile_px
        # Folding commutes with quarter turns and mirrors up to a cyclic shift, which
        # the alignment finds: fold once, turn the 128 px tile rather than the image.
        folded = imaging.fold(whitened, tile_px)
        for orientation in ORIENTATIONS:
            turned = orientation(folded)
            yield turned, self._layout.align(turned, float(tile_px))
        for estimate in self._scan_periods(whitened):
            period = self._refine_period(whitened, estimate)
            yield self._resample_and_align(small, period)
        # A keystoned copy: its lattice drifts across the image. Straighten the plain
        # canonical image (a phone photo is rarely turned much) and the best lattice.
        starts: list[tuple[FloatArray, FloatArray, FloatArray | None]] = [
            (whitened, np.ones_like(whitened), small)
        ]
        for index, lattice in enumerate(self._screen.lattices(small, whitened)):
            grid, inside, _ = self._screen.upright(whitened, lattice)
            yield self._fold_nominal(grid)
            if index == 0:
                starts.append((grid, inside, None))
        for grid, inside, source in starts:
            masked = grid * inside
            for quad in straighten(grid, inside, tile_px, self._layout):
                yield self._fold_nominal(self._straightened(masked, source, quad))
        # A keystoned texture: nothing for the blocks to lock onto.
        pulled = unkeystone(whitened, tile_px, self._layout)
        if pulled is not None:
            yield self._fold_nominal(self._straightened(whitened, small, pulled))

    def _straightened(self, grid: FloatArray, source: FloatArray | None, quad: Quad) -> FloatArray:
        """``grid`` read through ``quad``; from its unwhitened ``source`` when there is one.

        Bilinear resampling loses more of what whitening leaves (the chips' edges) than
        of the unwhitened image: whitening after resampling lifts the bit agreement of
        keystoned grass from 0.90 to 0.97.
        """
        if source is None:
            return resampled(grid, quad)
        return imaging.whiten(resampled(source, quad), self._params.whiten_sigma_px)

    def _fold_nominal(self, grid: FloatArray) -> tuple[FloatArray, _Alignment]:
        folded = imaging.fold(grid, self._params.tile_px)
        return folded, self._layout.align(folded, float(self._params.tile_px))

    def _scan_periods(self, whitened: FloatArray) -> list[float]:
        """Candidate periods for a cropped image, best sync first, scanned at half scale.

        The autocorrelation of the whitened image suggests periods cheaply; a grid over
        the crop range catches what texture drowns there. Half scale makes the scan four
        times cheaper and needs no finer steps: the fold drifts by the same fraction of
        a chip.
        """
        params = self._params
        tile_px = params.tile_px
        low, high = params.period_search
        estimates = imaging.lattice_periods(
            whitened, tile_px * low, tile_px * high, params.period_candidates
        )
        grid_low, grid_high = params.grid_search
        count = int((grid_high - grid_low) / params.grid_step) + 1
        grid = [tile_px * (grid_low + k * params.grid_step) for k in range(count)]
        half = imaging.resize(whitened, (whitened.shape[1] // 2, whitened.shape[0] // 2))
        scored = []
        for period in [*estimates, *grid]:
            folded = imaging.fold(imaging.rescale(half, tile_px / period), tile_px // 2)
            scored.append((self._layout.align(folded, period, coarse=True).sync_z, period))
        scored.sort(reverse=True)
        chosen: list[float] = []
        for _, period in scored:
            if all(abs(period / other - 1.0) > params.grid_step for other in chosen):
                chosen.append(period)
            if len(chosen) == params.scan_candidates:
                break
        return chosen

    def _refine_period(self, whitened: FloatArray, estimate: float) -> float:
        """Search around an autocorrelation estimate for the period the sync likes best."""
        steps, step = self._params.refine_steps, self._params.refine_step
        candidates = [
            self._fold_and_align(whitened, estimate * (1.0 + k * step))[1]
            for k in range(-steps, steps + 1)
        ]
        return max(candidates, key=lambda candidate: candidate.sync_z).period_px

    def _resample_and_align(
        self, small: FloatArray, period: float
    ) -> tuple[FloatArray, _Alignment]:
        """Whiten again at the scale the embedder saw, so informed embedding still helps."""
        factor = self._params.tile_px / period
        height, width = small.shape
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        whitened = imaging.whiten(imaging.resize(small, size), self._params.whiten_sigma_px)
        return self._fold_and_align(whitened, float(self._params.tile_px))

    def _fold_and_align(self, whitened: FloatArray, period: float) -> tuple[FloatArray, _Alignment]:
        tile_px = self._params.tile_px
        folded = imaging.fold(imaging.rescale(whitened, tile_px / period), tile_px)
        return folded, self._layout.align(folded, period)


# --- the keyed tile --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Alignment:
    period_px: float
    offset: tuple[int, int]  # (row, column) of the tile origin in the folded tile
    sync_z: float


@dataclass(frozen=True)
class _TileLayout:
    """Which cell carries sync or which codeword bit, each cell's key sign, the scrambler."""

    params: TiledWatermarkParams
    key_signs: NDArray[np.float32]  # cells x cells of ±1
    bit_of_cell: NDArray[np.int64]  # cells x cells; -1 for sync cells
    scramble: int  # XOR mask on the codeword so that no all-zero pattern decodes

    @classmethod
    def from_key(cls, key: bytes, params: TiledWatermarkParams) -> _TileLayout:
        # Derived with SHAKE-256 rather than numpy's generators, whose streams numpy
        # does not promise to keep across releases: the layout must never change, or
        # earlier images become unreadable.
        cells = params.cells_per_side * params.cells_per_side
        sign_bits = np.unpackbits(np.frombuffer(_key_stream(key, "signs", cells // 8), np.uint8))
        key_signs = (2.0 * sign_bits[:cells] - 1.0).astype(np.float32)
        order = np.frombuffer(_key_stream(key, "order", 8 * cells), dtype=">u8")
        data_cells = np.argsort(order, kind="stable")[params.sync_cells :]
        bit_of_cell = np.full(cells, -1, dtype=np.int64)
        bit_of_cell[data_cells] = np.arange(data_cells.size) % CODEWORD_BITS
        scramble = int.from_bytes(_key_stream(key, "scramble", 16)) >> (128 - CODEWORD_BITS)
        side = params.cells_per_side
        return cls(params, key_signs.reshape(side, side), bit_of_cell.reshape(side, side), scramble)

    @cached_property
    def descramble_signs(self) -> Vector:
        return 1.0 - 2.0 * _bits(self.scramble).astype(np.float64)

    def transmitted_signs(self, codeword: int) -> Vector:
        return 2.0 * _bits(codeword).astype(np.float64) - 1.0

    def tile_pattern(self, codeword: int, gains: Vector | None) -> FloatArray:
        """The tile at the canonical scale; ``gains`` scales each bit's chips."""
        data = self.bit_of_cell >= 0
        bit_index = np.where(data, self.bit_of_cell, 0)
        chips = np.where(data, self.transmitted_signs(codeword)[bit_index], 1.0)
        if gains is not None:
            chips = chips * np.where(data, gains[bit_index], 1.0)
        return self._smooth(self.key_signs * chips.astype(np.float32))

    def _smooth(self, chips: NDArray[np.float32]) -> FloatArray:
        cell = self.params.cell_px
        blocky = np.kron(chips, np.ones((cell, cell), dtype=np.float32))
        return imaging.circular_blur(blocky, self.params.chip_blur_px)

    @cached_property
    def sync_tile(self) -> FloatArray:
        """The sync cells' chips as the detector sees them (smoothed, whitened)."""
        sync_only = np.where(self.bit_of_cell < 0, self.key_signs, 0.0).astype(np.float32)
        return self._whitened_periodic(sync_only)

    @cached_property
    def _sync_spectrum(self) -> NDArray[np.complex64]:
        from scipy import fft

        spectrum: NDArray[np.complex64] = np.conj(fft.rfft2(self.sync_tile))
        return spectrum

    @cached_property
    def _coarse_sync_spectrum(self) -> NDArray[np.complex64]:
        """The sync template at half scale, for the period scan."""
        from scipy import fft

        half = self.params.tile_px // 2
        template = imaging.resize(self.sync_tile, (half, half))
        spectrum: NDArray[np.complex64] = np.conj(fft.rfft2(template))
        return spectrum

    @cached_property
    def _data_template(self) -> FloatArray:
        data_only = np.where(self.bit_of_cell >= 0, self.key_signs, 0.0).astype(np.float32)
        return self._whitened_periodic(data_only)

    def _whitened_periodic(self, chips: NDArray[np.float32]) -> FloatArray:
        tile = self._smooth(chips)
        return tile - imaging.circular_blur(tile, self.params.whiten_sigma_px)

    def align(self, folded: FloatArray, period: float, *, coarse: bool = False) -> _Alignment:
        """Cyclic offset of the sync pattern in ``folded``, with the peak's z-score."""
        from scipy import fft

        template = self._coarse_sync_spectrum if coarse else self._sync_spectrum
        correlation = fft.irfft2(fft.rfft2(folded) * template, s=folded.shape)
        flat_peak = int(np.argmax(correlation))
        row, column = divmod(flat_peak, correlation.shape[1])
        spread = float(np.std(correlation)) or 1.0
        z = (float(correlation.flat[flat_peak]) - float(np.mean(correlation))) / spread
        return _Alignment(period_px=period, offset=(row, column), sync_z=z)

    def locate(self, folded: FloatArray) -> tuple[tuple[int, int], float]:
        alignment = self.align(folded, float(folded.shape[0]))
        return alignment.offset, alignment.sync_z

    def sync_z_many(self, folds: FloatArray, *, coarse: bool) -> Vector:
        """``align(...).sync_z`` of each tile in a stack, in one FFT."""
        from scipy import fft

        template = self._coarse_sync_spectrum if coarse else self._sync_spectrum
        spectra = fft.rfft2(folds, axes=(-2, -1)) * template
        correlation = fft.irfft2(spectra, s=folds.shape[-2:], axes=(-2, -1))
        flat = correlation.reshape(len(folds), -1).astype(np.float64)
        spread = np.where(flat.std(axis=1) > 0, flat.std(axis=1), 1.0)
        z: Vector = (flat.max(axis=1) - flat.mean(axis=1)) / spread
        return z

    def bit_sums(self, aligned: FloatArray) -> Vector:
        """Matched-filter output per codeword bit (scrambled domain) of an aligned tile."""
        return self._per_bit(self._per_cell(aligned * self._data_template))

    def bit_energies(self, folded_energy: FloatArray) -> Vector:
        return self._per_bit(self._per_cell(folded_energy))

    def _per_cell(self, tile: FloatArray) -> Vector:
        cells, cell = self.params.cells_per_side, self.params.cell_px
        per_cell: Vector = tile.reshape(cells, cell, cells, cell).sum(axis=(1, 3)).ravel()
        return per_cell.astype(np.float64)

    def _per_bit(self, per_cell: Vector) -> Vector:
        bit_index = self.bit_of_cell.ravel()
        data = bit_index >= 0
        sums = np.bincount(bit_index[data], weights=per_cell[data], minlength=CODEWORD_BITS)
        return np.asarray(sums, dtype=np.float64)


def _key_stream(key: bytes, purpose: str, size: int) -> bytes:
    label = f"aigc-gateway/tiled-ss/v1/{purpose}|".encode()
    return hashlib.shake_256(label + key).digest(size)


# --- informed embedding ----------------------------------------------------------------


def _water_fill(host: Vector, gain: Vector, energy: Vector, params: TiledWatermarkParams) -> Vector:
    """Gains g_b maximising min_b (host_b + g_b gain_b) at the energy of all g_b = 1.

    Bisection on the common margin t: g_b(t) = clip((t - host_b) / gain_b, min, max);
    a bit the host opposes too strongly is left at the cap (ECC absorbs it).
    """
    budget = float(energy.sum())

    def gains_for(margin: float) -> Vector:
        result: Vector = np.clip((margin - host) / gain, params.min_gain, params.max_gain)
        return result

    low, high = float(np.min(host)), float(np.max(host + params.max_gain * gain))
    for _ in range(40):
        middle = 0.5 * (low + high)
        if float(np.sum(gains_for(middle) ** 2 * energy)) > budget:
            high = middle
        else:
            low = middle
    return gains_for(low)


# --- payload ---------------------------------------------------------------------------


def _bits(value: int) -> NDArray[np.bool_]:
    return np.array([value >> i & 1 for i in range(CODEWORD_BITS)], dtype=bool)


def _plain_codeword(watermark_id: int) -> int:
    check = crc16(watermark_id.to_bytes(ID_BITS // 8, "big"))
    return bch_encode(watermark_id << CRC_BITS | check)


def _verified_id(message: int) -> int | None:
    watermark_id, check = message >> CRC_BITS, message & 0xFFFF
    if crc16(watermark_id.to_bytes(ID_BITS // 8, "big")) != check:
        return None
    return watermark_id


def _chase_decode(soft: Vector, flip_bits: int) -> int | None:
    """Chase-II decoding: the hard decision, then flips of the least reliable bits."""
    hard = sum(1 << i for i in range(CODEWORD_BITS) if soft[i] > 0)
    least_reliable = [int(i) for i in np.argsort(np.abs(soft))[:flip_bits]]
    for count in range(flip_bits + 1):
        for combo in itertools.combinations(least_reliable, count):
            trial = hard
            for position in combo:
                trial ^= 1 << position
            message = bch_decode(trial)
            if message is not None:
                return message
    return None


def _bit_agreement(soft: Vector, codeword: int) -> float:
    return float(np.mean((soft > 0) == _bits(codeword)))


# --- helpers ---------------------------------------------------------------------------


def _rms(array: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(array)))) or 1.0


def _require_min_size(image: Image.Image) -> None:
    if min(image.size) < MIN_SIDE_PX:
        raise ImageTooSmallError(
            f"an image needs at least {MIN_SIDE_PX}x{MIN_SIDE_PX} pixels to carry the watermark",
            details={"width": image.width, "height": image.height, "min_side_px": MIN_SIDE_PX},
        )
