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

from .numerics import conv_weight, kernel_size

Choose = Callable[[torch.Tensor, int, int, int], torch.Tensor]


class Canvas:
    """A (B, C, H, W) activation map with a zero margin, filled one position or row at a time."""

    def __init__(self, batch: int, channels: int, height: int, width: int, margin: int,
                 dtype: torch.dtype, device: torch.device | str = "cpu"):
        self.margin = margin
        self.data = torch.zeros(batch, channels, height + 2 * margin, width + 2 * margin, dtype=dtype, device=device)

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
        (kh, kw), (left, _, top, _) = kernel_size(module), conv_weight(module)[2]
        r, c = i - top + self.margin, j - left + self.margin
        return self.data[:, :, r:r + kh, c:c + kw].reshape(self.data.shape[0], -1)

    def row_windows(self, module: nn.Module, i: int) -> torch.Tensor:
        """Input windows for every output pixel of row i -> (B * W, C*kh*kw), batch-major."""
        (kh, kw), (left, right, top, _) = kernel_size(module), conv_weight(module)[2]
        width = self.data.shape[3] - 2 * self.margin
        r, c0 = i - top + self.margin, self.margin - left
        band = self.data[:, :, r:r + kh, c0:c0 + width + left + right]                # (B, C, kh, W + kw - 1)
        cols = torch.nn.functional.unfold(band, (kh, kw))                             # (B, C*kh*kw, W)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def margin_for(*modules: nn.Module) -> int:
    """The zero margin a canvas needs so that every window of these convs stays inside it."""
    return max(max(conv_weight(m)[2]) for m in modules)


@torch.no_grad()
def run(model: nn.Module, num, batch: int, height: int, width: int, choose: Choose,
        cond: torch.Tensor | None = None, device: torch.device | str = "cpu",
        on_row: Callable[[int], None] | None = None) -> torch.Tensor:
    """Visit every subpixel in coding order (raster, then R, G, B) and return the uint8 image.

    ``on_row(i)`` is called after each row: progress bars hang on it."""
    channels = model.in_channels
    image = torch.zeros(batch, channels, height, width, dtype=torch.uint8, device=device)
    state = model.incremental(num, batch, height, width, cond)
    for i in range(height):
        for j in range(width):
            for c in range(channels):
                image[:, c, i, j] = choose(state.logits(image, i, j, c), c, i, j)
            state.pixel_done(image, i, j)
        state.row_done(image, i)
        if on_row is not None:
            on_row(i)
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
