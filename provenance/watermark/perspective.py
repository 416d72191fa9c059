"""Perspective for the tiled watermark: a phone photo of a screen, a keystoned scan.

A perspective change is no lattice: the tile's period and angle drift across the image
(a keystone that pulls two corners in by 3 % changes the local scale by about ±6 %), so
no single rectification folds every tile onto the same one. Locally it is still nearly
a lattice. The image is cut into overlapping blocks of two tiles; in each block a few
small local stretches and turns are tried at half scale, the best by sync z-score is
aligned at full scale, and the block reports where its nearest tile origin sits. The
origins of the blocks that lock onto the sync pattern are matched to the ideal grid
(nearest grid point to the strongest block's origin), a homography is fitted with
RANSAC, and the image is resampled so the tiles line up again. The fitted homography
is then polished on the whole image: the four corners it maps are moved a few pixels at
a time while the sync z-score of the whole fold rises (blocks see two tiles each, the
whole fold sees them all, so its optimum is sharper). The caller folds and decodes as
usual; only a decoded id with a matching CRC counts.

Under a full-frame fine texture (grass, gravel) no block locks: a block's z-score is at
the level of an unmarked image's. For those, ``unkeystone`` screens the keystone a
phone held above, below or beside the screen's centre makes — one edge pulled in by
1–5 % — by the whole image's half-scale sync z, keeps the best if it clears the
gate, then refines the pull alone at full scale. The screen's grid (1 % steps) is twice
as fine as its basin (a pull 0.75 % off still scores z > 6 on grass), so any pull in the
range lands near a grid point.

An unmarked image pays little: the central blocks are probed first and the search
gives up unless several of them lock; the keystone screen is 20 half-scale folds.
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
    # Where the four corners of a straightened grid (clockwise from the top left) sit
    # in the grid it is resampled from: a homography, in the terms it is searched in.
    Quad = NDArray[np.float64]

__all__ = ["PerspectiveParams", "SyncLocator", "resampled", "straighten", "unkeystone"]


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
    rounds: int = 2  # the second fit, on the first one's result, tidies up
    # The central blocks tried first; the rest only if enough of these lock. A marked
    # image locks nearly all of them, an unmarked photo one now and then: on 78 unmarked
    # photos one of the first three locked in 18 %, two of the first four in 6 %
    # (three of four in none, but that loses copies whose corners moved 3 % each).
    probe_blocks: int = 4
    probe_locks: int = 2
    ransac_px: float = 4.0
    keystone_pulls: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04, 0.05)  # of the edge, per corner
    # Screened on every image, like the tilts, so the same gate: 200 unmarked crops
    # reached 5.3 at most over the pulls (grass and gravel keystones 7.5-10).
    keystone_min_z: float = 6.0
    keystone_refine_reach: float = 0.006  # around the screened pull, at full scale
    keystone_refine_step: float = 0.001
    # Corner moves (canonical px) of the polish: coarse ones at half scale, where the
    # fold is four times cheaper, the last ones at full scale, where a chip is resolved.
    polish_steps_px: tuple[float, ...] = (8.0, 4.0, 2.0)
    fine_steps_px: tuple[float, ...] = (1.0, 0.5)
    polish_moves: int = 6  # moves per step size before the step is halved


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
) -> Iterator[Quad]:
    """Where ``grid`` (whitened, at the nominal tile scale) is to be read from so that
    its tiles line up (see ``resampled``): one estimate per round, each straightening
    the previous one's result further; none when too few blocks lock."""
    params = params or PerspectiveParams()
    masked = grid * inside
    quad = _fitted_quad(masked, inside, tile_px, locate, params)
    for round_ in range(params.rounds):
        if quad is None:
            return
        yield quad
        if round_ + 1 < params.rounds:
            view = resampled(masked, quad)
            again = _fitted_quad(view, (view != 0).astype(np.float32), tile_px, locate, params)
            quad = None if again is None else _through(quad, again, grid.shape)


def _fitted_quad(
    grid: FloatArray,
    inside: FloatArray,
    tile_px: int,
    locate: SyncLocator,
    params: PerspectiveParams,
) -> Quad | None:
    import cv2

    locks = _block_locks(grid, inside, tile_px, locate, params)
    if len(locks) < params.min_blocks:
        return None
    observed = np.array([lock.origin for lock in locks], np.float32)
    reference = observed[int(np.argmax([lock.z for lock in locks]))]
    # Each origin belongs to the ideal grid point nearest it, counted from the strongest
    # block: the local drift stays well inside half a tile.
    ideal = (reference + tile_px * np.round((observed - reference) / tile_px)).astype(np.float32)
    found, _ = cv2.findHomography(ideal, observed, cv2.RANSAC, params.ransac_px)
    if found is None:
        return None
    homography = np.asarray(found, np.float64)
    return _polished(grid, _corners_under(homography, grid.shape), tile_px, locate, params)


def _through(outer: Quad, inner: Quad, shape: tuple[int, ...]) -> Quad:
    """``inner`` (a quad in the grid ``outer`` straightened) in the original grid."""
    import cv2

    frame = _frame(shape[1], shape[0]).astype(np.float32)
    homography = cv2.getPerspectiveTransform(frame, outer.astype(np.float32))
    mapped = cv2.perspectiveTransform(inner.astype(np.float32)[None], homography)[0]
    return np.asarray(mapped, np.float64)


