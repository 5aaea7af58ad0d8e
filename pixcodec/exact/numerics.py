"""Two arithmetics for one model description: float for training, exact for coding.

An arithmetic decoder must see bit for bit the probabilities the encoder used.
Float inference cannot promise that: on a 2-core CPU a matmul's result already
changes with the batch size (1 vs 7 rows) and the thread count, and
``torch.sigmoid`` differs between its scalar and vectorised paths.

``ExactNumerics`` runs the same model on dyadic grids instead. Activations are
multiples of 2^-12 clamped to +-256, weights multiples of 2^-14, biases of
2^-26. Every product and partial sum is then a multiple of 2^-26, and while a
layer's weight rows have L1 norm below 2^18 (checked when quantizing) every
partial sum stays below 2^26 in magnitude: float64 holds all of them exactly,
so the result is the same whatever order any BLAS kernel, batch size, thread
count or machine adds in. Results are floored back onto the
2^-12 grid (exact), and tanh, sigmoid and exp are read from tables built in
integer arithmetic from one correctly rounded constant each, so every
platform builds identical tables.

Convolutions are unfold + matmul in float64: no Winograd or FFT algorithm can
slip in, and the same code computes a conv at a handful of positions for the
incremental decoder. Both arithmetics share the verbs of float_numerics.py; a
model's forward is written once against them.
"""
from __future__ import annotations

import mmap

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import kernels
from .convs import conv_weight, geometry
from .float_numerics import FLOAT, FloatNumerics, SharedVerbs  # noqa: F401  (the float side, read from here too)

# the grids the tables are on, and the tables: the arithmetic's users import them from here
from .tables import ACT_BITS, EXP_BITS, EXP_RANGE, SQUASH_RANGE, exact_tables  # noqa: F401

WEIGHT_BITS = 14       # weights on the grid 2^-14
ACT_LIMIT = 256.0      # |activation| <= 256 keeps every sum exact (see module doc)
SHARPNESS_BITS = 4     # a coding temperature k scales logits by k / 16
SHARPNESS_ONE = 1 << SHARPNESS_BITS


ELEMENTWISE = 1 << 12          # elements from which a decoder's fused steps run compiled (kernels.py)
LAZY_BYTES = 1 << 24           # below this, torch's own zeros: faster to touch (no page faults)


