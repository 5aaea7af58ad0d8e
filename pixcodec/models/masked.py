"""Masked convolutions: the one mechanism that makes every model causal.

Subpixels are ordered in raster order over pixels and R, G, B within a pixel.
A convolution is causal when each output may only read inputs that come
strictly before it (mask A) or at-or-before it in the same channel group
(mask B, used once the first layer has removed the current subpixel).

Spatially, a 5x5 raster mask keeps the rows above and the pixels to the left::

    1 1 1 1 1
    1 1 1 1 1
    1 1 c 0 0        c: the current pixel, decided by the channel mask
    0 0 0 0 0
    0 0 0 0 0

At the current pixel, features are split into R, G and B groups (one group per
image channel; a gray model has a single group). With ``g(o)`` the group of an
output feature and ``g(i)`` the group of an input feature::

    mask A:  c[o, i] = 1  iff  g(o) >  g(i)      (G sees R; B sees R and G)
    mask B:  c[o, i] = 1  iff  g(o) >= g(i)      (each group also sees itself)

          in: R G B             in: R G B
    A   out R 0 0 0       B   out R 1 0 0
            G 1 0 0               G 1 1 0
            B 1 1 0               B 1 1 1

Masks are buffers multiplied into the weight on every call, so the stored
weights are never mutated and gradients of masked entries are exactly zero.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..exact.numerics import FLOAT


def channel_groups(n_features: int, n_groups: int) -> torch.Tensor:
    """Group index of each feature: contiguous, near-equal blocks.

    Contiguous blocks mean that an output layer with ``256 * C`` features puts
    channel c's logits in block c, which is what the logits reshape relies on.
    """
    if n_features < n_groups:
        raise ValueError(f"{n_features} features cannot be split into {n_groups} channel groups")
    return torch.arange(n_features) * n_groups // n_features


def center_mask(out_groups: torch.Tensor, in_groups: torch.Tensor, mask_type: str) -> torch.Tensor:
    """(out, in) 0/1 matrix: which features of the current pixel an output may read."""
    if mask_type == "A":
        return (out_groups[:, None] > in_groups[None, :]).float()
    if mask_type == "B":
        return (out_groups[:, None] >= in_groups[None, :]).float()
    raise ValueError(f"mask type must be 'A' or 'B', not {mask_type!r}")


class MaskedConv2d(nn.Module):
    """A convolution whose weight is multiplied by a fixed causal mask.

    past:   (kh, kw) bool, kernel taps that always lie strictly in the past.
    center: (row, col) of the current pixel's tap, or None if the kernel has none.
    pad:    (left, right, top, bottom) zero padding that keeps the output at the
            input's size and puts the ``center`` tap over the output pixel.
    """

    def __init__(self, in_groups: torch.Tensor, out_groups: torch.Tensor, past: torch.Tensor,
                 center: tuple[int, int] | None, mask_type: str, pad: tuple[int, int, int, int]):
        super().__init__()
        kh, kw = past.shape
        mask = past.float()[None, None].repeat(len(out_groups), len(in_groups), 1, 1)
        if center is not None:
            mask[:, :, center[0], center[1]] = center_mask(out_groups, in_groups, mask_type)
        self.conv = nn.Conv2d(len(in_groups), len(out_groups), (kh, kw))
        self.out_groups = out_groups.clone()     # not a buffer: checkpoints keep their keys
        self.register_buffer("mask", mask)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return FLOAT.conv(self, x)


def raster_conv(in_groups: torch.Tensor, out_groups: torch.Tensor, k: int, mask_type: str) -> MaskedConv2d:
    """k x k (odd k) conv seeing the rows above and the pixels to the left."""
    if k % 2 != 1:
        raise ValueError(f"raster kernels must have odd size, not {k}")
    c = k // 2
    past = torch.zeros(k, k, dtype=torch.bool)
    past[:c, :] = True
    past[c, :c] = True
    return MaskedConv2d(in_groups, out_groups, past, (c, c), mask_type, (c, c, c, c))


def row_conv(in_groups: torch.Tensor, out_groups: torch.Tensor, k: int, mask_type: str) -> MaskedConv2d:
    """1 x (k//2 + 1) conv over the current pixel and the k//2 pixels to its left.

    This is the Gated PixelCNN's horizontal stack: it never reads another row.
    """
    c = k // 2
    past = torch.zeros(1, c + 1, dtype=torch.bool)
    past[0, :c] = True
    return MaskedConv2d(in_groups, out_groups, past, (0, c), mask_type, (c, 0, 0, 0))
