"""The convolutions both arithmetics (numerics.py) and the decoders implement, and how they are read.

Three kinds: ``MaskedConv2d`` (models/masked.py: a conv and its causal mask), ``PaddedConv2d``
below, and an unpadded ``nn.Conv2d``. The arithmetic reads a conv's weights and its explicit
``pad`` only, so anything else a conv could do (its own padding, a stride, a dilation, groups)
is refused rather than silently computed otherwise.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class PaddedConv2d(nn.Conv2d):
    """A stride-1 convolution with explicit zero padding ``pad`` = (left, right, top, bottom):
    with ``MaskedConv2d`` (models/masked.py, which has the same ``pad``) and an unpadded
    ``nn.Conv2d``, the convolutions both arithmetics and the decoders implement."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, pad: tuple[int, int, int, int],
                 bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        self.pad = pad


def _conv_and_pad(module: nn.Module) -> tuple[nn.Conv2d, tuple[int, int, int, int]]:
    """The nn.Conv2d computing ``module`` and its (left, right, top, bottom) zero padding. The
    arithmetic reads only the weights and ``pad``, so a conv with its own padding, stride,
    dilation or groups would silently compute something else: it is refused."""
    masked = hasattr(module, "mask")
    conv = module.conv if masked else module
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"{type(module).__name__} is not a convolution the arithmetic implements")
    if (conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1 or conv.padding_mode != "zeros"
            or conv.padding not in ((0, 0), "valid")):
        raise ValueError(f"{type(module).__name__}: stride {conv.stride}, dilation {conv.dilation}, groups "
                         f"{conv.groups}, padding {conv.padding!r} ({conv.padding_mode}): the arithmetic implements "
                         "stride 1, dilation 1, one group and padding given as MaskedConv2d's or PaddedConv2d's pad")
    pad = module.pad if masked or isinstance(module, PaddedConv2d) else (0, 0, 0, 0)
    return conv, pad


def conv_weight(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int, int, int]]:
    """(masked weight, bias, padding) of a MaskedConv2d, PaddedConv2d or unpadded nn.Conv2d."""
    conv, pad = _conv_and_pad(module)
    if hasattr(module, "mask"):
        return conv.weight * module.mask, conv.bias, pad
    return conv.weight, conv.bias, pad


def geometry(module: nn.Module) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """(kernel size, padding) of a conv (``conv_weight``'s kinds), without touching its weights."""
    conv, pad = _conv_and_pad(module)
    return conv.kernel_size, pad
