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
                                                  # head="laplace": 258*C, see heads.py

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

from ..engine import pixel_inputs
from ..sheared import ShearedCanvas, SplitConv, group_bounds
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
    def __init__(self, in_channels: int, hidden: int = 128, layers: int = 12, out_hidden: int = 256,
                 head: str = "softmax"):
        super().__init__()
        if hidden < 2 * in_channels or layers < 0 or out_hidden < in_channels:
            raise ValueError("need hidden >= 2*channels, layers >= 0 and out_hidden >= channels")
        groups = channel_groups(hidden, in_channels)
        half_groups = channel_groups(hidden // 2, in_channels)
        self.input = raster_conv(torch.arange(in_channels), groups, 7, "A")
        self.blocks = nn.ModuleList(ResidualBlock(groups, half_groups) for _ in range(layers))
        self.head = LogitsHead(groups, out_hidden, in_channels, head)
        # 7x7 reaches 3 rows up; each 3x3 one more; 1x1 convs none.
        self.context_rows = 3 + layers

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, num=FLOAT) -> torch.Tensor:
        """``num`` picks the arithmetic: float for training, exact for coding (numerics.py)."""
        if cond is not None:
            raise ValueError("pixelcnn is unconditional; use gated_pixelcnn for conditioning")
        h = num.conv(self.input, num.input(check_image(x)))    # (B, h, H, W)
        for block in self.blocks:
            h = block(h, num)                                  # (B, h, H, W)
        return self.head(h, num, x)                            # (B, 256, C, H, W)

    def incremental(self, num, batch: int, height: int, width: int, cond=None) -> "PixelCNNState":
        if cond is not None:
            raise ValueError("pixelcnn is unconditional")
        return PixelCNNState(self, num, batch, height, width)


class PixelCNNState:
    """Cached wavefront decoding with sheared ring canvases (see ``sheared.py``).

    Only the 7x7 input conv and the 3x3 convs look beyond the current pixel, so only
    their inputs are kept, as canvases. Each step computes their past taps once;
    then channel pass c computes just group c of every layer at the pixels being
    decoded (group c reads groups <= c there), so an RGB pixel costs one trunk
    evaluation, not three. The 7x7 window reaches 3 columns right in the row
    above, hence skew 4."""

    def __init__(self, model: PixelCNN, num, batch: int, height: int, width: int):
        self.model, self.num, self.batch = model, num, batch
        self.skew = skew = model.input.conv.kernel_size[1] // 2 + 1
        self.input = SplitConv(num, model.input)
        self.convs = [SplitConv(num, b.conv) for b in model.blocks]
        self.down = [SplitConv(num, b.down) for b in model.blocks]
        self.up = [SplitConv(num, b.up) for b in model.blocks]
        self.hidden, self.out = SplitConv(num, model.head.hidden), SplitConv(num, model.head.out)
        ring = max(c.lookback(skew) for c in [self.input] + self.convs) + 1
        margin = model.input.conv.kernel_size[0] // 2
        canvas = lambda ch: ShearedCanvas(batch, ch, height, ring, margin, skew, num.dtype)  # noqa: E731
        self.image = canvas(model.in_channels)
        self.inner = [canvas(b.conv.conv.in_channels) for b in model.blocks]
        channels = model.in_channels
        bounds = lambda layer: [group_bounds(layer.out_groups, c) for c in range(channels)]  # noqa: E731
        self.h_groups = bounds(model.input)                  # (start, stop) of group c, per width
        self.half_groups = bounds(model.blocks[0].down) if model.blocks else []
        self.hid_groups = bounds(model.head.hidden)

    def logits(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, c: int,
               head: bool = True) -> torch.Tensor | None:
        num, model = self.num, self.model
        t, first, last = int(cols[0]) + self.skew * int(rows[0]), int(rows[0]), int(rows[-1])
        if c == 0:   # past taps are the same for every channel pass
            for canvas in [self.image] + self.inner:
                canvas.begin(t, first, last)
            self.acc_input = self.input.past_part(num, self.image, t, first, last)                 # (N, h)
            self.acc_conv = [conv.past_part(num, cv, t, first, last) for conv, cv in zip(self.convs, self.inner)]
            n = self.acc_input.shape[0]
            # the residual stream entering each block: group c of block k reads groups <= c as they were there
            self.h = [torch.zeros(n, self.acc_input.shape[1], dtype=num.dtype) for _ in range(len(self.convs) + 1)]
            self.d = [torch.zeros(n, cv.data.shape[3], dtype=num.dtype) for cv in self.inner]
            self.i = [torch.zeros_like(d) for d in self.d]
            self.hid = torch.zeros(n, self.hidden.bias.shape[0], dtype=num.dtype)                 # (N, out_hidden)
            self.predicted = model.head.predictions(num, image, rows, cols)                      # (N, C) or None
        h0, h1 = self.h_groups[c]
        hc, gc = slice(0, h1), slice(h0, h1)     # what group c reads (groups <= c), what it writes
        x = pixel_inputs(num, image, rows, cols)                                                  # (N, C)
        self.h[0][:, gc] = self.input.centre_part(num, x, slice(0, c), gc, acc=self.acc_input)
        for k, (down, conv, up) in enumerate(zip(self.down, self.convs, self.up)):
            d0, d1 = self.half_groups[c]
            dc = slice(d0, d1)
            self.d[k][:, dc] = down.centre_part(num, num.relu(self.h[k][:, hc]), hc, dc, relu=True)
            self.inner[k].write(t, first, last, self.d[k][:, dc], dc)
            self.i[k][:, dc] = conv.centre_part(num, self.d[k], slice(0, d1), dc, acc=self.acc_conv[k], relu=True)
            update = up.centre_part(num, self.i[k], slice(0, d1), gc)
            self.h[k + 1][:, gc] = num.add(self.h[k][:, gc], update)                               # (N, h)
        if not head:        # only a suffix of channels is ever skipped, so no later head needs group c
            return None
        q0, q1 = self.hid_groups[c]
        self.hid[:, q0:q1] = self.hidden.centre_part(num, num.relu(self.h[-1][:, hc]), hc, slice(q0, q1), relu=True)
        block = model.head.block
        raw = self.out.centre_part(num, self.hid, slice(0, q1), slice(block * c, block * (c + 1)))
        context = None if self.predicted is None else (self.predicted, x)     # x: this pass's view of the pixel
        return model.head.shape(raw, num, c, context)                                            # (N, 256)

    def pixels_done(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        # Later pixels read these pixels' full values. Their activations are already final:
        # no channel group of a pixel reads the pixel's last channel.
        t, first, last = int(cols[0]) + self.skew * int(rows[0]), int(rows[0]), int(rows[-1])
        self.image.write(t, first, last, pixel_inputs(self.num, image, rows, cols))
