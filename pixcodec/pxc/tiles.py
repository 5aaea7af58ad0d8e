"""Tile geometry: how a ``.pxc`` image is cut into tiles and the tiles into lockstep streams.

The image is cut into tile x tile tiles in raster order, smaller at the right and bottom
edges. Tiles of one shape form a class (at most four: full, right edge, bottom edge, corner),
taken in order of their first tile; each class is cut into runs of at most ``group`` tiles,
and each run is one stream. A header may claim billions of tiles, so counts here are
arithmetic and never list them.
"""
from __future__ import annotations

from dataclasses import dataclass

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
    return [tile_at(height, width, tile, k) for k in range(tile_count(height, width, tile))]


def tiling_plan(height: int, width: int, tile: int, group: int,
                skipped: np.ndarray | None = None) -> list[list[Tile]]:
    """The lockstep groups of coded tiles: one shape together, raster order, at most ``group`` each.

    skipped: None, or one bool per tile in raster order, set for a tile not coded here."""
    by_shape: dict[tuple[int, int], list[Tile]] = {}
    for t in all_tiles(height, width, tile):
        if skipped is None or not skipped[t.index]:
            by_shape.setdefault((t.height, t.width), []).append(t)
    return [tiles[k:k + group] for tiles in by_shape.values() for k in range(0, len(tiles), group)]


def stream_count(height: int, width: int, tile: int, group: int, skipped: np.ndarray | None = None) -> int:
    """len(tiling_plan(...)) without listing the tiles."""
    (rows, bottom), (cols, right) = divmod(height, tile), divmod(width, tile)
    grid = (np.zeros((rows + (bottom > 0), cols + (right > 0)), dtype=bool) if skipped is None
            else skipped.reshape(rows + (bottom > 0), cols + (right > 0)))
    coded = ~grid
    classes = [coded[:rows, :cols].sum(), coded[:rows, cols:].sum(), coded[rows:, :cols].sum(), coded[rows:, cols:].sum()]
    return sum(-(-int(n) // group) for n in classes)


def tiles_of(height: int, width: int, tile: int, chosen: np.ndarray) -> list[Tile]:
    """The tiles whose bits are set in ``chosen`` (one bool per tile), in raster order."""
    return [tile_at(height, width, tile, int(k)) for k in np.flatnonzero(chosen)]
