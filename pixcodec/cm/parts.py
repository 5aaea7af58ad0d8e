"""The context-mixing stage's learning parts, each a few integer operations the kernel
(model.py) inlines: adaptive counters, logistic mixers with weight sets, and APMs that refine a
probability by a small context. Probabilities are 12-bit, counters 16-bit, weights 16.16."""
from __future__ import annotations

import numpy as np

from .jit import njit

COUNT_LIMIT = 60             # the counters' slowest rate: 1 / (COUNT_LIMIT + 2)
RATE = np.array([65536 // (n + 2) for n in range(64)], np.int64)       # 1 / (n + 2), 16-bit
MIX_SHIFT = 13               # learning rate 2^-9 in the mixers' units
# Revision 3: a weight set's rate is (16 + BOOST // (n + BOOST_AFTER)) / 16 of that after n uses
BOOST, BOOST_AFTER, USES_LIMIT = 1 << 16, 1024, 1 << 20
WEIGHT_LIMIT = 1 << 24
APM_RATE_SHIFT = 13          # 1/64, shared between the two nearest bins
# A counter is stored XOR this, its state before any update (p = 1/2, seen 0 times), so a fresh
# table is all zeros: its pages are committed only as contexts are used
FRESH = 32768 << 6


@njit
def apm(table, row, pos):
    j, frac = pos >> 7, pos & 127
    return (table[row, j] * (128 - frac) + table[row, j + 1] * frac) >> 7


@njit
def apm_learn(table, row, pos, bit):
    j, frac = pos >> 7, pos & 127
    target = bit << 16
    table[row, j] += ((target - table[row, j]) * (128 - frac)) >> APM_RATE_SHIFT
    table[row, j + 1] += ((target - table[row, j + 1]) * frac) >> APM_RATE_SHIFT


@njit
def squash_of(squash, d):
    return squash[min(2047, max(-2047, d)) + 2048]


@njit
def counter_learn(stored, bit, rate):
    """A counter (stored XOR ``FRESH``) after seeing ``bit``: its probability moves by its rate."""
    state = np.int64(stored ^ FRESH)
    q, n = state >> 6, state & 63
    q += (((bit << 16) - q) * rate[n]) >> 16
    return ((q << 6) | min(n + 1, COUNT_LIMIT)) ^ FRESH


@njit
def weight_rate(mix, row, inputs, err, falling):
    """A weight set's error ``err`` (12-bit) as it learns from it: at the rate its uses give it
    (revision 3, counting this use), else as it is."""
    if not falling:
        return err
    uses = np.int64(mix[row, inputs])
    mix[row, inputs] = min(uses + 1, USES_LIMIT)
    return (err * (16 + BOOST // (uses + BOOST_AFTER))) >> 4


@njit
def mixer_learn(mix, row, x_in, inputs, err, falling):
    """A weight set after its mixer's error ``err``; ``falling``: as ``weight_rate`` says."""
    err = weight_rate(mix, row, inputs, err, falling)
    for i in range(inputs):
        mix[row, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix[row, i] + ((x_in[i] * err) >> MIX_SHIFT)))


@njit(inline=True)
def distribution(weights, k, cum):
    """Subpixel k's cumulative weights into ``cum``; its mode, and its spread: how many halvings
    of the total weight stay above the mode's (how wide the network's distribution is)."""
    best, mode = np.int64(-1), 0
    for v in range(256):
        wv = np.int64(weights[k, v])
        cum[v + 1] = cum[v] + wv
        if wv > best:
            best, mode = wv, v
    spread = 0
    while spread < 15 and (cum[256] >> spread) > best:
        spread += 1
    return mode, spread


@njit(inline=True)
def gather_inputs(x_in, st_net, counters, slot, bucket, within, predictions, pslot, pr, chosen, base, lo, stretch):
    """The mixers' inputs for one decision: the network, the bias, then each context's counter
    (at ``slot``) and each prediction map's (at ``pslot``), stretched."""
    n_ctx = slot.shape[0]
    x_in[0], x_in[1] = st_net, 64
    for j in range(n_ctx):
        slot[j] = bucket[j] + within
        x_in[2 + j] = stretch[(counters[j, slot[j]] ^ FRESH) >> 10]
    for j in range(chosen.shape[0]):
        pslot[j] = base | ((pr[chosen[j]] - lo) & 255)
        x_in[2 + n_ctx + j] = stretch[(predictions[pslot[j], j] ^ FRESH) >> 10]


@njit(inline=True)
def mixed(x_in, inputs, mix1, mix2, mix3, set1, set2, set3, level_mixer, squash):
    """Each mixer's probability (12-bit) from its weight set, and their mean in the stretched
    domain (revision 3: of three mixers, a third being 21845 / 2^16 on every machine)."""
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
    p_mix = squash_of(squash, ((dot1 + dot2 + dot3) * 21845) >> 16 if level_mixer else (dot1 + dot2) >> 1)
    return squash_of(squash, dot1), squash_of(squash, dot2), squash_of(squash, dot3), p_mix


@njit(inline=True)
def refined(p_mix, apm1, apm2, apm3, row1, row2, row3, pos, level_apm):
    """The mixed probability averaged with the APMs' refinements of it, within 1..4095."""
    if level_apm:
        p = (p_mix + (apm(apm1, row1, pos) >> 4) + (apm(apm2, row2, pos) >> 4) + (apm(apm3, row3, pos) >> 4)) >> 2
    else:
        p = (2 * p_mix + 3 * (apm(apm1, row1, pos) >> 4) + 3 * (apm(apm2, row2, pos) >> 4)) >> 3
    return min(4095, max(1, p))


@njit(inline=True)
def mixers_learn(bit, p1, p2, p3, x_in, inputs, mix1, mix2, mix3, set1, set2, set3, level_mixer, falling):
    if level_mixer:
        err1, err2 = weight_rate(mix1, set1, inputs, (bit << 12) - p1, falling), weight_rate(mix2, set2, inputs, (bit << 12) - p2, falling)
        err3 = weight_rate(mix3, set3, inputs, (bit << 12) - p3, falling)
        for i in range(inputs):
            mix1[set1, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix1[set1, i] + ((x_in[i] * err1) >> MIX_SHIFT)))
            mix2[set2, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix2[set2, i] + ((x_in[i] * err2) >> MIX_SHIFT)))
            mix3[set3, i] = min(WEIGHT_LIMIT, max(-WEIGHT_LIMIT, mix3[set3, i] + ((x_in[i] * err3) >> MIX_SHIFT)))
    else:
        mixer_learn(mix1, set1, x_in, inputs, (bit << 12) - p1, falling)
        mixer_learn(mix2, set2, x_in, inputs, (bit << 12) - p2, falling)


@njit(inline=True)
def counters_learn(bit, counters, slot, predictions, pslot, rate):
    for j in range(slot.shape[0]):
        counters[j, slot[j]] = counter_learn(counters[j, slot[j]], bit, rate)
    for j in range(pslot.shape[0]):
        predictions[pslot[j], j] = counter_learn(predictions[pslot[j], j], bit, rate)
