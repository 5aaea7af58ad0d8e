"""The incremental decoding engine: one loop that compress, decompress and sample all drive.

Naive autoregressive decoding runs the whole network once per subpixel. The
engine instead keeps every layer's activations in ``Canvas`` caches and, for
each new subpixel, computes each layer at that one position only: a conv at a
position is its weights times the window of cached inputs around it. A model
plugs in by returning a state from ``model.incremental(num, batch, h, w, cond)``
with three methods:

    logits(image, i, j, c) -> (B, 256)   channel c of pixel (i, j), every earlier subpixel known
    pixel_done(image, i, j)              pixel (i, j) is complete
    row_done(image, i)                   row i is complete (e.g. the Gated PixelCNN's vertical stack)

Run with ``ExactNumerics`` the cached results equal the full forward pass bit
for bit (exact arithmetic is order-free), which the tests check for every model.
The ``choose`` callback decides each subpixel's value: the true value when
encoding, the decoded one when decoding, a draw when sampling.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from .numerics import gather_patches, kernel_size, conv_weight

Choose = Callable[[torch.Tensor, int, int, int], torch.Tensor]


class Canvas:
    """A (B, C, H, W) activation map with a zero margin, filled one position or row at a time."""

    def __init__(self, batch: int, channels: int, height: int, width: int, margin: int,
                 dtype: torch.dtype, device: torch.device | str = "cpu"):
        self.margin = margin
        self.data = torch.zeros(batch, channels, height + 2 * margin, width + 2 * margin, dtype=dtype, device=device)
        self._b = torch.arange(batch, device=device)

    def write(self, i: int, j: int, values: torch.Tensor) -> None:
        """values (B, C) at pixel (i, j)."""
        self.data[:, :, i + self.margin, j + self.margin] = values

    def write_row(self, i: int, values: torch.Tensor) -> None:
        """values (B, C, W) along row i."""
        m = self.margin
        self.data[:, :, i + m, m:self.data.shape[3] - m] = values

    def at(self, i: int, j: int) -> torch.Tensor:
        """(B, C) at pixel (i, j); the zero margin stands in for positions outside the image."""
        return self.data[:, :, i + self.margin, j + self.margin]

    def window(self, module: nn.Module, i: int, j: int) -> torch.Tensor:
        """The input window of ``module`` for output pixel (i, j) -> (B, C*kh*kw)."""
        n = len(self._b)
        rows, cols = torch.full((n,), i, device=self._b.device), torch.full((n,), j, device=self._b.device)
        return gather_patches(self.data, self.margin, conv_weight(module)[2], kernel_size(module), self._b, rows, cols)

    def row_windows(self, module: nn.Module, i: int) -> torch.Tensor:
        """Input windows for every output pixel of row i -> (B * W, C*kh*kw), batch-major."""
        width = self.data.shape[3] - 2 * self.margin
        b = self._b.repeat_interleave(width)
        cols = torch.arange(width, device=b.device).repeat(len(self._b))
        return gather_patches(self.data, self.margin, conv_weight(module)[2], kernel_size(module),
                              b, torch.full_like(cols, i), cols)


def margin_for(*modules: nn.Module) -> int:
    """The zero margin a canvas needs so that every window of these convs stays inside it."""
    return max(max(conv_weight(m)[2]) for m in modules)


@torch.no_grad()
def run(model: nn.Module, num, batch: int, height: int, width: int, choose: Choose,
        cond: torch.Tensor | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Visit every subpixel in coding order (raster, then R, G, B) and return the uint8 image."""
    channels = model.in_channels
    image = torch.zeros(batch, channels, height, width, dtype=torch.uint8, device=device)
    state = model.incremental(num, batch, height, width, cond)
    for i in range(height):
        for j in range(width):
            for c in range(channels):
                image[:, c, i, j] = choose(state.logits(image, i, j, c), c, i, j)
            state.pixel_done(image, i, j)
        state.row_done(image, i)
    return image


def teacher_forced(x: torch.Tensor) -> Choose:
    """A ``choose`` that replays known values: the encoder's side of the engine."""
    return lambda logits, c, i, j: x[:, c, i, j]


@torch.no_grad()
def run_naive(model: nn.Module, num, batch: int, height: int, width: int, choose: Choose,
              cond: torch.Tensor | None = None, limit: int | None = None) -> torch.Tensor:
    """The reference the engine replaces: one full forward pass per subpixel.

    Same visiting order and ``choose`` protocol as ``run``; ``limit`` stops after that many
    subpixels (benchmarks time a prefix, as every step costs the same).
    """
    channels = model.in_channels
    image = torch.zeros(batch, channels, height, width, dtype=torch.uint8)
    steps = 0
    for i in range(height):
        for j in range(width):
            for c in range(channels):
                if limit is not None and steps >= limit:
                    return image
                logits = model(image, cond, num=num)[:, :, c, i, j]
                image[:, c, i, j] = choose(logits, c, i, j)
                steps += 1
    return image
