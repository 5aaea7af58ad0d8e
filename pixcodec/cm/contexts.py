"""The stage's hashed contexts: the samples around a subpixel that the decoder knows, and the
context hashes built from them (the mixers' counter inputs, model.py).

Contexts use only samples known to the decoder at this point: earlier channels of this pixel,
and neighbours in the same tile that every engine order decodes first (tiles decode in
lockstep, so another tile's samples are not known).
"""
from __future__ import annotations

import numpy as np

from .jit import njit

N_CONTEXTS = 24             # the hashed contexts ``context_hashes`` computes, by number


@njit
def hash4(a, b, c, d):
    h = (a * 0x2F0F1E35 + b * 0x6C8E9CF5 + c * 0x3C6EF372 + d * 0x1B873593) & 0xFFFFFFFF
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
    return h ^ (h >> 13)


@njit
def _clip(v):
    return min(255, max(0, v))


# what ``neighbours`` fills, by index
W, N, NW, NE, WW, NN, C0, C1, STEP0, UP0, PREV, PC, OW, ON, ONW, REGION = range(16)


@njit
def neighbours(image, y, x, c, tile, nb):
    """The samples around subpixel (y, x, c) that the decoder knows: this channel's neighbours
    in the same tile (an unknown one reads as 0, or as its nearest known stand-in), the
    pixel's earlier channels and their steps, this channel's offsets from the previous one at
    W, N and NW, and the tile's number."""
    ly, lx, w = y % tile, x % tile, image.shape[1]
    nb[REGION] = (y // tile) * ((w + tile - 1) // tile) + x // tile
    nb[W] = image[y, x - 1, c] if lx > 0 else 0
    nb[N] = image[y - 1, x, c] if ly > 0 else 0
    nb[NW] = image[y - 1, x - 1, c] if lx > 0 and ly > 0 else 0
    nb[NE] = image[y - 1, x + 1, c] if ly > 0 and x + 1 < w and lx + 1 < tile else nb[N]
    nb[WW] = image[y, x - 2, c] if lx > 1 else nb[W]
    nb[NN] = image[y - 2, x, c] if ly > 1 else nb[N]
    nb[C0] = image[y, x, 0] if c > 0 else 0
    nb[C1] = image[y, x, 1] if c > 1 else 0
    nb[STEP0] = nb[C0] - np.int64(image[y, x - 1, 0]) if c > 0 and lx > 0 else 0
    nb[UP0] = nb[C0] - np.int64(image[y - 1, x, 0]) if c > 0 and ly > 0 else 0
    nb[PC] = image[y, x, c - 1] if c > 0 else 0
    nb[PREV] = nb[PC] - (np.int64(image[y, x - 1, c - 1]) if lx > 0 else 0) if c > 0 else 0
    nb[OW] = nb[W] - np.int64(image[y, x - 1, c - 1]) if c > 0 and lx > 0 else 0
    nb[ON] = nb[N] - np.int64(image[y - 1, x, c - 1]) if c > 0 and ly > 0 else 0
    nb[ONW] = nb[NW] - np.int64(image[y - 1, x - 1, c - 1]) if c > 0 and lx > 0 and ly > 0 else 0


@njit
def context_hashes(nb, c, mode, spread, ctx):
    """The context hashes. The first is the tile alone: its order-0 statistics. Tiles are coded
    in lockstep, so the shared counters see the whole image at once; this one keeps what raster
    order gave for free, the statistics of the neighbourhood coded last."""
    w, n, nw, ne, pc = nb[W], nb[N], nb[NW], nb[NE], nb[PC]
    step0, up0, oW = nb[STEP0], nb[UP0], nb[OW]
    ctx[0] = hash4(21, nb[REGION], 0, 0)
    ctx[1] = hash4(1, w, 0, 0)
    ctx[2] = hash4(2, n, 0, 0)
    ctx[3] = hash4(3, w, n, 0)
    ctx[4] = hash4(4, n, ne, 0)
    ctx[5] = hash4(5, w, nw, 0)
    ctx[6] = hash4(6, w, nb[WW], 0)
    ctx[7] = hash4(7, n, nb[NN], 0)
    ctx[8] = hash4(8, _clip(w + n - nw), 0, 0)
    ctx[9] = hash4(9, (w + ne) >> 1, 0, 0)
    ctx[10] = hash4(10, _clip(w + n - nw) >> 2, (w - nw) >> 3, (n - nw) >> 3)
    ctx[11] = hash4(11, nb[C0], nb[C1], 0)
    ctx[12] = hash4(12, _clip(w + step0), step0 >> 2, 0)
    ctx[13] = hash4(13, mode, 0, 0)
    ctx[14] = hash4(14, mode, spread, 0)
    ctx[15] = hash4(15, mode, w, 0)
    ctx[16] = hash4(16, _clip(n + up0), up0 >> 2, 0)
    ctx[17] = hash4(17, _clip(w + nb[PREV]), _clip(n + up0) >> 2, 0)
    ctx[18] = hash4(18, _clip(pc + oW), c, 0)
    ctx[19] = hash4(19, _clip(pc + nb[ON]), _clip(pc + oW) >> 3, 0)
    ctx[20] = hash4(20, _clip(pc + oW + nb[ON] - nb[ONW]), 0, 0)
    # pairs of predictions: where two channels' steps agree, their joint statistics are exact
    ctx[21] = hash4(23, _clip(w + step0), _clip(w + nb[PREV]), 0)
    ctx[22] = hash4(24, _clip(n + up0), _clip(pc + nb[ON]), 0)
    ctx[23] = hash4(27, pc, _clip(pc + oW) >> 2, _clip(pc + nb[ON]) >> 2)
