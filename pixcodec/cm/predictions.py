"""Predictions of a subpixel from the samples the decoder already knows, for the stage's
prediction maps (revision 2 on).

Each prediction is a plain integer formula of neighbours in this channel and of the pixel's
earlier channels (``p1``, ``p2``) and theirs. A map keys its counters by the prediction's
offset from the coded interval's low end, per channel, row and column parity and bit position,
so every node at one depth shares a small, fast-learning table. The colour-difference
extrapolations find chroma that a pipeline interpolated from a coarser grid: there the
difference between two channels is linear, and its parity says where.
"""
from __future__ import annotations

import numpy as np

from .jit import njit

N_PREDICTIONS = 30


@njit
def _px(image, y, x, ch, dy, dx, y0, x0, x1):
    """Sample (y - dy, x + dx) of channel ``ch`` if the decoder knows it (rows above in this
    tile, or this row left of x), else its nearest known stand-in in the tile (0 if none)."""
    yy, xx = max(y0, y - dy), min(x1 - 1, max(x0, x + dx))
    if yy == y and xx >= x:
        if x > x0:
            xx = x - 1
        elif y > y0:
            yy = y - 1
        else:
            return np.int64(0)
    return np.int64(image[yy, xx, ch])


@njit
def predict(image, y, x, c, tile, pr):
    """Fill ``pr`` with the predictions of subpixel (y, x, c)."""
    y0, x0 = y - y % tile, x - x % tile
    x1 = min(image.shape[1], x0 + tile)
    w, n, nw, ne = _px(image, y, x, c, 0, -1, y0, x0, x1), _px(image, y, x, c, 1, 0, y0, x0, x1), \
        _px(image, y, x, c, 1, -1, y0, x0, x1), _px(image, y, x, c, 1, 1, y0, x0, x1)
    ww, nn = _px(image, y, x, c, 0, -2, y0, x0, x1), _px(image, y, x, c, 2, 0, y0, x0, x1)
    nnw, nne, nee = _px(image, y, x, c, 2, -1, y0, x0, x1), _px(image, y, x, c, 2, 1, y0, x0, x1), \
        _px(image, y, x, c, 1, 2, y0, x0, x1)
    p1 = wp1 = np1 = nwp1 = nep1 = wwp1 = nnp1 = nnep1 = np.int64(0)
    p2 = wp2 = np2 = nwp2 = wwp2 = nep2 = nnp2 = np.int64(0)
    if c > 0:
        p1 = np.int64(image[y, x, c - 1])
        wp1, np1 = _px(image, y, x, c - 1, 0, -1, y0, x0, x1), _px(image, y, x, c - 1, 1, 0, y0, x0, x1)
        nwp1, nep1 = _px(image, y, x, c - 1, 1, -1, y0, x0, x1), _px(image, y, x, c - 1, 1, 1, y0, x0, x1)
        wwp1, nnp1 = _px(image, y, x, c - 1, 0, -2, y0, x0, x1), _px(image, y, x, c - 1, 2, 0, y0, x0, x1)
        nnep1 = _px(image, y, x, c - 1, 2, 1, y0, x0, x1)
    if c > 1:
        p2 = np.int64(image[y, x, c - 2])
        wp2, np2 = _px(image, y, x, c - 2, 0, -1, y0, x0, x1), _px(image, y, x, c - 2, 1, 0, y0, x0, x1)
        nwp2, wwp2 = _px(image, y, x, c - 2, 1, -1, y0, x0, x1), _px(image, y, x, c - 2, 0, -2, y0, x0, x1)
        nep2, nnp2 = _px(image, y, x, c - 2, 1, 1, y0, x0, x1), _px(image, y, x, c - 2, 2, 0, y0, x0, x1)
    # this channel's own neighbourhood: gradients
    pr[0], pr[1], pr[2], pr[3] = w + n - nw, w + ne - n, n + nw - nnw, n + ne - nne
    pr[4], pr[5] = (w + ne) >> 1, (w + 2 * ne - nne) >> 1
    pr[6], pr[7] = (3 * (w + n) - 2 * nw) >> 2, (w + nee) >> 1
    # the previous channel's steps
    pr[8], pr[9], pr[10], pr[11] = n + p1 - np1, w + p1 - wp1, nw + p1 - nwp1, ne + p1 - nep1
    pr[12] = w + n - nw + p1 - (wp1 + np1 - nwp1)
    pr[13], pr[14] = nn + p1 - nnp1, ww + p1 - wwp1
    pr[15] = w + ne - n + p1 - (wp1 + nep1 - np1)
    pr[16] = n + ne - nne + p1 - (np1 + nep1 - nnep1)
    pr[17] = p1
    # colour differences extrapolated, averaged, and their second differences across channels
    pr[18], pr[19] = p1 + 2 * (w - wp1) - (ww - wwp1), p1 + 2 * (n - np1) - (nn - nnp1)
    pr[20] = p1 + (w - wp1) + (n - np1) - (nw - nwp1)
    pr[21], pr[22] = p2 + 2 * (w - wp2) - (ww - wwp2), p2 + 2 * (n - np2) - (nn - nnp2)
    pr[23] = p2 + (w - wp2) + (n - np2) - (nw - nwp2)
    pr[24], pr[25] = p1 + ((w - wp1 + n - np1) >> 1), p1 + ((w - wp1 + ne - nep1) >> 1)
    pr[26] = p1 + (w - wp1) + (p1 - p2) - (wp1 - wp2)
    pr[27] = p1 + (n - np1) + (p1 - p2) - (np1 - np2)
    pr[28] = p1 + (ne - nep1) + (p1 - p2) - (nep1 - nep2)
    pr[29] = 2 * p1 - p2
