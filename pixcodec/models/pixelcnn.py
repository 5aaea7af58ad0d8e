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

from typing import NamedTuple

import torch
import torch.nn as nn

from ..exact.sheared import CentrePart, ShearedCanvas, SplitConv, group_bounds
from ..exact.numerics import FLOAT
from ..exact.tape import shaped
from .heads import LogitsHead, check_image
from .masked import channel_groups, raster_conv
from .registry import PixelModel, register


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
class PixelCNN(PixelModel):
    def __init__(self, in_channels: int, hidden: int = 128, layers: int = 12, out_hidden: int = 256,
                 head: str = "softmax"):
        super().__init__(in_channels, dict(hidden=hidden, layers=layers, out_hidden=out_hidden, head=head))
        if hidden < 2 * in_channels or layers < 0 or out_hidden < in_channels:
            raise ValueError("need hidden >= 2*channels, layers >= 0 and out_hidden >= channels")
        groups = channel_groups(hidden, in_channels)
        half_groups = channel_groups(hidden // 2, in_channels)
        self.input = raster_conv(torch.arange(in_channels), groups, 7, "A")
        self.blocks = nn.ModuleList(ResidualBlock(groups, half_groups) for _ in range(layers))
        self.head = LogitsHead(groups, out_hidden, in_channels, head)
        # 7x7 reaches 3 rows up; each 3x3 one more; 1x1 convs none.
        self.context_rows = 3 + layers

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, num=FLOAT,
                nats: bool = False) -> torch.Tensor:
        """``num`` picks the arithmetic: float for training, exact for coding (numerics.py);
        nats=True gives -ln p(x) per subpixel (B, C, H, W) instead of logits (heads.py)."""
        if cond is not None:
            raise ValueError("pixelcnn is unconditional; use gated_pixelcnn for conditioning")
        h = num.conv(self.input, num.input(check_image(x)))    # (B, h, H, W)
        for block in self.blocks:
            h = block(h, num)                                  # (B, h, H, W)
        return self.head(h, num, x, nats)   # (B, 256, C, H, W) logits or (B, C, H, W) nats

    def incremental(self, num, batch: int, height: int, width: int, cond=None) -> "PixelCNNState":
        if cond is not None:
            raise ValueError("pixelcnn is unconditional")
        return PixelCNNState(self, num, batch, height, width)


