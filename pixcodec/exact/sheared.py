"""Wavefront caches without gathers: sheared ring buffers and convolutions split at the centre tap.

At wavefront step t the engine decodes pixels (i, j) with j + s*i = t. In the
sheared coordinate u = j + s*i all of them sit in one column, u = t, and a
kernel tap (di, dj) of every one of them reads column t + dj + s*di, rows
i + di: one slice per tap, no index arithmetic. Only the last few columns are
ever read again, so a canvas keeps a ring of ``ring`` columns::

    (C, ring, H + margin, B)       (i, j) of image b lives at [:, (j + s*i) mod ring, margin + i, b]

A step's pixels, rows first..last of one ring column, are then a (C, N) matrix
with N = P * B pixels in **pixel-major** order (row i's B images together) and
unit stride along N: a tap is a plain view that BLAS reads in place, and every
feature here is held the same way, features x pixels. MKL multiplies
(out, K) by (K, N) about twice as fast as (N, K) by (K, out) when out is a few
dozen features, as in every channel pass, and a pass's feature group is a run
of whole rows, contiguous. Only the head's few outputs per pixel are reordered
to the batch-major rows the engine's ``choose`` sees.

``begin(t, first, last)`` clears what column t held for rows other than the
ones step t writes, so rows with no pixel at step t (outside the image) read as
zero padding, and so does the margin above row 0 (never written).

A causal conv reads finished pixels through its past taps and the pixel being
decoded through its centre tap. ``SplitConv`` keeps the two weight sets apart:
the past part is computed once per step for every output; the centre part is added
per channel pass, for just the output group that pass decodes (features of
group c at the current pixel read only groups <= c). In exact arithmetic the
split sums equal the full conv bit for bit; only zero-weight terms are skipped.

Everything here is held in units of 1/``num.unit``: grid steps, integers, in exact
arithmetic (numerics.py), where rounding a finished sum back onto the grid is then a
single floor written straight into the layer's feature rows.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn

from .convs import geometry
from .numerics import lazy_zeros


class ShearedCanvas:
    def __init__(self, batch: int, channels: int, height: int, ring: int, margin: int, skew: int,
                 dtype: torch.dtype):
        self.ring, self.margin, self.skew = ring, margin, skew
        self.data = lazy_zeros(channels, ring, height + margin, batch, dtype=dtype)
        self.rows_in = [(0, -1)] * ring          # rows each ring column last held pixels for

    def begin(self, t: int, first: int, last: int) -> None:
        """Step t will write rows first..last of column t: clear whatever else the column still holds."""
        slot, m = t % self.ring, self.margin
        old_first, old_last = self.rows_in[slot]
        if old_first < first:
            self.data[:, slot, m + old_first:m + min(old_last, first - 1) + 1].zero_()
        if old_last > last:
            self.data[:, slot, m + max(old_first, last + 1):m + old_last + 1].zero_()
        self.rows_in[slot] = (first, last)

    def column(self, t: int, first: int, last: int, di: int = 0, dj: int = 0) -> torch.Tensor:
        """Tap (di, dj) of rows first..last at step t (the pixels themselves for (0, 0)) -> (C, N)
        view, pixel-major; writing into it writes the canvas."""
        m = self.margin
        cells = self.data[:, (t + dj + self.skew * di) % self.ring, m + first + di:m + last + 1 + di]
        return cells.view(cells.shape[0], -1)


class SplitConv:
    """A masked conv as past-tap weights, (out, Cin) per tap, and centre weights (out, Cin),
    in ``num``'s dtype.

    Its inputs and outputs are in units of 1/``num.unit`` (grid steps in exact arithmetic), so
    only the bias is rescaled: a weight times an input in grid steps is a sum in grid steps."""

    def __init__(self, num, module: nn.Module):
        weight, bias = num.parts(module)                                # (out, Cin, kh, kw), (out,)
        self.bias = (bias * num.unit)[:, None]                          # exact: a power of two
        (kh, kw), (left, _, top, _) = geometry(module)
        mask = module.mask if hasattr(module, "mask") else torch.ones_like(weight)
        centre = (top, left)
        self.offsets = [(r - top, q - left) for r in range(kh) for q in range(kw)
                        if (r, q) != centre and bool(mask[:, :, r, q].any())]
        if any(di > 0 or (di == 0 and dj >= 0) for di, dj in self.offsets):
            raise ValueError("a split conv's past taps must lie strictly before the centre")
        past = [weight[:, :, di + top, dj + left].contiguous() for di, dj in self.offsets]   # (out, Cin) each
        # Few input channels (the image's 3) make per-tap products too thin to pay: those
        # taps are stacked into one (T*Cin, N) operand instead, tap-major like the weights.
        self.stacked = weight.shape[1] < 16
        self.past = ([torch.cat(past, dim=1)] if past else []) if self.stacked else past
        self.centre = weight[:, :, top, left].contiguous() if 0 <= top < kh and 0 <= left < kw else None

    def lookback(self, skew: int) -> int:
        """How many columns back (in sheared coordinates) its taps read."""
        return max([-(dj + skew * di) for di, dj in self.offsets], default=0)

    def past_part(self, num, canvas: ShearedCanvas, t: int, first: int, last: int) -> torch.Tensor:
        """bias + past taps, unrounded, for every output -> (out, N)."""
        n = canvas.data.shape[3] * (last - first + 1)
        if not self.past:
            return self.bias.expand(-1, n)
        taps = [canvas.column(t, first, last, di, dj) for di, dj in self.offsets]
        if self.stacked:
            taps = [torch.stack(taps).view(-1, n)]
        acc = num.mac(self.bias, self.past[0], taps[0])
        for w, v in zip(self.past[1:], taps[1:]):
            num.mac(acc, w, v, out=acc)
        return acc

    def centre_for(self, inputs: slice, outputs: slice) -> "CentrePart":
        """The centre tap from ``inputs`` to ``outputs``, sliced once for a channel pass."""
        weight = self.centre[outputs, inputs] if self.centre is not None and inputs.stop > (inputs.start or 0) else None
        return CentrePart(self.bias[outputs], None if weight is None else weight.contiguous(), outputs)


class CentrePart(NamedTuple):
    bias: torch.Tensor               # (out, 1) of the pass's outputs
    weight: torch.Tensor | None      # (out, Cin), None when the pass reads no input at the centre
    outputs: slice

    def __call__(self, num, current: torch.Tensor, out: torch.Tensor, acc: torch.Tensor | None = None,
                 relu: bool = False) -> torch.Tensor:
        """(acc or bias)[outputs] + the centre weights times current (Cin, N), rounded (and
        rectified: the ReLU that follows most layers, in the same pass) into ``out``, an
        (out, N) view of where the layer keeps its features."""
        return num.finish_into(self.sum(num, current, acc).expand_as(out), out, relu)

    def sum(self, num, current: torch.Tensor, acc: torch.Tensor | None = None) -> torch.Tensor:
        """(acc or bias)[outputs] + the centre weights times current, unrounded: (out, N) or (out, 1)."""
        acc = self.bias if acc is None else acc[self.outputs]
        return acc if self.weight is None else num.mac(acc, self.weight, current)


def group_bounds(groups: torch.Tensor, c: int) -> tuple[int, int]:
    """(start, stop) of channel group c's features: groups are contiguous blocks."""
    return int((groups < c).sum()), int((groups <= c).sum())
