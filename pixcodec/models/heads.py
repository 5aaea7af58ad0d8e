"""The pieces every model shares at its two ends: input scaling and the softmax head."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .masked import channel_groups, raster_conv


def scale_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float in [-1, 1]; refuses anything but uint8 images."""
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise TypeError(f"models take uint8 (B, C, H, W) images, got {x.dtype} of shape {tuple(x.shape)}")
    return x.float() * (2.0 / 255.0) - 1.0


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

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, _, height, width = h.shape
        logits = self.out(F.relu(self.hidden(F.relu(h))))          # (B, 256*C, H, W)
        return logits.view(b, self.channels, 256, height, width).transpose(1, 2)  # (B, 256, C, H, W)