class PixelCNNState:
    """Cached wavefront decoding with sheared ring canvases (see ``sheared.py``).

    Only the 7x7 input conv and the 3x3 convs look beyond the current pixel, so only
    their inputs are kept, as canvases; each 3x3 conv's input (its block's down conv
    output) is written straight into its canvas. Each step computes their past taps
    once; then channel pass c computes just group c of every layer at the pixels
    being decoded (group c reads groups <= c there), so an RGB pixel costs one trunk
    evaluation, not three. Features are (features, N), pixel-major, like the
    canvases. The 7x7 window reaches 3 columns right in the row above, hence skew 4."""

    def __init__(self, model: PixelCNN, num, batch: int, height: int, width: int):
        self.model, self.num, self.batch = model, num, batch
        self.skew = skew = model.input.conv.kernel_size[1] // 2 + 1
        # the weights cut for the engine: the same for every state of this model and arithmetic
        (self.input, self.convs, self.down, self.up, self.hidden, self.out,
         self.passes) = num.memo(("pixelcnn", id(model)), lambda: self._cut(model, num))
        margin = model.input.conv.kernel_size[0] // 2
        canvas = lambda conv, ch: ShearedCanvas(batch, ch, height, conv.lookback(skew) + 1, margin, skew,  # noqa: E731
                                                num.dtype)     # each ring as deep as its conv looks back
        self.image = canvas(self.input, model.in_channels)
        self.inner = [canvas(conv, b.conv.conv.in_channels) for conv, b in zip(self.convs, model.blocks)]
        self.view_cache: dict[int, list[_Views]] = {}
        # a step's pixels: at most one a row, and rows sit skew columns apart in a tile's width
        self.most_pixels, self.features = batch * max(1, min(height, -(-width // skew))), None
        self.record = None          # a tape.Tape: each pass's head block goes to it too

    def _cut(self, model: PixelCNN, num) -> tuple:
        self.input = SplitConv(num, model.input)
        self.convs = [SplitConv(num, b.conv) for b in model.blocks]
        self.down = [SplitConv(num, b.down) for b in model.blocks]
        self.up = [SplitConv(num, b.up) for b in model.blocks]
        self.hidden, self.out = SplitConv(num, model.head.hidden), SplitConv(num, model.head.out)
        passes = [self._pass(c) for c in range(model.in_channels)]
        return self.input, self.convs, self.down, self.up, self.hidden, self.out, passes

    def _pass(self, c: int) -> "_Pass":
        """Channel pass c's feature slices and centre weights, cut once rather than every pixel."""
        model = self.model
        (h0, h1), (q0, q1) = group_bounds(model.input.out_groups, c), group_bounds(model.head.hidden.out_groups, c)
        d0, d1 = group_bounds(model.blocks[0].down.out_groups, c) if model.blocks else (0, 0)
        reads, writes, half = slice(0, h1), slice(h0, h1), slice(d0, d1)
        block = model.head.block
        return _Pass(reads, writes, half, slice(0, d1), slice(q0, q1), slice(0, q1),
                     self.input.centre_for(slice(0, c), writes),
                     [(down.centre_for(reads, half), conv.centre_for(slice(0, d1), half), up.centre_for(slice(0, d1), writes))
                      for down, conv, up in zip(self.down, self.convs, self.up)],
                     self.hidden.centre_for(reads, slice(q0, q1)),
                     self.out.centre_for(slice(0, q1), slice(block * c, block * (c + 1))))

    def begin_step(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """The past taps: the same for every channel pass."""
        num, model = self.num, self.model
        t, first, last = int(cols[0]) + self.skew * int(rows[0]), int(rows[0]), int(rows[-1])
        for canvas in [self.image] + self.inner:
            canvas.begin(t, first, last)
        self.acc_input = self.input.past_part(num, self.image, t, first, last)                 # (h, N)
        self.acc_conv = [conv.past_part(num, cv, t, first, last) for conv, cv in zip(self.convs, self.inner)]
        self.pixels = self.image.column(t, first, last)                                       # (C, N)
        self.d = [cv.column(t, first, last) for cv in self.inner]                             # (h/2, N) each
        self.v = self._views(self.acc_input.shape[1])
        self.predicted = model.head.predictions(num, image, rows, cols)                      # (B*P, C) or None

    def logits(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, c: int,
               head: bool = True) -> torch.Tensor | None:
        num, model, p = self.num, self.model, self.passes[c]
        if c > 0:    # channel c - 1 was decoded since the last pass: it joins the pixels' inputs
            self.pixels[c - 1] = _pixel_major(num, image[:, c - 1, rows, cols]) * num.unit
        v = self.v[c]
        num.relu_into(p.input(num, self.pixels[:c], v.h0, acc=self.acc_input), v.r0)
        for (down, conv, up), (r_reads, h_writes, i_half, i_reads, h_next, r_next), d, acc in zip(
                p.blocks, v.blocks, self.d, self.acc_conv):
            down(num, r_reads, d[p.half], relu=True)
            conv(num, d[p.half_reads], i_half, acc=acc, relu=True)
            num.residual_into(up.sum(num, i_reads), h_writes, h_next, r_next)                      # (h, N)
        if not head:        # only a suffix of channels is ever skipped, so no later head needs group c
            return None
        p.hidden(num, v.r_last, v.hid, relu=True)
        raw = p.head(num, v.hid_reads, v.raw)                                                     # (block, N)
        raw = raw.view(raw.shape[0], len(rows), self.batch).permute(2, 1, 0).reshape(-1, raw.shape[0]) / num.unit
        if self.record is not None:                                                               # (B*P, block)
            self.record(raw)
        # the predictive head's view of the pixel: channels >= c read as 0
        return shaped(model, num, raw, self.predicted, image, rows, cols, c)                     # (B*P, 256)

    def _views(self, n: int) -> list["_Views"]:
        """Per channel pass, the rows of n pixels' features that it reads and writes, cut once
        per pixel count (a decode meets a few dozen). Every count's features live in the same
        buffers, sized for the largest step: a view per count of its own memory would hold all
        of them at once, about a gigabyte for 128 tiles of 128. No step reads what another left:
        a pass reads groups <= c, all written earlier in the same step. The residual stream is
        kept rectified too (r), as every layer that reads it does, so each group is rectified
        once rather than by every later pass."""
        if n not in self.view_cache:
            num, model = self.num, self.model
            width, half = model.input.conv.out_channels, model.blocks[0].conv.conv.in_channels if model.blocks else 0
            sizes = [width] * 2 * (len(self.convs) + 1) + [half] * len(self.convs) + [self.hidden.bias.shape[0], model.head.block]
            if self.features is None or self.features.numel() < sum(sizes) * n:
                self.features = torch.empty(sum(sizes) * max(n, self.most_pixels), dtype=num.dtype)
                self.view_cache = {}
            flat = iter(self.features[:sum(sizes) * n].split([f * n for f in sizes]))
            take = lambda count: [next(flat).view(-1, n) for _ in range(count)]  # noqa: E731
            h = take(len(self.convs) + 1)    # residual stream per block
            r = take(len(self.convs) + 1)    # and its ReLU
            i = take(len(self.convs))
            hid, raw = take(2)
            self.view_cache[n] = [_Views(
                h[0][p.writes], r[0][p.writes],
                [(r[k][p.reads], h[k][p.writes], i[k][p.half], i[k][p.half_reads], h[k + 1][p.writes],
                  r[k + 1][p.writes]) for k in range(len(self.convs))],
                r[-1][p.reads], hid[p.hid], hid[p.hid_reads], raw) for p in self.passes]
        return self.view_cache[n]

    def pixels_done(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        # Later pixels read these pixels' full values. Their activations are already final:
        # no channel group of a pixel reads the pixel's last channel.
        c = self.model.in_channels - 1
        self.pixels[c] = _pixel_major(self.num, image[:, c, rows, cols]) * self.num.unit


def _pixel_major(num, values: torch.Tensor) -> torch.Tensor:
    """One channel's uint8 values (B, P) as model inputs in pixel-major order (N,)."""
    return num.input(values.t().reshape(-1))


class _Pass(NamedTuple):
    reads: slice             # residual-stream features group c reads (groups <= c)
    writes: slice            # and the ones it writes (group c)
    half: slice              # group c of a block's inner width
    half_reads: slice        # groups <= c of it
    hid: slice               # group c of the head's hidden layer
    hid_reads: slice
    input: CentrePart
    blocks: list             # (down, conv, up) CentrePart per residual block
    hidden: CentrePart
    head: CentrePart


class _Views(NamedTuple):
    h0: torch.Tensor         # group c of the input conv's output
    r0: torch.Tensor         # and its ReLU
    blocks: list             # per block: r[reads], h[writes], i[half], i[half_reads], h_next[writes], r_next[writes]
    r_last: torch.Tensor     # the trunk's rectified output, groups <= c
    hid: torch.Tensor
    hid_reads: torch.Tensor
    raw: torch.Tensor