def lazy_zeros(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A zero tensor whose memory, when large, is committed only as it is written: fresh anonymous
    pages, kept off huge pages (one touched byte would commit 2 MB). A decoder's buffers for a
    header's claimed size then cost what the file really decodes, so a forged size that fails
    early fails cheaply."""
    item = torch.empty((), dtype=dtype).numpy().dtype
    size = int(np.prod(shape)) * item.itemsize
    if size < LAZY_BYTES:
        return torch.zeros(*shape, dtype=dtype)
    pages = mmap.mmap(-1, size)                      # page-aligned, zero until written
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        pages.madvise(mmap.MADV_NOHUGEPAGE)
    return torch.from_numpy(np.frombuffer(pages, dtype=item).reshape(shape))


def _grid(x: torch.Tensor, bits: int = ACT_BITS) -> torch.Tensor:
    """Floor onto the 2^-bits grid (exact: scaling by a power of two loses nothing)."""
    return torch.floor(x * (1 << bits)) / (1 << bits)


def _grid_(x: torch.Tensor) -> torch.Tensor:
    """``_grid`` in place, for fresh intermediates on the decoding hot path."""
    return x.mul_(1 << ACT_BITS).floor_().div_(1 << ACT_BITS)


def convs_of(model: nn.Module) -> list[nn.Module]:
    """Every conv the arithmetic computes, in the model's module order: a MaskedConv2d (not its
    inner nn.Conv2d), a PaddedConv2d or an unpadded nn.Conv2d. The order is what sections that
    change every layer (pxc.ChannelDeltas) and the model id count in."""
    inner = {id(m.conv) for m in model.modules() if hasattr(m, "mask")}   # reached via their MaskedConv2d
    return [m for m in model.modules() if (isinstance(m, nn.Conv2d) and id(m) not in inner) or hasattr(m, "mask")]


class ExactNumerics(SharedVerbs):
    """Order-independent arithmetic for coding; build one per model (it quantizes the weights)."""

    exact = True
    dtype = torch.float64

    def __init__(self, model: nn.Module):
        # id(conv) -> (quantized weight transposed to (Cin*kh*kw, out), bias, padding)
        self._convs: dict[int, tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int]]] = {}
        with torch.no_grad():
            for module in convs_of(model):
                weight, bias, pad = conv_weight(module)
                w = _grid(weight.double() + 2.0 ** -(WEIGHT_BITS + 1), WEIGHT_BITS).flatten(1)  # nearest
                b = torch.zeros(w.shape[0], dtype=torch.float64) if bias is None else \
                    _grid(bias.double() + 2.0 ** -(ACT_BITS + WEIGHT_BITS + 1), ACT_BITS + WEIGHT_BITS)
                if float(w.abs().sum(1).max()) * ACT_LIMIT + float(b.abs().max()) >= 2.0 ** 26:
                    raise ValueError("weights too large for exact arithmetic (a row's L1 norm must stay below 2^18)")
                self._convs[id(module)] = (w.t().contiguous(), b, pad)
        self.tables = exact_tables()
        self._memo: dict = {}

    def memo(self, key, make):
        """make(), kept for this arithmetic under ``key``: what decoders derive from the fixed,
        quantized weights (every state of a lockstep group shares one copy)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def replaced(self, module: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> "ExactNumerics":
        """A copy computing ``module`` with this weight (out, Cin*kh*kw) and bias (out,), float64
        on the weight and bias grids; the model id still names the original (see tune.py)."""
        return self.replaced_all([(module, weight, bias)])

    def replaced_all(self, changes: list[tuple[nn.Module, torch.Tensor, torch.Tensor]]) -> "ExactNumerics":
        """``replaced`` for several convs at once: one copy, one set of memos."""
        convs = dict(self._convs)
        for module, weight, bias in changes:
            w_t, b, pad = self._convs[id(module)]
            if weight.shape != w_t.t().shape or bias.shape != b.shape:
                raise ValueError("a replacement must keep the layer's shape")
            if not (torch.equal(_grid(weight, WEIGHT_BITS), weight) and
                    torch.equal(_grid(bias, ACT_BITS + WEIGHT_BITS), bias)):
                raise ValueError("replacement weights must lie on the exact grids")
            if float(weight.abs().sum(1).max()) * ACT_LIMIT + float(bias.abs().max()) >= 2.0 ** 26:
                raise ValueError("weights too large for exact arithmetic")
            convs[id(module)] = (weight.t().contiguous(), bias, pad)
        copy = object.__new__(ExactNumerics)
        copy.__dict__.update(self.__dict__)
        copy._convs = convs
        copy._memo = {}             # derived from the old weights
        return copy

    def quantized(self) -> list[tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int]]]:
        """Every conv's (weight, bias, padding) on the grids, in the model's module order."""
        return [(w_t.t(), b, pad) for w_t, b, pad in self._convs.values()]

    def input(self, x: torch.Tensor) -> torch.Tensor:
        return self.tables["input"].to(x.device)[x.long()]

    def conv(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        w_t, b, pad = self._convs[id(module)]
        bsz, _, h, wd = x.shape
        cols = F.unfold(F.pad(x, pad), geometry(module)[0])             # (B, Cin*kh*kw, H*W)
        out = torch.matmul(w_t.t().to(x.device), cols) + b.to(x.device)[:, None]
        return _grid_(out).clamp_(-ACT_LIMIT, ACT_LIMIT).view(bsz, -1, h, wd)

    def dense(self, module: nn.Module, v: torch.Tensor, outputs: slice = slice(None)) -> torch.Tensor:
        """The same conv on flattened input windows (N, C*kh*kw) -> (N, out), bit for bit."""
        w_t, b, _ = self._convs[id(module)]
        return _grid_(torch.addmm(b[outputs], v.double(), w_t[:, outputs])).clamp_(-ACT_LIMIT, ACT_LIMIT)

    def parts(self, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """The quantized (weight (out, Cin, kh, kw), bias (out,)) in float64."""
        w_t, b, _ = self._convs[id(module)]
        conv = module.conv if hasattr(module, "mask") else module
        return w_t.t().reshape(conv.weight.shape), b

    def finish(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        """A completed conv sum (bias and every tap), fresh, onto the grid in place and clamped as
        ``dense`` does; ``relu`` folds the following ReLU into the clamp."""
        return _grid_(x).clamp_(0.0 if relu else -ACT_LIMIT, ACT_LIMIT)

    # The sheared decoder holds activations in grid steps, integers: a value v is v * 2^12. Sums
    # of such integers times weights are multiples of 2^-14 below 2^38, as exact as the unscaled
    # ones, and going back onto the grid is a bare floor: the hot path's four ops become two.
    unit = float(1 << ACT_BITS)

    def finish_into(self, acc: torch.Tensor, out: torch.Tensor, relu: bool = False) -> torch.Tensor:
        """``finish`` for a sum in grid steps, written into ``out`` (a view: no copy after)."""
        lo, hi = 0.0 if relu else -ACT_LIMIT * self.unit, ACT_LIMIT * self.unit
        if kernels.usable(out, acc, least=ELEMENTWISE):
            return kernels.finish(acc, out, lo, hi)
        torch.floor(acc, out=out)
        return out.clamp_(lo, hi)

    def residual_into(self, acc: torch.Tensor, h: torch.Tensor, out: torch.Tensor, rectified: torch.Tensor) -> None:
        if kernels.usable(out, acc, h, rectified, least=ELEMENTWISE):
            kernels.residual(acc, h, out, rectified, ACT_LIMIT * self.unit)
        else:
            super().residual_into(acc, h, out, rectified)

    def add_into(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``add`` of two activations in grid steps, written into ``out``."""
        torch.add(a, b, out=out)
        return out.clamp_(-ACT_LIMIT * self.unit, ACT_LIMIT * self.unit)

    def gate(self, a: torch.Tensor) -> torch.Tensor:
        f, g = a.chunk(2, dim=1)
        return _grid_(self._squash("tanh", f).mul_(self._squash("sigmoid", g)))

    def sigmoid(self, x: torch.Tensor) -> torch.Tensor:
        return self._squash("sigmoid", x)

    def tanh(self, x: torch.Tensor) -> torch.Tensor:
        return self._squash("tanh", x)

    def relu(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp_min(0.0)

    def mul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """An elementwise product of grid values (exact in float64), floored back onto the grid."""
        return _grid_(a.double() * b.double()).clamp_(-ACT_LIMIT, ACT_LIMIT)

    def add(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a + b).clamp_(-ACT_LIMIT, ACT_LIMIT)

    def side_input(self, cond: torch.Tensor) -> torch.Tensor:
        return self._clamp(_grid(cond.double()))

    def laplace(self, values: torch.Tensor, mu: torch.Tensor, sharpness: torch.Tensor) -> torch.Tensor:
        """-sharpness |values - mu| as ``mul`` rounds it; one compiled pass for a decoder's block."""
        if mu.dim() == 2 and values.dim() == 1 and kernels.usable(
                mu, values, sharpness, least=kernels.MIN_ELEMENTS // len(values)):     # (N, 256) out
            return kernels.laplace_logits(values, mu, sharpness, 1 << ACT_BITS, ACT_LIMIT)
        return self.mul(sharpness, (values - mu).abs_()).neg_()

    def _squash(self, name: str, x: torch.Tensor) -> torch.Tensor:
        index = (x.clamp(-SQUASH_RANGE, SQUASH_RANGE) * (1 << ACT_BITS) + SQUASH_RANGE * (1 << ACT_BITS)).long()
        return self.tables[name][index]

    @staticmethod
    def _clamp(x: torch.Tensor) -> torch.Tensor:
        return x.clamp(-ACT_LIMIT, ACT_LIMIT)

    def probabilities(self, logits: torch.Tensor, sharpness: torch.Tensor | None = None) -> torch.Tensor:
        """Unnormalised integer weights (float64) for exact logits (B, 256, ...): exp from a table.

        sharpness: (B,) integers k, each row's logits scaled by k / SHARPNESS_ONE (a temperature
        the encoder picks per tile and the file carries), in integer arithmetic: exact."""
        # d counts grid steps below the mode: an exact integer, hence an exact table index;
        # scaled by k / 16 it is a multiple of 1/16 below 2^30, floored exactly in float64
        table = self.tables["exp"].to(logits.device)
        if logits.dim() == 2 and kernels.usable(logits, table):
            factor = (torch.full((len(logits),), float(1 << ACT_BITS), dtype=torch.float64) if sharpness is None else
                      sharpness.reshape(-1).double() * (1 << (ACT_BITS - SHARPNESS_BITS)))
            return kernels.weights(logits, factor, EXP_RANGE << ACT_BITS, table)
        d = logits.amax(dim=1, keepdim=True) - logits
        if sharpness is None:
            d.mul_(1 << ACT_BITS)
        else:
            d.mul_(sharpness.view(-1, *[1] * (d.dim() - 1)).double() * (1 << (ACT_BITS - SHARPNESS_BITS))).floor_()
        # int32, not int64: doubles convert to it several times faster on the decoding hot path;
        # and index_select on the flat index is several times faster than advanced indexing
        d = d.clamp_max_(EXP_RANGE << ACT_BITS).int()
        return torch.index_select(table, 0, d.reshape(-1)).view(d.shape)
