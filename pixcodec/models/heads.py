"""The pieces every model shares at its two ends: the input check and the softmax head."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..numerics import FLOAT
from .masked import channel_groups, raster_conv

HEADS = ("softmax", "laplace")
LAPLACE_SCALE = 64.0     # a power of two: scaling by it is exact


def check_image(x: torch.Tensor) -> torch.Tensor:
    """Models take uint8 (B, C, H, W) images and nothing else."""
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise TypeError(f"models take uint8 (B, C, H, W) images, got {x.dtype} of shape {tuple(x.shape)}")
    return x


class LogitsHead(nn.Module):
    """ReLU, 1x1 mask B, ReLU, 1x1 mask B to 256 logits per channel.

    The output features are grouped R block, G block, B block, so the final view
    splits them by channel without mixing groups.

    ``kind="laplace"`` adds two outputs per channel, a location mu and a
    sharpness beta, and subtracts a Laplace-shaped term from the free logits::

        logit[k] = free[k] - 64 * relu(beta) * |v(k) - mu|        v(k) = 2k/255 - 1

    The distribution is still an arbitrary 256-way softmax (the free logits can
    cancel the term), but "close to what the context predicts" no longer has to
    be learned value by value: every pixel's gradient reaches mu and beta, which
    is what makes small photo models train in CPU hours rather than days. The
    term is exact in ``ExactNumerics`` (grid values, one exact product, one floor).
    """

    def __init__(self, in_groups: torch.Tensor, hidden: int, channels: int, kind: str = "softmax"):
        super().__init__()
        if kind not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, not {kind!r}")
        hidden_groups = channel_groups(hidden, channels)
        self.channels, self.kind = channels, kind
        self.block = 256 + (2 if kind == "laplace" else 0)          # outputs per channel
        self.hidden = raster_conv(in_groups, hidden_groups, 1, "B")
        self.out = raster_conv(hidden_groups, channel_groups(self.block * channels, channels), 1, "B")
        if kind == "laplace":
            with torch.no_grad():   # start with a mild preference for the predicted value
                self.out.conv.bias.view(channels, self.block)[:, 257] = 0.1

    def forward(self, h: torch.Tensor, num=FLOAT) -> torch.Tensor:
        b, _, height, width = h.shape
        raw = num.conv(self.out, num.relu(num.conv(self.hidden, num.relu(h))))       # (B, block*C, H, W)
        raw = raw.view(b, self.channels, self.block, height, width).permute(0, 1, 3, 4, 2)
        return self.shape(raw, num).permute(0, 4, 1, 2, 3)                          # (B, 256, C, H, W)

    def at_pixel(self, h: torch.Tensor, c: int, num=FLOAT) -> torch.Tensor:
        """Channel c's logits from pixel features (N, F) -> (N, 256); only its block is computed."""
        hidden = num.relu(num.dense(self.hidden, num.relu(h)))                  # (N, out_hidden)
        return self.shape(num.dense(self.out, hidden, slice(self.block * c, self.block * (c + 1))), num)

    def shape(self, raw: torch.Tensor, num=FLOAT) -> torch.Tensor:
        """One channel block's raw outputs (..., block) -> logits (..., 256)."""
        if self.kind == "softmax":
            return raw
        free, mu, beta = raw[..., :256], raw[..., 256:257], raw[..., 257:258]
        values = _values(num, raw)                                                     # v(k) on the grid
        return num.add(free, -num.mul(num.relu(beta) * LAPLACE_SCALE, (values - mu).abs()))


_VALUES: dict = {}


def _values(num, like: torch.Tensor) -> torch.Tensor:
    """v(k) for k = 0..255 as ``num`` scales inputs: built once, not on every decoding pass."""
    key = (type(num), like.dtype, like.device)
    if key not in _VALUES:
        _VALUES[key] = num.input(torch.arange(256, device=like.device)).to(like.dtype)
    return _VALUES[key]
