"""The context-mixing stage: each subpixel as 8 binary decisions, each decision's probability
mixed from the network's own and from adaptive counters under contexts of what is decoded.

A subpixel's value is coded most significant bit first: a path down a binary tree of 255 nodes,
node 1 at the root. At each node the network's 256-way weights give P(bit = 1) exactly (the
weight above the split over the weight below it); a bit the weights force (all of them on one
side) is not coded and teaches nothing. Inputs to the mixers, all in the stretched domain:
- the network's probability;
- a bias;
- one adaptive counter per context (below), found by hashing the context with the channel.

Contexts use only samples known to the decoder at this point: earlier channels of this pixel,
and neighbours in the same tile that every engine order decodes first (tiles decode in
lockstep, so another tile's samples are not known). Two mixers (weight sets by channel, bit position, the
network's confidence and which of W, N and the network's mode the value can still be; and by
channel, bit position and the network's spread), then two APMs
(by node; by bit position and the network's probability) refine the mixed probability.

Revision 2 adds prediction maps (predictions.py) as inputs and keeps only the hashed contexts
that still pay beside them.
A file's revision never changes meaning: ``REVISIONS`` says what each one uses.

Every quantity is an integer: counters 16-bit, mixer weights 16.16 fixed point, probabilities
12-bit. ``code`` walks the subpixels it is given in order, coding (or decoding) and learning:
the encoder and the decoder call it with the same positions and weights, step by step.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import coder
from .jit import njit
from .predictions import N_PREDICTIONS, predict
from .tables import SQUASH, STRETCH

N_CONTEXTS = 24             # the hashed contexts ``_contexts`` computes, by number
COUNT_LIMIT = 60             # the counters' slowest rate: 1 / (COUNT_LIMIT + 2)
RATE = np.array([65536 // (n + 2) for n in range(64)], np.int64)       # 1 / (n + 2), 16-bit
MIX_SHIFT = 13               # learning rate 2^-9 in the mixers' units
WEIGHT_LIMIT = 1 << 24
APM_RATE_SHIFT = 13          # 1/64, shared between the two nearest bins
# A counter is stored XOR this, its state before any update (p = 1/2, seen 0 times), so a fresh
# table is all zeros: its pages are committed only as contexts are used
FRESH = 32768 << 6


# What a decision coded at probability p costs, in 2^-16 bits: the encoder's estimate of what each
# subpixel costs (to choose what to store), never an input to the coding
COST = np.concatenate([[0], np.round(-np.log2(np.arange(1, 4097) / 4096) * 65536)]).astype(np.int64)


def table_bits(subpixels: int) -> int:
    """Counter table size per context (log2): about two slots per coded decision, 2^16 to 2^22."""
    return int(min(22, max(16, (8 * max(1, subpixels)).bit_length())))


class Revision(NamedTuple):
    contexts: tuple             # the hashed contexts used, by number
    predictions: tuple          # the prediction maps used, by number (predictions.py)


REVISIONS = {1: Revision(tuple(range(N_CONTEXTS)), ()),
             2: Revision((0, 3, 6, 7, 11, 12, 14, 16, 20, 21, 22, 23), tuple(range(N_PREDICTIONS)))}


class State:
    """What the stage has learned so far; encoder and decoder build it from the same numbers."""

    def __init__(self, channels: int, subpixels: int, revision: "int | Revision" = 1):
        """revision: a file's (a number), or a variant of the rules to measure (benchmarks)."""
        bits = table_bits(subpixels)
        use = REVISIONS[revision] if isinstance(revision, int) else revision
        inputs = 2 + len(use.contexts) + len(use.predictions)
        self.contexts = np.array(use.contexts, np.int64)
        self.chosen = np.array(use.predictions, np.int64)
        # a counter: its 16-bit probability of a 1, and (low 6 bits) how often it has been seen
        self.counters = np.zeros((len(use.contexts), 1 << bits), np.int32)
        self.predictions = np.zeros((len(use.predictions), channels * 4 * 8 * 256), np.int32)
        self.mix1 = np.zeros((channels * 8 * 4 * 8, inputs), np.int32)
        self.mix2 = np.zeros((channels * 8 * 16, inputs), np.int32)
        self.mix1[:, 0] = self.mix2[:, 0] = 1 << 16           # the network's probability, as it is
        knots = SQUASH[(np.arange(33) * 128).clip(max=4095)].astype(np.int32) * 16
        self.apm1 = np.tile(knots, (channels * 256, 1))
        self.apm2 = np.tile(knots, (channels * 8 * 24, 1))
        self.coder = coder.new_state()

    def arrays(self):
        """What ``code`` learns in, and its tables, in its argument order."""
        return self.contexts, self.counters, self.chosen, self.predictions, self.mix1, self.mix2, self.apm1, self.apm2, SQUASH, STRETCH, RATE, COST


