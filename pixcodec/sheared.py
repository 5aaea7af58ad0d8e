"""Wavefront caches without gathers: sheared ring buffers and convolutions split at the centre tap.

At wavefront step t the engine decodes pixels (i, j) with j + s*i = t. In the
sheared coordinate u = j + s*i all of them sit in one column, u = t, and a
kernel tap (di, dj) of every one of them reads column t + dj + s*di, rows
i + di: one slice per tap, no index arithmetic. Only the last few columns are
ever read again, so a canvas keeps a ring of ``ring`` columns::

    image rows  ->  ring rows      (i, j) lives at ring column (j + s*i) mod ring
    (B, H + margin, ring, C)       channels last: a tap's slice is (B, P, C) rows of C

``begin(t, first, last)`` clears what column t held for rows other than the
ones step t writes, so rows with no pixel at step t (outside the image) read as
zero padding, and so does the margin above row 0 (never written).

A causal conv reads finished pixels through its past taps and the pixel being
decoded through its centre tap. ``SplitConv`` keeps the two weight sets apart:
the past part is one matmul per step for every output; the centre part is added
per channel pass, for just the output group that pass decodes (features of
group c at the current pixel read only groups <= c). In exact arithmetic the
split sums equal the full conv bit for bit; only zero-weight terms are skipped.

Everything here is held in units of 1/``num.unit``: grid steps, integers, in exact
arithmetic (numerics.py), where rounding a finished sum back onto the grid is then a
single floor written straight into the layer's feature slice.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn

from .numerics import geometry


class ShearedCanvas:
    def __init__(self, batch: int, channels: int, height: int, ring: int, margin: int, skew: int,
                 dtype: torch.dtype):
        self.ring, self.margin, self.skew = ring, margin, skew
        self.data = torch.zeros(batch, height + margin, ring, channels, dtype=dtype)
        self.rows_in = [(0, -1)] * ring          # rows each ring column last held pixels for

    def begin(self, t: int, first: int, last: int) -> None:
        """Step t will write rows first..last of column t: clear whatever else the column still holds."""
        slot, m = t % self.ring, self.margin
        old_first, old_last = self.rows_in[slot]
        if old_first < first:
            self.data[:, m + old_first:m + min(old_last, first - 1) + 1, slot].zero_()
        if old_last > last:
            self.data[:, m + max(old_first, last + 1):m + old_last + 1, slot].zero_()
        self.rows_in[slot] = (first, last)

    def write(self, t: int, first: int, last: int, values: torch.Tensor, channels: slice = slice(None)) -> None:
        """values (B*P, c) for rows first..last of step t, into ``channels``."""
        m = self.margin
        self.data[:, m + first:m + last + 1, t % self.ring, channels] = values.view(self.data.shape[0], last - first + 1, -1)

    def taps(self, t: int, first: int, last: int, offsets: list[tuple[int, int]]) -> torch.Tensor:
        """The inputs at tap offsets (di, dj) of rows first..last -> (B*P, taps*C), tap-major."""
        m, s = self.margin, self.skew
        parts = [self.data[:, m + first + di:m + last + 1 + di, (t + dj + s * di) % self.ring] for di, dj in offsets]
        return torch.stack(parts, dim=2).view(-1, len(offsets) * self.data.shape[3])


class SplitConv:
    """A masked conv as past-tap weights (T*Cin, out) and centre weights (Cin, out), in ``num``'s dtype.

    Its inputs and outputs are in units of 1/``num.unit`` (grid steps in exact arithmetic), so
    only the bias is rescaled: a weight times an input in grid steps is a sum in grid steps."""

    def __init__(self, num, module: nn.Module):
        weight, bias = num.parts(module)                                # (out, Cin, kh, kw), (out,)
        self.bias = bias * num.unit                                     # exact: a power of two
        (kh, kw), (left, _, top, _) = geometry(module)
        mask = module.mask if hasattr(module, "mask") else torch.ones_like(weight)
        centre = (top, left)
        self.offsets = [(r - top, q - left) for r in range(kh) for q in range(kw)
                        if (r, q) != centre and bool(mask[:, :, r, q].any())]
        if any(di > 0 or (di == 0 and dj >= 0) for di, dj in self.offsets):
            raise ValueError("a split conv's past taps must lie strictly before the centre")
        past = [weight[:, :, di + top, dj + left] for di, dj in self.offsets]          # (out, Cin) each
        self.past = torch.cat(past, dim=1).t().contiguous() if past else None         # (T*Cin, out)
        self.centre = weight[:, :, top, left].t().contiguous() if 0 <= top < kh and 0 <= left < kw else None

    def lookback(self, skew: int) -> int:
        """How many columns back (in sheared coordinates) its taps read."""
        return max([-(dj + skew * di) for di, dj in self.offsets], default=0)

    def past_part(self, num, canvas: ShearedCanvas, t: int, first: int, last: int) -> torch.Tensor:
        """bias + past taps, unrounded, for every output -> (B*P, out)."""
        n = canvas.data.shape[0] * (last - first + 1)
        if self.past is None:
            return self.bias.expand(n, -1)
        return num.mac(self.bias, canvas.taps(t, first, last, self.offsets), self.past)

    def centre_for(self, inputs: slice, outputs: slice) -> "CentrePart":
        """The centre tap from ``inputs`` to ``outputs``, sliced once for a channel pass."""
        weight = self.centre[inputs, outputs] if self.centre is not None and inputs.stop > (inputs.start or 0) else None
        return CentrePart(self.bias[outputs], weight, outputs)


class CentrePart(NamedTuple):
    bias: torch.Tensor               # (out,) of the pass's outputs
    weight: torch.Tensor | None      # (Cin, out), None when the pass reads no input at the centre
    outputs: slice

    def __call__(self, num, current: torch.Tensor, out: torch.Tensor, acc: torch.Tensor | None = None,
                 relu: bool = False) -> torch.Tensor:
        """(acc or bias)[:, outputs] + current (B*P, Cin) times the centre weights, rounded (and
        rectified: the ReLU that follows most layers, in the same pass) into ``out``, a
        (B*P, out) view of where the layer keeps its features."""
        acc = self.bias if acc is None else acc[:, self.outputs]
        if self.weight is not None:
            acc = num.mac(acc, current, self.weight)
        return num.finish_into(acc.expand_as(out), out, relu)


def group_bounds(groups: torch.Tensor, c: int) -> tuple[int, int]:
    """(start, stop) of channel group c's features: groups are contiguous blocks."""
    return int((groups < c).sum()), int((groups <= c).sum())
