"""The context-mixing stage: each subpixel as 8 binary decisions, each decision's probability
mixed from the network's own and from adaptive counters under contexts of what is decoded.

A subpixel's value is coded most significant bit first: a path down a binary tree of 255 nodes,
node 1 at the root. At each node the network's 256-way weights give P(bit = 1) exactly (the
weight above the split over the weight below it); a bit the weights force (all of them on one
side) is not coded and teaches nothing. Inputs to the mixers, all in the stretched domain:
- the network's probability;
- a bias;
- one adaptive counter per hashed context (contexts.py), found by hashing it with the channel;
- from revision 2, one counter per prediction map (predictions.py).

Two mixers (weight sets by channel, bit position, the network's confidence and which of W, N
and the network's mode the value can still be; and by channel, bit position and the network's
spread), then two APMs (by node; by bit position and the network's probability) refine the
mixed probability. Revision 3 adds a third mixer, its weight sets by the levels of the
network's mode and of W (the noise of a photo depends on its brightness); each weight set
learns fast while it is new (5 times the rate, falling to 1 as it is used); and a third APM,
by node, W's level and the W-N step.

A file's revision never changes meaning: ``REVISIONS`` says what each one uses.

Every quantity is an integer: counters 16-bit, mixer weights 16.16 fixed point, probabilities
12-bit. ``code`` walks the subpixels it is given in order, coding (or decoding) and learning:
the encoder and the decoder call it with the same positions and weights, step by step.
"""
from __future__ import annotations

import mmap
from typing import NamedTuple

import numpy as np

from . import coder
from .jit import njit
from .contexts import N, N_CONTEXTS, W, context_hashes, hash4, neighbours
from .predictions import N_PREDICTIONS, predict
from .tables import SQUASH, STRETCH