@njit
def _hash(a, b, c, d):
    h = (a * 0x2F0F1E35 + b * 0x6C8E9CF5 + c * 0x3C6EF372 + d * 0x1B873593) & 0xFFFFFFFF
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
    return h ^ (h >> 13)


@njit
def _clip(v):
    return min(255, max(0, v))


# what _neighbours fills, by index
W, N, NW, NE, WW, NN, C0, C1, STEP0, UP0, PREV, PC, OW, ON, ONW, REGION = range(16)


@njit
def _neighbours(image, y, x, c, tile, nb):
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
def _contexts(nb, c, mode, spread, ctx):
    """The context hashes. The first is the tile alone: its order-0 statistics. Tiles are coded
    in lockstep, so the shared counters see the whole image at once; this one keeps what raster
    order gave for free, the statistics of the neighbourhood coded last."""
    w, n, nw, ne, pc = nb[W], nb[N], nb[NW], nb[NE], nb[PC]
    step0, up0, oW = nb[STEP0], nb[UP0], nb[OW]
    ctx[0] = _hash(21, nb[REGION], 0, 0)
    ctx[1] = _hash(1, w, 0, 0)
    ctx[2] = _hash(2, n, 0, 0)
    ctx[3] = _hash(3, w, n, 0)
    ctx[4] = _hash(4, n, ne, 0)
    ctx[5] = _hash(5, w, nw, 0)
    ctx[6] = _hash(6, w, nb[WW], 0)
    ctx[7] = _hash(7, n, nb[NN], 0)
    ctx[8] = _hash(8, _clip(w + n - nw), 0, 0)
    ctx[9] = _hash(9, (w + ne) >> 1, 0, 0)
    ctx[10] = _hash(10, _clip(w + n - nw) >> 2, (w - nw) >> 3, (n - nw) >> 3)
    ctx[11] = _hash(11, nb[C0], nb[C1], 0)
    ctx[12] = _hash(12, _clip(w + step0), step0 >> 2, 0)
    ctx[13] = _hash(13, mode, 0, 0)
    ctx[14] = _hash(14, mode, spread, 0)
    ctx[15] = _hash(15, mode, w, 0)
    ctx[16] = _hash(16, _clip(n + up0), up0 >> 2, 0)
    ctx[17] = _hash(17, _clip(w + nb[PREV]), _clip(n + up0) >> 2, 0)
    ctx[18] = _hash(18, _clip(pc + oW), c, 0)
    ctx[19] = _hash(19, _clip(pc + nb[ON]), _clip(pc + oW) >> 3, 0)
    ctx[20] = _hash(20, _clip(pc + oW + nb[ON] - nb[ONW]), 0, 0)
    # pairs of predictions: where two channels' steps agree, their joint statistics are exact
    ctx[21] = _hash(23, _clip(w + step0), _clip(w + nb[PREV]), 0)
    ctx[22] = _hash(24, _clip(n + up0), _clip(pc + nb[ON]), 0)
    ctx[23] = _hash(27, pc, _clip(pc + oW) >> 2, _clip(pc + nb[ON]) >> 2)


@njit
def _apm(table, row, pos):
    j, frac = pos >> 7, pos & 127
    return (table[row, j] * (128 - frac) + table[row, j + 1] * frac) >> 7


@njit
def _apm_learn(table, row, pos, bit):
    j, frac = pos >> 7, pos & 127
    target = bit << 16
    table[row, j] += ((target - table[row, j]) * (128 - frac)) >> APM_RATE_SHIFT
    table[row, j + 1] += ((target - table[row, j + 1]) * frac) >> APM_RATE_SHIFT


@njit
def _squash(squash, d):
    return squash[min(2047, max(-2047, d)) + 2048]


@njit
def _learn(stored, bit, rate):
    """A counter (stored XOR ``FRESH``) after seeing ``bit``: its probability moves by its rate."""
    state = np.int64(stored ^ FRESH)
    q, n = state >> 6, state & 63
    q += (((bit << 16) - q) * rate[n]) >> 16
    return ((q << 6) | min(n + 1, COUNT_LIMIT)) ^ FRESH


