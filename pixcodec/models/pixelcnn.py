"""PixelCNN as defined in the PixelRNN paper (van den Oord et al., 2016, section 3.5 and table 4).

Architecture for ``hidden`` = h features::

    x (B, C, H, W) uint8, scaled to [-1, 1]
    7x7 conv, mask A, C -> h                      # sees rows above, pixels left, earlier channels
    layers x residual block:
        ReLU, 1x1 conv mask B, h -> h/2
        ReLU, 3x3 conv mask B, h/2 -> h/2
        ReLU, 1x1 conv mask B, h/2 -> h           # added to the block's input
    ReLU, 1x1 conv mask B, h -> out_hidden
    ReLU, 1x1 conv mask B, out_hidden -> 256*C    # logits (B, 256, C, H, W)

The 7x7 mask A and the 3x3 mask B (x = current pixel, channel-masked)::

    1 1 1 1 1 1 1
    1 1 1 1 1 1 1           1 1 1
    1 1 1 1 1 1 1           1 x 0
    1 1 1 x 0 0 0           0 0 0
    0 0 0 0 0 0 0
    0 0 0 0 0 0 0
    0 0 0 0 0 0 0

Every feature map is split into R, G and B groups (see ``masked.py``), so
within a pixel G is predicted from R, and B from R and G. The stack of
3x3 masks leaves the known PixelCNN blind spot to the upper right; the Gated
PixelCNN removes it.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..engine import Canvas, margin_for, pixel_inputs
from ..numerics import FLOAT
from .heads import LogitsHead, check_image
from .masked import channel_groups, raster_conv
from .registry import register


class ResidualBlock(nn.Module):
    def __init__(self, groups: torch.Tensor, half_groups: torch.Tensor):
        super().__init__()
        self.down = raster_conv(groups, half_groups, 1, "B")
        self.conv = raster_conv(half_groups, half_groups, 3, "B")
        self.up = raster_conv(half_groups, groups, 1, "B")

    def forward(self, h: torch.Tensor, num=FLOAT) -> torch.Tensor:
        inner = num.conv(self.conv, num.relu(num.conv(self.down, num.relu(h))))
        return num.add(h, num.conv(self.up, num.relu(inner)))


@register("pixelcnn")
class PixelCNN(nn.Module):
    def __init__(self, in_channels: int, hidden: int = 128, layers: int = 12, out_hidden: int = 256):
        super().__init__()
        if hidden < 2 * in_channels or layers < 0 or out_hidden < in_channels:
            raise ValueError("need hidden >= 2*channels, layers >= 0 and out_hidden >= channels")
        groups = channel_groups(hidden, in_channels)
        half_groups = channel_groups(hidden // 2, in_channels)
        self.input = raster_conv(torch.arange(in_channels), groups, 7, "A")
        self.blocks = nn.ModuleList(ResidualBlock(groups, half_groups) for _ in range(layers))
        self.head = LogitsHead(groups, out_hidden, in_channels)
        # 7x7 reaches 3 rows up; each 3x3 one more; 1x1 convs none.
        self.context_rows = 3 + layers

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, num=FLOAT) -> torch.Tensor:
        """``num`` picks the arithmetic: float for training, exact for coding (numerics.py)."""
        if cond is not None:
            raise ValueError("pixelcnn is unconditional; use gated_pixelcnn for conditioning")
        h = num.conv(self.input, num.input(check_image(x)))    # (B, h, H, W)
        for block in self.blocks:
            h = block(h, num)                                  # (B, h, H, W)
        return self.head(h, num)                               # (B, 256, C, H, W)

    def incremental(self, num, batch: int, height: int, width: int, cond=None) -> "PixelCNNState":
        if cond is not None:
            raise ValueError("pixelcnn is unconditional")
        return PixelCNNState(self, num, batch, height, width)


class PixelCNNState:
    """Cached decoding. Only the 7x7 input and the 3x3 convs look beyond the current pixel,
    so only their inputs are kept as canvases; everything else is computed at the pixels
    themselves. The 7x7 window reaches 3 columns right in the rows above, hence skew 4."""

    def __init__(self, model: PixelCNN, num, batch: int, height: int, width: int):
        self.model, self.num = model, num
        # exact values (2^-12 grid, |v| <= 256) fit float32 losslessly
        self.image = Canvas(batch, model.in_channels, height, width, margin_for(model.input))
        self.inner = [Canvas(batch, b.conv.conv.in_channels, height, width, margin_for(b.conv)) for b in model.blocks]
        self.skew = model.input.conv.kernel_size[1] // 2 + 1

    def logits(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, c: int) -> torch.Tensor:
        num, model = self.num, self.model
        self.image.write(rows, cols, pixel_inputs(num, image, rows, cols))   # later channels: masked out
        h = num.dense(model.input, self.image.windows(model.input, rows, cols))                # (N, h)
        for block, canvas in zip(model.blocks, self.inner):
            canvas.write(rows, cols, num.relu(num.dense(block.down, num.relu(h))))             # (N, h/2)
            inner = num.dense(block.conv, canvas.windows(block.conv, rows, cols))              # (N, h/2)
            h = num.add(h, num.dense(block.up, num.relu(inner)))                               # (N, h)
        return model.head.at_pixel(h, c, num)                                            # (N, 256)

    def pixels_done(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        # Later pixels read these pixels' full values. Their activations are already final:
        # no channel group of a pixel reads the pixel's last channel.
        self.image.write(rows, cols, pixel_inputs(self.num, image, rows, cols))
