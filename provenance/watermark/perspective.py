"""Perspective for the tiled watermark: a phone photo of a screen, a keystoned scan.

A perspective change is no lattice: the tile's period and angle drift across the image
(a keystone that pulls two corners in by 3 % changes the local scale by about ±6 %), so
no single rectification folds every tile onto the same one. Locally it is still nearly
a lattice. The image is cut into overlapping blocks of two tiles; in each block a few
small local stretches and turns are tried at half scale, the best by sync z-score is
aligned at full scale, and the block reports where its nearest tile origin sits. The
origins of the blocks that lock onto the sync pattern are matched to the ideal grid
(nearest grid point to the strongest block's origin), a homography is fitted with
RANSAC, and the image is resampled so the tiles line up again. The caller folds and
decodes as usual; only a decoded id with a matching CRC counts.

An unmarked image pays little: the central blocks are probed first and the search
gives up when none of them locks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from provenance.watermark import imaging

if TYPE_CHECKING:
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float32]

__all__ = ["PerspectiveParams", "SyncLocator", "straighten"]


class SyncLocator(Protocol):
    """What the perspective search needs from the keyed tile."""

    def locate(self, folded: FloatArray) -> tuple[tuple[int, int], float]:
        """(row, column) where the sync pattern starts in a folded tile, and its z-score."""

    def sync_z_many(self, folds: FloatArray, *, coarse: bool) -> NDArray[np.float64]:
        """Sync z-score of each folded tile in a stack (half-scale tiles if ``coarse``)."""


@dataclass(frozen=True, slots=True)
class PerspectiveParams:
    block_tiles: int = 2  # block edge in tiles: one tile is too noisy, three drift too far
    stride_tiles: float = 0.5
    scales: tuple[float, ...] = (0.97, 1.0, 1.03)  # local stretches tried per axis
    # Local turns tried with every stretch: a phone photo is rarely held quite straight.
    angles_deg: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)
    min_block_z: float = 5.0  # a block locks: chance for noise is ~1 % per block
    min_blocks: int = 5  # a homography has 8 degrees of freedom; RANSAC wants spares
    probe_blocks: int = 3  # the central blocks tried before giving up
    ransac_px: float = 4.0


@dataclass(frozen=True, slots=True)
class _BlockLock:
    z: float
    origin: tuple[float, float]  # (x, y) of the tile origin nearest the block centre


def straighten(
    grid: FloatArray,
    inside: FloatArray,
    tile_px: int,
    locate: SyncLocator,
    params: PerspectiveParams | None = None,
) -> FloatArray | None:
    """``grid`` (whitened, at the nominal tile scale) resampled so its tiles line up,
    or ``None`` when too few blocks lock onto the sync pattern."""
    import cv2

    params = params or PerspectiveParams()
    locks = _block_locks(grid, inside, tile_px, locate, params)
    if len(locks) < params.min_blocks:
        return None
    observed = np.array([lock.origin for lock in locks], np.float32)
    reference = observed[int(np.argmax([lock.z for lock in locks]))]
    # Each origin belongs to the ideal grid point nearest it, counted from the strongest
    # block: the local drift stays well inside half a tile.
    ideal = (reference + tile_px * np.round((observed - reference) / tile_px)).astype(np.float32)
    homography, _ = cv2.findHomography(ideal, observed, cv2.RANSAC, params.ransac_px)
    if homography is None:
        return None
    height, width = grid.shape
    flags = cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR
    return np.asarray(
        cv2.warpPerspective(grid * inside, homography, (width, height), flags=flags), np.float32
    )


def _block_locks(
    grid: FloatArray,
    inside: FloatArray,
    tile_px: int,
    locate: SyncLocator,
    params: PerspectiveParams,
) -> list[_BlockLock]:
    locks = []
    for index, (top, left) in enumerate(_blocks_centre_first(grid.shape, tile_px, params)):
        block_px = tile_px * params.block_tiles
        window = (slice(top, top + block_px), slice(left, left + block_px))
        if grid[window].shape != (block_px, block_px) or float(inside[window].mean()) < 0.5:
            continue  # smaller than a block, or mostly outside the picture
        lock = _lock_block(grid[window], tile_px, locate, params)
        if lock.z >= params.min_block_z:
            locks.append(_BlockLock(lock.z, (left + lock.origin[0], top + lock.origin[1])))
        if index + 1 == params.probe_blocks and not locks:
            break  # nothing in the middle of the picture: an unmarked image
    return locks


def _blocks_centre_first(
    shape: tuple[int, ...], tile_px: int, params: PerspectiveParams
) -> Iterator[tuple[int, int]]:
    height, width = shape
    block_px = tile_px * params.block_tiles
    stride = max(1, round(tile_px * params.stride_tiles))
    corners = [
        (top, left)
        for top in range(0, max(height - block_px, 0) + 1, stride)
        for left in range(0, max(width - block_px, 0) + 1, stride)
    ]
    centre = ((height - block_px) / 2, (width - block_px) / 2)
    yield from sorted(corners, key=lambda c: math.hypot(c[0] - centre[0], c[1] - centre[1]))


def _lock_block(
    block: FloatArray,
    tile_px: int,
    locate: SyncLocator,
    params: PerspectiveParams,
) -> _BlockLock:
    """The local stretch or turn whose half-scale fold locks best, then the tile origin
    nearest the block centre at full scale, in block coordinates."""
    import cv2

    side = block.shape[0]
    half = np.asarray(
        cv2.resize(block, (side // 2, side // 2), interpolation=cv2.INTER_AREA), np.float32
    )
    trials = [
        (scale_x, scale_y, angle)
        for scale_x in params.scales
        for scale_y in params.scales
        for angle in params.angles_deg
    ]
    folds = np.stack([_warped_fold(half, trial, tile_px // 2) for trial in trials])
    best = trials[int(np.argmax(locate.sync_z_many(folds, coarse=True)))]
    matrix = _local_warp(side, best)
    (row, column), z = locate.locate(_warped_fold(block, best, tile_px))
    centre_x, centre_y = matrix @ np.array([side / 2, side / 2, 1.0])
    x = column + tile_px * round((centre_x - column) / tile_px)
    y = row + tile_px * round((centre_y - row) / tile_px)
    origin_x, origin_y = cv2.invertAffineTransform(matrix) @ np.array([x, y, 1.0])
    return _BlockLock(z, (float(origin_x), float(origin_y)))


def _warped_fold(block: FloatArray, trial: tuple[float, float, float], tile_px: int) -> FloatArray:
    import cv2

    side = block.shape[0]
    matrix = _local_warp(side, trial)
    size = (round(side * trial[0]), round(side * trial[1]))
    warped = np.asarray(cv2.warpAffine(block, matrix, size, flags=cv2.INTER_LINEAR), np.float32)
    # Summed, not averaged: the z-score does not care, and the fold is twice as cheap.
    return imaging.fold(warped, tile_px, average=False)


def _local_warp(side: int, trial: tuple[float, float, float]) -> NDArray[np.float64]:
    """Block position -> warped position: turned about the centre, then stretched."""
    import cv2

    scale_x, scale_y, angle = trial
    matrix = np.asarray(cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0), np.float64)
    matrix[0] *= scale_x
    matrix[1] *= scale_y
    return matrix
