"""Online mixing: an adaptive stage both sides learn from the pixels they already share.

The model's distribution has a fixed shape (a discrete Laplace for the predictive head): a
photo whose residuals have heavier tails, a bias, or exact repeats (graphics) pays for the
mismatch everywhere. This stage keeps, per coded channel and *spread context* (how wide the
model's distribution is), a histogram of where the true value fell relative to the model's
mode, and codes with the mixture

    w(v) = a * p_model(v) + (1 - a) * p_hist(v - mode)

where a comes from ``ALPHAS`` per context: the one whose code length on that context's past
symbols is smallest (a = 1, the plain model, until another has proved better). Counts and
code lengths are integers, p_model and p_hist are IEEE float64 quotients and products, each
one correctly rounded, so every machine computes the same weights bit for bit. The state
changes only between wavefront steps (``flush``), from every tile of the step at once, so it
does not depend on how the engine splits a lockstep group into parts.

The state carries across a file's streams in the order the plan codes them.
"""
from __future__ import annotations

import decimal
import functools

import torch

SPAN = 511                     # residual bins: value - mode in -255..255
# Spread contexts: total weight over the mode's weight (1 for a certain symbol, up to 256),
# in quarter octaves; thresholds are decimal literals, so every machine compares alike
# (2^(i/4) for i = 1..32, to 4 decimals)
THRESHOLDS = torch.tensor([1.1892, 1.4142, 1.6818, 2.0, 2.3784, 2.8284, 3.3636, 4.0, 4.7568, 5.6569, 6.7272, 8.0,
                           9.5137, 11.3137, 13.4543, 16.0, 19.0273, 22.6274, 26.9087, 32.0, 38.0546, 45.2548,
                           53.8174, 64.0, 76.1093, 90.5097, 107.6347, 128.0, 152.2185, 181.0193, 215.2695, 256.0],
                          dtype=torch.float64)
CONTEXTS = len(THRESHOLDS) + 1
ALPHAS = torch.tensor([16, 14, 12, 8, 4, 2], dtype=torch.float64) / 16     # the model's share; 1 first
STEP = 32                      # count added for each symbol seen (8 and 128 did no better)
PSEUDO = 1                     # count every bin starts with
LIMIT = 1 << 16                # a context's counts are halved past this: recent pixels weigh more
COST_BITS = 16                 # code lengths in 1/256 bit, of probabilities on a 2^-16 grid


@functools.cache
def _cost_table() -> torch.Tensor:
    """-log2(q / 2^COST_BITS) * 256 rounded, q = 0..2^COST_BITS (q = 0 as q = 1), by decimal
    arithmetic: the same integers everywhere."""
    with decimal.localcontext() as ctx:
        ctx.prec = 30
        one, ln2 = decimal.Decimal(1 << COST_BITS), decimal.Decimal(2).ln()
        costs = [int(((one / max(q, 1)).ln() / ln2 * 256).to_integral_value(decimal.ROUND_HALF_EVEN))
                 for q in range((1 << COST_BITS) + 1)]
    return torch.tensor(costs, dtype=torch.int64)


class MixState:
    """The shared state of one file's coding: ``mix`` each channel pass's weights, ``observe``
    its symbols, ``flush`` between wavefront steps."""

    def __init__(self, channels: int, peak: float):
        self.peak = peak                                                      # the model's weight at its mode
        n = channels * CONTEXTS
        self.counts = torch.zeros(n, SPAN, dtype=torch.int64)
        self.costs = torch.zeros(n, len(ALPHAS), dtype=torch.int64)
        self.pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._tables()

    def _tables(self) -> None:
        counts = self.counts + PSEUDO
        total = counts.sum(1, keepdim=True).double()
        self.hist = counts.double() / total                                                # (ctx, SPAN)
        # integer running sums from bin 0, each divided once (a window's mass is a difference of two)
        self.cum = torch.nn.functional.pad(counts.cumsum(1), (1, 0)).double() / total      # (ctx, SPAN + 1)
        self.share = ALPHAS[self.costs.argmin(1)]                                          # (ctx,)
        self.windows = (self.hist * (1 - self.share)[:, None]).unfold(1, 256, 1)           # (ctx, 256, 256)

    def mix(self, plain: torch.Tensor, ch: int):
        """plain (N, 256) exact weights -> (the mixed weights (N, 256) float64, the context to
        hand back to ``observe``)."""
        total = plain.sum(1)                                                               # (N,)
        ctx = torch.searchsorted(THRESHOLDS, total / self.peak) + ch * CONTEXTS            # (N,)
        mode = plain.max(1).indices         # (N,) the first largest (documented); twice as fast as argmax
        share = self.share[ctx]
        mixed = plain * (share / total)[:, None]
        mixed += self.windows[ctx, 255 - mode]
        return mixed, (ctx, mode, plain, total)

    def observe(self, context, values: torch.Tensor) -> None:
        """The symbols (N,) long coded with ``mix``'s weights: their code lengths under every
        share, and their residuals, wait for the next ``flush``."""
        ctx, mode, plain, total = context
        residual = values - mode + 255
        p_model = plain.gather(1, values[:, None])[:, 0] / total                           # (N,)
        p_hist = self.hist[ctx, residual]
        # the histogram's share of a window: its mass in the 256 bins the window covers
        window = self.cum[ctx, 256 + 255 - mode] - self.cum[ctx, 255 - mode]
        a = ALPHAS[None, :]
        p = (p_model[:, None] * a + p_hist[:, None] * (1 - a)) / (a + window[:, None] * (1 - a))   # (N, J)
        q = (p * (1 << COST_BITS)).floor_().clamp_(0, 1 << COST_BITS).long()
        self.pending.append((ctx, residual, _cost_table()[q]))

    def flush(self) -> None:
        """Fold the last step's symbols into the state."""
        if not self.pending:
            return
        ctx = torch.cat([p[0] for p in self.pending])
        residual = torch.cat([p[1] for p in self.pending])
        self.costs.index_add_(0, ctx, torch.cat([p[2] for p in self.pending]))
        self.counts.view(-1).index_add_(0, ctx * SPAN + residual, torch.full_like(ctx, STEP))
        self.pending = []
        full = self.counts.sum(1) > LIMIT
        if bool(full.any()):
            self.counts[full] >>= 1
        self._tables()