def unkeystone(
    grid: FloatArray, tile_px: int, locate: SyncLocator, params: PerspectiveParams | None = None
) -> Quad | None:
    """Where ``grid`` is to be read from to undo a one-edge keystone, or ``None`` when no
    pull clears the gate.

    The blocks need content to lock onto; this needs none, only that the perspective
    is a pitch or a yaw (the edge nearer the camera stays, the far one shrinks).
    """
    params = params or PerspectiveParams()
    height, width = grid.shape
    pulls = params.keystone_pulls
    quads = [_pulled_edge(width, height, edge, pull) for edge in range(4) for pull in pulls]
    half = imaging.resize(grid, (width // 2, height // 2))
    z = locate.sync_z_many(_warped_folds(half, [q / 2 for q in quads], tile_px // 2), coarse=True)
    best = int(np.argmax(z))
    if z[best] < params.keystone_min_z:
        return None
    # The pull alone, refined at full scale: moving all eight corner coordinates would
    # let the texture's noise in the z-score pull them a pixel off (bit agreement on
    # keystoned grass 0.87 that way, 0.99 this way).
    edge, pull = divmod(best, len(pulls))
    reach = round(params.keystone_refine_reach / params.keystone_refine_step)
    finer = [
        _pulled_edge(width, height, edge, pulls[pull] + params.keystone_refine_step * k)
        for k in range(-reach, reach + 1)
    ]
    fine_z = locate.sync_z_many(_warped_folds(grid, finer, tile_px), coarse=False)
    return finer[int(np.argmax(fine_z))]


def _pulled_edge(width: int, height: int, edge: int, pull: float) -> Quad:
    """Where the corners of a copy whose top, right, bottom or left edge was pulled in by
    ``pull`` of the side at each end sit: the straightened grid's corners map there."""
    quad = _frame(width, height)
    dx, dy = pull * width, pull * height
    first, second = edge % 4, (edge + 1) % 4  # corners clockwise from the top left
    inward = {0: (dx, 0.0), 1: (0.0, dy), 2: (-dx, 0.0), 3: (0.0, -dy)}[edge % 4]
    quad[first] += inward
    quad[second] -= inward
    return quad


def _frame(width: int, height: int) -> Quad:
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)


def _corners_under(homography: NDArray[np.float64], shape: tuple[int, ...]) -> Quad:
    import cv2

    frame = _frame(shape[1], shape[0])
    return np.asarray(cv2.perspectiveTransform(frame[None], homography)[0], np.float64)


def _polished(
    grid: FloatArray,
    quad: Quad,
    tile_px: int,
    locate: SyncLocator,
    params: PerspectiveParams,
) -> Quad:
    """``quad`` (where the straightened corners sit in ``grid``) moved corner by corner
    while the whole fold's sync z-score rises: coarse moves at half scale, fine at full."""
    height, width = grid.shape
    half = imaging.resize(grid, (width // 2, height // 2))
    coarse_steps = [step / 2 for step in params.polish_steps_px]
    quad = 2 * _climbed(half, quad / 2, coarse_steps, tile_px // 2, locate, params, coarse=True)
    return _climbed(grid, quad, list(params.fine_steps_px), tile_px, locate, params, coarse=False)


def _climbed(
    grid: FloatArray,
    quad: Quad,
    steps: list[float],
    tile_px: int,
    locate: SyncLocator,
    params: PerspectiveParams,
    *,
    coarse: bool,
) -> Quad:
    """Greedy ascent: of the 16 one-coordinate moves, the best, until none improves."""
    best = float(locate.sync_z_many(_warped_folds(grid, [quad], tile_px), coarse=coarse)[0])
    for step in steps:
        for _ in range(params.polish_moves):
            moves = [quad + step * sign * _unit(k) for k in range(8) for sign in (-1.0, 1.0)]
            z = locate.sync_z_many(_warped_folds(grid, moves, tile_px), coarse=coarse)
            chosen = int(np.argmax(z))
            if z[chosen] <= best:
                break
            best, quad = float(z[chosen]), moves[chosen]
    return quad


def _unit(coordinate: int) -> Quad:
    unit = np.zeros((4, 2), np.float64)
    unit.flat[coordinate] = 1.0
    return unit


def resampled(grid: FloatArray, quad: Quad) -> FloatArray:
    """``grid`` resampled so that its corners come from ``quad`` (outside reads as 0)."""
    import cv2

    height, width = grid.shape
    corners = _frame(width, height).astype(np.float32)
    homography = cv2.getPerspectiveTransform(corners, quad.astype(np.float32))
    flags = cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR
    return np.asarray(
        cv2.warpPerspective(grid, homography, (width, height), flags=flags), np.float32
    )


def _warped_folds(grid: FloatArray, quads: list[Quad], tile_px: int) -> FloatArray:
    """One fold per quad, stacked for one batched z-score (summed, not averaged: the
    z-score does not care)."""
    return np.stack([imaging.fold(resampled(grid, quad), tile_px, average=False) for quad in quads])


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
        if index + 1 == params.probe_blocks and len(locks) < params.probe_locks:
            break  # too little in the middle of the picture: an unmarked image
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