@njit
def code(image, ys, xs, cs, weights, values, costs, tile, decode, contexts, counters, chosen, predictions, mix1, mix2, apm1, apm2, squash, stretch,
         rate, cost, cstate, buf, trace):
    """Code ``values[k]`` (or, with ``decode``, decode into ``values``) as the subpixels
    (ys[k], xs[k], cs[k]) in order, subpixel k by its 256 weights ``weights[k]``, writing each
    into ``image`` once coded: contexts read only what both sides have written there, whatever
    the order. The encoder gets each subpixel's cost in ``costs`` (2^-16 bits). ``trace``, when it has room, receives every coded decision's probability.
    Returns the number of decisions coded.

    A context's counters for one subpixel sit in two buckets of 16, one a nibble: the first
    nibble's 15 nodes, then the second's under the first's value, so 8 decisions touch 2 cache
    lines a context, not 8."""
    mask = (counters.shape[1] - 1) & ~15
    n_ctx, n_pred, inputs = contexts.shape[0], predictions.shape[0], mix1.shape[1]
    ctx = np.zeros(N_CONTEXTS, np.int64)
    slot = np.zeros(n_ctx, np.int64)
    bucket = np.zeros(n_ctx, np.int64)
    nb = np.zeros(16, np.int64)
    pr = np.zeros(N_PREDICTIONS, np.int64)
    pslot = np.zeros(max(1, n_pred), np.int64)
    x_in = np.zeros(inputs, np.int64)
    cum = np.zeros(257, np.int64)
    decisions = 0
    for k in range(ys.shape[0]):
        y, x, c = ys[k], xs[k], cs[k]
        best, mode = np.int64(-1), 0
        for v in range(256):
            wv = np.int64(weights[k, v])
            cum[v + 1] = cum[v] + wv
            if wv > best:
                best, mode = wv, v
        spread = 0
        while spread < 15 and (cum[256] >> spread) > best:
            spread += 1
        _neighbours(image, y, x, c, tile, nb)
        _contexts(nb, c, mode, spread, ctx)
        parity = (y & 1) * 2 + (x & 1)
        if n_pred > 0:
            predict(image, y, x, c, tile, pr)
        value = 0 if decode else np.int64(values[k])
        lo, hi, node = 0, 256, 1
        for bit_pos in range(8):
            if bit_pos == 0 or bit_pos == 4:
                for j in range(n_ctx):
                    i = contexts[j]
                    bucket[j] = _hash(ctx[i], c, i, node) & mask
            mid = (lo + hi) >> 1
            s0, s1 = cum[mid] - cum[lo], cum[hi] - cum[mid]
            if s0 == 0 or s1 == 0:                    # forced by the weights: nothing to code
                bit = 1 if s1 > 0 else 0
            else:
                st_net = stretch[min(4095, max(1, (s1 << 12) // (s0 + s1)))]
                x_in[0], x_in[1] = st_net, 64
                within = node if bit_pos < 4 else node - ((node >> (bit_pos - 4)) << (bit_pos - 4)) + (1 << (bit_pos - 4))
                for j in range(n_ctx):
                    slot[j] = bucket[j] + within
                    x_in[2 + j] = stretch[(counters[j, slot[j]] ^ FRESH) >> 10]
                base = ((c * 4 + parity) * 8 + bit_pos) << 8
                for j in range(n_pred):
                    pslot[j] = base | ((pr[chosen[j]] - lo) & 255)
                    x_in[2 + n_ctx + j] = stretch[(predictions[j, pslot[j]] ^ FRESH) >> 10]
                agree = (1 if lo <= nb[W] < hi else 0) + (2 if lo <= nb[N] < hi else 0) + (4 if lo <= mode < hi else 0)
                set1 = ((c * 8 + bit_pos) * 4 + min(3, abs(st_net) >> 9)) * 8 + agree
                set2 = (c * 8 + bit_pos) * 16 + spread
                dot1, dot2 = np.int64(0), np.int64(0)
                for i in range(inputs):
                    dot1 += mix1[set1, i] * x_in[i]
                    dot2 += mix2[set2, i] * x_in[i]
                dot1, dot2 = dot1 >> 16, dot2 >> 16
                p1, p2 = _squash(squash, dot1), _squash(squash, dot2)
                p_mix = _squash(squash, (dot1 + dot2) >> 1)
                pos = stretch[p_mix] + 2048
                row1 = c * 256 + node
                row2 = (c * 8 + bit_pos) * 24 + min(23, ((st_net + 2048) * 24) >> 12)
                p = (2 * p_mix + 3 * (_apm(apm1, row1, pos) >> 4) + 3 * (_apm(apm2, row2, pos) >> 4)) >> 3
                p = min(4095, max(1, p))
                if decisions < trace.shape[0]:
                    trace[decisions] = p
                decisions += 1
                if decode:
                    bit = coder.decode_bit(cstate, buf, p)
                else:
                    bit = 1 if value >= mid else 0
                    coder.encode_bit(cstate, buf, bit, p)
                    costs[k] += cost[p if bit else 4096 - p]
                err1, err2 = (bit << 12) - p1, (bit << 12) - p2
                for i in range(inputs):
                    mix1[set1, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix1[set1, i] + ((x_in[i] * err1) >> MIX_SHIFT)))
                    mix2[set2, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix2[set2, i] + ((x_in[i] * err2) >> MIX_SHIFT)))
                _apm_learn(apm1, row1, pos, bit)
                _apm_learn(apm2, row2, pos, bit)
                for j in range(n_ctx):
                    counters[j, slot[j]] = _learn(counters[j, slot[j]], bit, rate)
                for j in range(n_pred):
                    predictions[j, pslot[j]] = _learn(predictions[j, pslot[j]], bit, rate)
            if bit:
                lo = mid
            else:
                hi = mid
            node = node * 2 + bit
        values[k] = lo
        image[y, x, c] = lo
    return decisions
