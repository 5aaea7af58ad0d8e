"""The pieces every model shares at its two ends: the input check and the softmax head."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..numerics import FLOAT
from .masked import channel_groups, raster_conv


def check_image(x: torch.Tensor) -> torch.Tensor:
    """Models take uint8 (B, C, H, W) images and nothing else."""
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise TypeError(f"models take uint8 (B, C, H, W) images, got {x.dtype} of shape {tuple(x.shape)}")
    return x


class LogitsHead(nn.Module):
    """ReLU, 1x1 mask B, ReLU, 1x1 mask B to 256 logits per channel.

    The 256 * C output features are grouped R block, G block, B block, so the
    final view splits them by channel without mixing groups.
    """

    def __init__(self, in_groups: torch.Tensor, hidden: int, channels: int):
        super().__init__()
        hidden_groups = channel_groups(hidden, channels)
        self.channels = channels
        self.hidden = raster_conv(in_groups, hidden_groups, 1, "B")
        self.out = raster_conv(hidden_groups, channel_groups(256 * channels, channels), 1, "B")

    def forward(self, h: torch.Tensor, num=FLOAT) -> torch.Tensor:
        b, _, height, width = h.shape
        logits = num.conv(self.out, num.relu(num.conv(self.hidden, num.relu(h))))   # (B, 256*C, H, W)
        return logits.view(b, self.channels, 256, height, width).transpose(1, 2)    # (B, 256, C, H, W)

    def at_pixel(self, h: torch.Tensor, c: int, num=FLOAT) -> torch.Tensor:
        """Channel c's logits from pixel features (N, F) -> (N, 256); only its block is computed."""
        hidden = num.relu(num.dense(self.hidden, num.relu(h)))                  # (N, out_hidden)
        return num.dense(self.out, hidden, slice(256 * c, 256 * (c + 1)))       # (N, 256)