COUNT_LIMIT = 60             # the counters' slowest rate: 1 / (COUNT_LIMIT + 2)
RATE = np.array([65536 // (n + 2) for n in range(64)], np.int64)       # 1 / (n + 2), 16-bit
MIX_SHIFT = 13               # learning rate 2^-9 in the mixers' units
# Revision 3: a weight set's rate is (16 + BOOST // (n + BOOST_AFTER)) / 16 of that after n uses
BOOST, BOOST_AFTER, USES_LIMIT = 1 << 16, 1024, 1 << 20
# What revision 3 adds, as bits of ``Revision.extras`` (apart only to measure each: benchmarks)
LEVEL_MIXER, FALLING_RATES, LEVEL_APM = 1, 2, 4
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
    extras: int = 0             # what revision 3 adds: LEVEL_MIXER | FALLING_RATES | LEVEL_APM


_KEPT = (0, 3, 6, 7, 11, 12, 14, 16, 20, 21, 22, 23)
REVISIONS = {1: Revision(tuple(range(N_CONTEXTS)), ()),
             2: Revision(_KEPT, tuple(range(N_PREDICTIONS))),
             3: Revision(_KEPT, tuple(range(N_PREDICTIONS)), LEVEL_MIXER | FALLING_RATES | LEVEL_APM)}


def fresh_zeros(shape: tuple[int, ...], dtype=np.int32) -> np.ndarray:
    """Zeros in ordinary pages, each committed as it is first written. numpy asks the kernel for
    2 MB pages for any large array; where free memory is fragmented the kernel then compacts it
    before the first write to each (2.2 s for a photo's 192 MB of counters on a 2-core machine,
    against 0.09 s in small pages, at the same coding speed), and a forged file's scattered
    writes would commit 2 MB apiece."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    pages = mmap.mmap(-1, max(size, 1))
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        pages.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(pages, dtype, count=int(np.prod(shape))).reshape(shape)


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
        self.counters = fresh_zeros((len(use.contexts), 1 << bits))
        # a slot's counters for every map side by side: predictions cluster around the value, so
        # one decision's maps share a few cache lines
        self.predictions = fresh_zeros((channels * 4 * 8 * 256, max(1, len(use.predictions))))
        self.extras = use.extras
        # a mixer: a weight set a row, the last column how often the set was used (revision 3)
        self.mix1 = np.zeros((channels * 8 * 4 * 8, inputs + 1), np.int32)
        self.mix2 = np.zeros((channels * 8 * 16, inputs + 1), np.int32)
        self.mix3 = np.zeros((channels * 8 * 64 if use.extras & LEVEL_MIXER else 1, inputs + 1), np.int32)
        self.mix1[:, 0] = self.mix2[:, 0] = self.mix3[:, 0] = 1 << 16     # the network's probability, as it is
        knots = SQUASH[(np.arange(33) * 128).clip(max=4095)].astype(np.int32) * 16
        self.apm1 = np.tile(knots, (channels * 256, 1))
        self.apm2 = np.tile(knots, (channels * 8 * 24, 1))
        self.apm3 = np.tile(knots, (channels * 256 * 64 if use.extras & LEVEL_APM else 1, 1))
        self.coder = coder.new_state()

    def arrays(self):
        """What ``code`` learns in, and its tables, in its argument order."""
        return (self.contexts, self.counters, self.chosen, self.predictions, self.extras, self.mix1, self.mix2, self.mix3,
                self.apm1, self.apm2, self.apm3, SQUASH, STRETCH, RATE, COST)


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
def _rate(mix, row, inputs, err, falling):
    """A weight set's error ``err`` (12-bit) as it learns from it: at the rate its uses give it
    (revision 3, counting this use), else as it is."""
    if not falling:
        return err
    uses = np.int64(mix[row, inputs])
    mix[row, inputs] = min(uses + 1, USES_LIMIT)
    return (err * (16 + BOOST // (uses + BOOST_AFTER))) >> 4


@njit
def _mix_learn(mix, row, x_in, inputs, err, falling):
    """A weight set after its mixer's error ``err``; ``falling``: as ``_rate`` says."""
    err = _rate(mix, row, inputs, err, falling)
    for i in range(inputs):
        mix[row, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix[row, i] + ((x_in[i] * err) >> MIX_SHIFT)))


@njit
def code(image, ys, xs, cs, weights, values, costs, tile, decode, contexts, counters, chosen, predictions, extras, mix1, mix2, mix3,
         apm1, apm2, apm3, squash, stretch, rate, cost, cstate, buf, trace):
    """Code ``values[k]`` (or, with ``decode``, decode into ``values``) as the subpixels
    (ys[k], xs[k], cs[k]) in order, subpixel k by its 256 weights ``weights[k]``, writing each
    into ``image`` once coded: contexts read only what both sides have written there, whatever
    the order. The encoder gets each subpixel's cost in ``costs`` (2^-16 bits). ``trace``, when it has room, receives every coded decision's probability.
    Returns the number of decisions coded.

    A context's counters for one subpixel sit in two buckets of 16, one a nibble: the first
    nibble's 15 nodes, then the second's under the first's value, so 8 decisions touch 2 cache
    lines a context, not 8."""
    mask = (counters.shape[1] - 1) & ~15
    level_mixer, falling, level_apm = extras & LEVEL_MIXER, extras & FALLING_RATES, extras & LEVEL_APM
    n_ctx, n_pred, inputs = contexts.shape[0], chosen.shape[0], mix1.shape[1] - 1
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
        neighbours(image, y, x, c, tile, nb)
        context_hashes(nb, c, mode, spread, ctx)
        parity = (y & 1) * 2 + (x & 1)
        if n_pred > 0:
            predict(image, y, x, c, tile, pr)
        value = 0 if decode else np.int64(values[k])
        lo, hi, node = 0, 256, 1
        for bit_pos in range(8):
            if bit_pos == 0 or bit_pos == 4:
                for j in range(n_ctx):
                    i = contexts[j]
                    bucket[j] = hash4(ctx[i], c, i, node) & mask
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
                    x_in[2 + n_ctx + j] = stretch[(predictions[pslot[j], j] ^ FRESH) >> 10]
                agree = (1 if lo <= nb[W] < hi else 0) + (2 if lo <= nb[N] < hi else 0) + (4 if lo <= mode < hi else 0)
                set1 = ((c * 8 + bit_pos) * 4 + min(3, abs(st_net) >> 9)) * 8 + agree
                set2 = (c * 8 + bit_pos) * 16 + spread
                set3 = (c * 8 + bit_pos) * 64 + (mode >> 5) * 8 + (nb[W] >> 5)
                dot1, dot2, dot3 = np.int64(0), np.int64(0), np.int64(0)
                if level_mixer:             # one pass over the inputs for all three
                    for i in range(inputs):
                        dot1 += mix1[set1, i] * x_in[i]
                        dot2 += mix2[set2, i] * x_in[i]
                        dot3 += mix3[set3, i] * x_in[i]
                else:
                    for i in range(inputs):
                        dot1 += mix1[set1, i] * x_in[i]
                        dot2 += mix2[set2, i] * x_in[i]
                dot1, dot2, dot3 = dot1 >> 16, dot2 >> 16, dot3 >> 16
                p1, p2, p3 = _squash(squash, dot1), _squash(squash, dot2), _squash(squash, dot3)
                # the mean in the stretched domain (a third: 21845 / 2^16, the same on every machine)
                p_mix = _squash(squash, ((dot1 + dot2 + dot3) * 21845) >> 16 if level_mixer else (dot1 + dot2) >> 1)
                pos = stretch[p_mix] + 2048
                row1 = c * 256 + node
                row2 = (c * 8 + bit_pos) * 24 + min(23, ((st_net + 2048) * 24) >> 12)
                if level_apm:
                    row3 = (c * 256 + node) * 64 + min(15, nb[W] >> 4) * 4 + min(3, abs(nb[W] - nb[N]) >> 3)
                    p = (p_mix + (_apm(apm1, row1, pos) >> 4) + (_apm(apm2, row2, pos) >> 4) + (_apm(apm3, row3, pos) >> 4)) >> 2
                else:
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
                if level_mixer:
                    err1, err2 = _rate(mix1, set1, inputs, (bit << 12) - p1, falling), _rate(mix2, set2, inputs, (bit << 12) - p2, falling)
                    err3 = _rate(mix3, set3, inputs, (bit << 12) - p3, falling)
                    for i in range(inputs):
                        mix1[set1, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix1[set1, i] + ((x_in[i] * err1) >> MIX_SHIFT)))
                        mix2[set2, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix2[set2, i] + ((x_in[i] * err2) >> MIX_SHIFT)))
                        mix3[set3, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix3[set3, i] + ((x_in[i] * err3) >> MIX_SHIFT)))
                else:
                    _mix_learn(mix1, set1, x_in, inputs, (bit << 12) - p1, falling)
                    _mix_learn(mix2, set2, x_in, inputs, (bit << 12) - p2, falling)
                _apm_learn(apm1, row1, pos, bit)
                _apm_learn(apm2, row2, pos, bit)
                if level_apm:
                    _apm_learn(apm3, row3, pos, bit)
                for j in range(n_ctx):
                    counters[j, slot[j]] = _learn(counters[j, slot[j]], bit, rate)
                for j in range(n_pred):
                    predictions[pslot[j], j] = _learn(predictions[pslot[j], j], bit, rate)
            if bit:
                lo = mid
            else:
                hi = mid
            node = node * 2 + bit
        values[k] = lo
        image[y, x, c] = lo
    return decisions
