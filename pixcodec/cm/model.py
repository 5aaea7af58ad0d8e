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
the encoder and the decoder call it with the same positions and weights, step by step. A
context's counters for one subpixel sit in two buckets of 16, one a nibble: the first nibble's
15 nodes, then the second's under the first's value, so 8 decisions touch 2 cache lines a
context, not 8.
"""
from __future__ import annotations

import mmap
from typing import NamedTuple

import numpy as np

from . import coder
from .jit import njit
from .contexts import N, N_CONTEXTS, W, context_hashes, hash4, neighbours
from .predictions import N_PREDICTIONS, predict
from .parts import RATE, apm_learn, counters_learn, distribution, gather_inputs, mixed, mixers_learn, refined
from .tables import SQUASH, STRETCH

# What revision 3 adds, as bits of ``Revision.extras`` (apart only to measure each: benchmarks)
LEVEL_MIXER, FALLING_RATES, LEVEL_APM = 1, 2, 4
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


@njit(inline=True)
def subpixel_context(image, y, x, c, tile, weights, k, cum, nb, ctx, pr, predicting):
    """Subpixel k's distribution (``cum``, and its mode and spread), its neighbours, its hashed
    contexts and its predictions, from what is already coded."""
    mode, spread = distribution(weights, k, cum)
    neighbours(image, y, x, c, tile, nb)
    context_hashes(nb, c, mode, spread, ctx)
    if predicting:
        predict(image, y, x, c, tile, pr)
    return mode, spread


@njit(inline=True)
def weight_sets(c, bit_pos, st_net, lo, hi, nb, mode, spread):
    """Each mixer's weight set: by the network's confidence and which of W, N and its mode the
    value can still be; by its spread; by the levels of its mode and of W."""
    agree = (1 if lo <= nb[W] < hi else 0) + (2 if lo <= nb[N] < hi else 0) + (4 if lo <= mode < hi else 0)
    return (((c * 8 + bit_pos) * 4 + min(3, abs(st_net) >> 9)) * 8 + agree, (c * 8 + bit_pos) * 16 + spread,
            (c * 8 + bit_pos) * 64 + (mode >> 5) * 8 + (nb[W] >> 5))


@njit(inline=True)
def apm_rows(c, bit_pos, node, st_net, nb, level_apm):
    """Each APM's row: by node; by bit position and the network's probability; by node, W's level
    and the W-N step (revision 3)."""
    row3 = (c * 256 + node) * 64 + min(15, nb[W] >> 4) * 4 + min(3, abs(nb[W] - nb[N]) >> 3) if level_apm else 0
    return c * 256 + node, (c * 8 + bit_pos) * 24 + min(23, ((st_net + 2048) * 24) >> 12), row3


@njit
def code(image, ys, xs, cs, weights, values, costs, tile, decode, contexts, counters, chosen, predictions, extras, mix1, mix2, mix3,
         apm1, apm2, apm3, squash, stretch, rate, cost, cstate, buf, trace):
    """Code ``values[k]`` (or, with ``decode``, decode into ``values``) as the subpixels
    (ys[k], xs[k], cs[k]) in order, subpixel k by its 256 weights ``weights[k]``, writing each
    into ``image`` once coded: contexts read only what both sides have written there, whatever
    the order. The encoder gets each subpixel's cost in ``costs`` (2^-16 bits); ``trace``, when
    it has room, every coded decision's probability. Returns the number of decisions coded."""
    mask = (counters.shape[1] - 1) & ~15
    level_mixer, falling, level_apm = extras & LEVEL_MIXER, extras & FALLING_RATES, extras & LEVEL_APM
    n_ctx, inputs = contexts.shape[0], mix1.shape[1] - 1
    ctx, nb, pr = np.zeros(N_CONTEXTS, np.int64), np.zeros(16, np.int64), np.zeros(N_PREDICTIONS, np.int64)
    slot, bucket, pslot = np.zeros(n_ctx, np.int64), np.zeros(n_ctx, np.int64), np.zeros(chosen.shape[0], np.int64)
    x_in, cum = np.zeros(inputs, np.int64), np.zeros(257, np.int64)
    decisions = 0
    for k in range(ys.shape[0]):
        y, x, c = ys[k], xs[k], cs[k]
        mode, spread = subpixel_context(image, y, x, c, tile, weights, k, cum, nb, ctx, pr, chosen.shape[0] > 0)
        parity = (y & 1) * 2 + (x & 1)
        value = 0 if decode else np.int64(values[k])
        lo, hi, node = 0, 256, 1
        for bit_pos in range(8):
            if bit_pos == 0 or bit_pos == 4:
                for j in range(n_ctx):
                    bucket[j] = hash4(ctx[contexts[j]], c, contexts[j], node) & mask
            mid = (lo + hi) >> 1
            s0, s1 = cum[mid] - cum[lo], cum[hi] - cum[mid]
            if s0 == 0 or s1 == 0:                    # forced by the weights: nothing to code
                bit = 1 if s1 > 0 else 0
            else:
                st_net = stretch[min(4095, max(1, (s1 << 12) // (s0 + s1)))]
                within = node if bit_pos < 4 else node - ((node >> (bit_pos - 4)) << (bit_pos - 4)) + (1 << (bit_pos - 4))
                gather_inputs(x_in, st_net, counters, slot, bucket, within, predictions, pslot, pr, chosen,
                        ((c * 4 + parity) * 8 + bit_pos) << 8, lo, stretch)
                set1, set2, set3 = weight_sets(c, bit_pos, st_net, lo, hi, nb, mode, spread)
                p1, p2, p3, p_mix = mixed(x_in, inputs, mix1, mix2, mix3, set1, set2, set3, level_mixer, squash)
                pos = stretch[p_mix] + 2048
                row1, row2, row3 = apm_rows(c, bit_pos, node, st_net, nb, level_apm)
                p = refined(p_mix, apm1, apm2, apm3, row1, row2, row3, pos, level_apm)
                if decisions < trace.shape[0]:
                    trace[decisions] = p
                decisions += 1
                if decode:
                    bit = coder.decode_bit(cstate, buf, p)
                else:
                    bit = 1 if value >= mid else 0
                    coder.encode_bit(cstate, buf, bit, p)
                    costs[k] += cost[p if bit else 4096 - p]
                mixers_learn(bit, p1, p2, p3, x_in, inputs, mix1, mix2, mix3, set1, set2, set3, level_mixer, falling)
                apm_learn(apm1, row1, pos, bit)
                apm_learn(apm2, row2, pos, bit)
                if level_apm:
                    apm_learn(apm3, row3, pos, bit)
                counters_learn(bit, counters, slot, predictions, pslot, rate)
            lo, hi, node = (mid, hi, node * 2 + 1) if bit else (lo, mid, node * 2)
        values[k] = lo
        image[y, x, c] = lo
    return decisions
