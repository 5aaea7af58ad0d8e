"""Tile geometry: how a ``.pxc`` image is cut into tiles and the tiles into lockstep streams.

The image is cut into tile x tile tiles in raster order, smaller at the right and bottom
edges. Tiles of one shape form a class (at most four: full, right edge, bottom edge, corner),
taken in order of their first tile; each class is cut into runs of at most ``group`` tiles,
and each run is one stream. A header may claim billions of tiles, so counts here are
arithmetic and never list them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class Tile:
    top: int
    left: int
    height: int
    width: int
    index: int                 # raster position among all the image's tiles

    @property
    def rows(self) -> slice:
        return slice(self.top, self.top + self.height)

    @property
    def cols(self) -> slice:
        return slice(self.left, self.left + self.width)


def tile_count(height: int, width: int, tile: int) -> int:
    return -(-height // tile) * -(-width // tile)


def tile_at(height: int, width: int, tile: int, index: int) -> Tile:
    row, col = divmod(index, -(-width // tile))
    top, left = row * tile, col * tile
    return Tile(top, left, min(tile, height - top), min(tile, width - left), index)


def all_tiles(height: int, width: int, tile: int) -> list[Tile]:
    """Every tile, listed: for images the encoder holds, never for a header's claims."""
    return [tile_at(height, width, tile, k) for k in range(tile_count(height, width, tile))]


def _classes(height: int, width: int, tile: int) -> list[tuple[range, range]]:
    """The tile classes (full, right edge, bottom edge, corner) that exist, in order of their first
    tile, as (tile rows, tile columns) ranges."""
    (rows, bottom), (cols, right) = divmod(height, tile), divmod(width, tile)
    row_parts = [r for r in (range(rows), range(rows, rows + 1) if bottom else range(0)) if len(r)]
    col_parts = [c for c in (range(cols), range(cols, cols + 1) if right else range(0)) if len(c)]
    return [(r, c) for r in row_parts for c in col_parts]


def _grid(height: int, width: int, tile: int, skipped: np.ndarray | None) -> np.ndarray | None:
    return None if skipped is None else skipped.reshape(-(-height // tile), -(-width // tile))


def tiling_plan(height: int, width: int, tile: int, group: int,
                skipped: np.ndarray | None = None) -> Iterator[list[Tile]]:
    """The lockstep groups of coded tiles, one at a time: one shape together, raster order, at
    most ``group`` each. Nothing is listed beyond the group at hand, whatever a header claims.

    skipped: None, or one bool per tile in raster order, set for a tile not coded here."""
    grid, across = _grid(height, width, tile, skipped), -(-width // tile)
    for rows, cols in _classes(height, width, tile):
        tiles: list[Tile] = []
        for r in rows:
            for c in cols:
                if grid is None or not grid[r, c]:
                    tiles.append(tile_at(height, width, tile, r * across + c))
                    if len(tiles) == group:
                        yield tiles
                        tiles = []
        if tiles:
            yield tiles


def _coded_per_class(height: int, width: int, tile: int, skipped: np.ndarray | None) -> list[tuple[int, Tile]]:
    """(coded tiles, a tile of the class) for each class, counted without listing tiles."""
    grid, across = _grid(height, width, tile, skipped), -(-width // tile)
    out = []
    for rows, cols in _classes(height, width, tile):
        n = len(rows) * len(cols) if grid is None else int((~grid[rows.start:rows.stop, cols.start:cols.stop]).sum())
        out.append((n, tile_at(height, width, tile, rows.start * across + cols.start)))
    return out


def stream_count(height: int, width: int, tile: int, group: int, skipped: np.ndarray | None = None) -> int:
    """How many groups ``tiling_plan`` yields, counted arithmetically."""
    return sum(-(-n // group) for n, _ in _coded_per_class(height, width, tile, skipped))


def plan_rows(height: int, width: int, tile: int, group: int, skipped: np.ndarray | None = None) -> int:
    """Engine rows decoding the plan runs (progress bars), counted arithmetically."""
    return sum(-(-n // group) * t.height for n, t in _coded_per_class(height, width, tile, skipped))


def chosen_area(height: int, width: int, tile: int, chosen: np.ndarray) -> int:
    """Pixels of the tiles whose bits are set in ``chosen`` (one bool per tile), counted arithmetically."""
    return sum(n * t.height * t.width for n, t in _coded_per_class(height, width, tile, ~chosen))


def tiles_of(height: int, width: int, tile: int, chosen: np.ndarray) -> Iterator[Tile]:
    """The tiles whose bits are set in ``chosen`` (one bool per tile), in raster order, one at a time."""
    for k in np.flatnonzero(chosen):
        yield tile_at(height, width, tile, int(k))
