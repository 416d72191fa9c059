"""Array helpers of the tiled watermark: luminance, canonical scale, whitening, folding.

Pure functions on float32 numpy arrays (OpenCV and SciPy imported inside), shared by the
embedder and the detector so that both see the image the same way::

    pixels, alpha, mode = split_image(image)
    small = resize(luminance(pixels), canonical_size(*image.size, 512))
    folded = fold(whiten(small, sigma_px=2.0), tile_px=128)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float32]

__all__ = [
    "canonical_size",
    "circular_blur",
    "flatten_power",
    "fold",
    "highpass",
    "join_image",
    "lattice_periods",
    "local_scale",
    "luminance",
    "rescale",
    "resize",
    "small_luminance",
    "split_image",
    "texture_mask",
    "tile_over",
    "whiten",
]


# Modes handed back as they came; others come back as their nearest of these
# (palette → RGB/RGBA: re-quantising would erase the mark; 1/I/F → L).
_KEPT_MODES = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})
_GREY_MODES = frozenset({"L", "LA", "1", "I", "I;16", "I;16B", "I;16L", "F"})


def split_image(image: Image.Image) -> tuple[NDArray[np.uint8], Image.Image | None, str]:
    """Colour pixels as an H x W x C uint8 array (C = 1 or 3), the alpha band, the mode
    the marked image should have."""
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA" if _has_transparency(image) else "RGB")
    alpha = image.getchannel("A") if "A" in image.getbands() else None
    grey = image.mode in _GREY_MODES
    mode = image.mode if image.mode in _KEPT_MODES else ("L" if grey else "RGB")
    if alpha is not None and mode in ("L", "RGB"):
        mode += "A"
    if not grey:
        return np.asarray(image.convert("RGB")), alpha, mode
    return _grey_8bit(image)[..., None], alpha, mode


def _grey_8bit(image: Image.Image) -> NDArray[np.uint8]:
    """8-bit grey; 16-bit and float greys are scaled down (Pillow's convert would clip)."""
    if image.mode in ("L", "LA", "1"):
        return np.asarray(image.convert("L"))
    values = np.asarray(image, dtype=np.float64)
    if values.size and float(values.max()) > 255.0:
        values = values * (255.0 / 65535.0)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _has_transparency(image: Image.Image) -> bool:
    return image.mode == "PA" or "transparency" in image.info


def join_image(
    pixels: NDArray[np.uint8], alpha: Image.Image | None, mode: str, *, like: Image.Image
) -> Image.Image:
    """Inverse of :func:`split_image`: the mode, the alpha band and the ICC profile."""
    base = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    if alpha is not None:
        base.putalpha(alpha)
    if base.mode != mode:
        base = base.convert(mode)
    if "icc_profile" in like.info:
        base.info["icc_profile"] = like.info["icc_profile"]
    return base


def luminance(pixels: NDArray[np.uint8]) -> FloatArray:
    if pixels.shape[2] == 1:
        return pixels[..., 0].astype(np.float32)
    # ITU-R BT.601 luma weights, the Y of JPEG's YCbCr.
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    result: FloatArray = pixels.astype(np.float32) @ weights
    return result


def small_luminance(pixels: NDArray[np.uint8], size: tuple[int, int]) -> FloatArray:
    """Luminance at the canonical ``size``: resizing colour first is cheaper and, both
    being linear, the same up to 8-bit rounding."""
    import cv2

    if (pixels.shape[1], pixels.shape[0]) != size:
        shrinking = size[0] < pixels.shape[1]
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        resized = np.asarray(cv2.resize(pixels, size, interpolation=interpolation), np.uint8)
        # OpenCV drops a single channel's axis.
        pixels = resized[..., None] if resized.ndim == 2 else resized
    return luminance(pixels)


def canonical_size(width: int, height: int, canonical_side_px: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``canonical_side_px``."""
    factor = canonical_side_px / min(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def resize(array: FloatArray, size: tuple[int, int]) -> FloatArray:
    """Area averaging when shrinking (no aliasing), bilinear when enlarging."""
    import cv2

    if (array.shape[1], array.shape[0]) == size:
        return array
    shrinking = size[0] < array.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(array, size, interpolation=interpolation), dtype=np.float32)


def texture_mask(small: FloatArray) -> FloatArray:
    """Pattern gain by local activity: more where texture hides it, less in flat areas.

    Near-white and near-black areas are deliberately not spared: on a white product
    background the half of the pattern that survives clipping is the cleanest signal
    the detector gets (measured: sparing them lost JPEG 75 and WebP on such images).
    """
    import cv2

    mean = cv2.blur(small, (9, 9))
    variance = np.maximum(cv2.blur(small * small, (9, 9)) - mean * mean, 0.0)
    result: FloatArray = np.clip(0.35 + np.sqrt(variance) / 12.0, 0.35, 2.0).astype(np.float32)
    return result


def tile_over(tile: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """Repeat ``tile`` from the top-left corner over an array of ``shape``."""
    height, width = shape[0], shape[1]
    reps = (math.ceil(height / tile.shape[0]), math.ceil(width / tile.shape[1]))
    result: FloatArray = np.tile(tile, reps)[:height, :width]
    return result


def circular_blur(tile: FloatArray, sigma_px: float) -> FloatArray:
    """Gaussian blur of a periodic tile (wrap-around borders keep it seamless)."""
    import cv2

    if sigma_px <= 0:
        return tile
    pad = math.ceil(3 * sigma_px)
    blurred = cv2.GaussianBlur(np.pad(tile, pad, mode="wrap"), (0, 0), sigma_px)
    return np.asarray(blurred[pad:-pad, pad:-pad], dtype=np.float32)


def highpass(array: FloatArray, sigma_px: float) -> FloatArray:
    """The array minus its local (Gaussian) mean: removes the host's low frequencies."""
    import cv2

    result: FloatArray = array - cv2.GaussianBlur(array, (0, 0), sigma_px)
    return result


def local_scale(residual: FloatArray) -> FloatArray:
    """Local mean magnitude of a residual; dividing by it tames edges and texture."""
    import cv2

    result: FloatArray = cv2.GaussianBlur(np.abs(residual), (0, 0), 4.0) + 1.0
    return result


def whiten(array: FloatArray, sigma_px: float) -> FloatArray:
    residual = highpass(array, sigma_px)
    return residual / local_scale(residual)


def fold(array: FloatArray, tile_px: int, *, average: bool = True) -> FloatArray:
    """Sum (or average) all tile-periodic positions into one tile; partial tiles count."""
    height, width = array.shape
    rows, cols = math.ceil(height / tile_px), math.ceil(width / tile_px)
    padded = np.zeros((rows * tile_px, cols * tile_px), dtype=np.float32)
    padded[:height, :width] = array
    total: FloatArray = padded.reshape(rows, tile_px, cols, tile_px).sum(axis=(0, 2))
    if not average:
        return total
    counts = np.zeros_like(padded)
    counts[:height, :width] = 1.0
    count = counts.reshape(rows, tile_px, cols, tile_px).sum(axis=(0, 2))
    result: FloatArray = total / np.maximum(count, 1.0)
    return result


def lattice_periods(whitened: FloatArray, low_px: float, high_px: float, count: int) -> list[float]:
    """Tile periods suggested by autocorrelation peaks on the lattice (p,0), (0,p), (p,±p)."""
    from scipy import fft

    # Flatten the host's broad spectrum so the pattern's lattice of spectral lines
    # dominates the autocorrelation (its peaks then sit at the tile period).
    flattened = flatten_power(np.abs(fft.rfft2(whitened)) ** 2, 9)
    autocorrelation = fft.irfft2(flattened, s=whitened.shape)
    height, width = whitened.shape
    lags = np.arange(int(low_px) - 1, min(int(high_px) + 2, height // 2, width // 2))
    if lags.size < 3:
        return []
    score = (
        autocorrelation[0, lags]
        + autocorrelation[lags, 0]
        + 0.5 * (autocorrelation[lags, lags] + autocorrelation[lags, -lags])
    )
    inner = range(1, lags.size - 1)
    peaks = [i for i in inner if score[i] >= score[i - 1] and score[i] > score[i + 1]]
    peaks.sort(key=lambda i: -score[i])
    return [_parabolic_peak(lags, score, i) for i in peaks[:count]]


def flatten_power(power: NDArray[np.floating], box_px: int) -> FloatArray:
    """A power spectrum divided by its local (box) mean, minus 1: lines stand out, 0 elsewhere."""
    import cv2

    power32 = np.asarray(power, np.float32)
    return np.asarray(power32 / (cv2.blur(power32, (box_px, box_px)) + 1e-6) - 1.0, np.float32)


def _parabolic_peak(lags: NDArray[np.int64], score: NDArray[np.float32], index: int) -> float:
    left, centre, right = (float(score[index + d]) for d in (-1, 0, 1))
    denominator = left - 2 * centre + right
    shift = 0.5 * (left - right) / denominator if denominator else 0.0
    return float(lags[index]) + max(-0.5, min(0.5, shift))


def rescale(array: FloatArray, factor: float) -> FloatArray:
    """Bilinear rescale by ``factor`` (a no-op within 0.1 %: keeps the nominal grid exact)."""
    import cv2

    if abs(factor - 1.0) < 1e-3:
        return array
    height, width = array.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(array, size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
