"""Gated PixelCNN (van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", 2016).

Two stacks remove the PixelCNN blind spot. For kernel size k (3 here, 7 in the
first layer) the vertical stack sees a (k//2+1) x k window of the rows above
*and the current row*; the horizontal stack sees the current row only::

    vertical (k=3)     horizontal (k=3)        v -> h link, shifted down one row
    1 1 1              1 x                     so h at row i reads v of row i-1:
    1 1 1                                      everything v knows lies above row i

Because the vertical stack's output is always shifted before the horizontal
stack reads it, it never carries the current row, so it needs no mask at
all; the whole receptive field is every row above (growing k//2 per layer,
to the left and the right: no blind spot) plus the pixels to the left.

One layer (p = hidden features, x = current pixel, channel-masked A in the
first layer and B after; the f and g halves share R/G/B groups)::

    v_pre = Vconv(v)                                         (B, 2p, H, W)
    h_pre = Hconv(h) + 1x1(shift_down(v_pre))                (B, 2p, H, W)
    v_pre, h_pre += 1x1(cond)          # conditioning bias, optional
    v     = tanh(v_pre_f) * sigmoid(v_pre_g)                 (B, p, H, W)
    h     = h + 1x1_maskB(tanh(h_pre_f) * sigmoid(h_pre_g))  (residual after layer 0)

Conditioning hook: ``cond`` is (B, D) for a class one-hot or embedding vector
(a location-independent bias, the paper's V^T h) or (B, D, H, W) for a
spatial map (a location-dependent bias, V * s). One 1x1 convolution per layer
serves both, since a linear map of a vector is a 1x1 conv of a 1x1 map.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..exact.engine import Canvas, margin_for, pixel_inputs, pixel_rows
from ..exact.convs import PaddedConv2d
from ..exact.numerics import FLOAT
from .heads import LogitsHead, check_image
from .masked import channel_groups, row_conv
from .registry import PixelModel, register


def cond_map(num, cond: torch.Tensor) -> torch.Tensor:
    """A (B, D) vector or (B, D, H, W) map as a (B, D, 1|H, 1|W) map in ``num``'s arithmetic."""
    return num.side_input(cond[:, :, None, None] if cond.dim() == 2 else cond)


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Row i of the result is row i-1 of x (zeros on top)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class GatedLayer(nn.Module):
    def __init__(self, v_in: int, h_in_groups: torch.Tensor, groups: torch.Tensor, k: int,
                 first: bool, cond_channels: int):
        super().__init__()
        p = len(groups)
        gate_groups = torch.cat([groups, groups])
        # rows above and the current row, centred
        self.v_conv = PaddedConv2d(v_in, 2 * p, (k // 2 + 1, k), (k // 2, k // 2, k // 2, 0))
        self.v_to_h = nn.Conv2d(2 * p, 2 * p, 1)
        self.h_conv = row_conv(h_in_groups, gate_groups, k, "A" if first else "B")
        self.h_out = row_conv(groups, groups, 1, "B")
        self.residual = not first
        self.cond = nn.Conv2d(cond_channels, 4 * p, 1, bias=False) if cond_channels else None

    def forward(self, v, h, cond=None, num=FLOAT):
        v_pre = num.conv(self.v_conv, v)                                          # (B, 2p, H, W)
        h_pre = num.add(num.conv(self.h_conv, h), num.conv(self.v_to_h, shift_down(v_pre)))
        if cond is not None:
            v_bias, h_bias = num.conv(self.cond, cond).chunk(2, dim=1)            # (B, 2p, H|1, W|1)
            v_pre, h_pre = num.add(v_pre, v_bias), num.add(h_pre, h_bias)
        h_new = num.conv(self.h_out, num.gate(h_pre))                             # (B, p, H, W)
        return num.gate(v_pre), (num.add(h, h_new) if self.residual else h_new)


@register("gated_pixelcnn")
class GatedPixelCNN(PixelModel):
    def __init__(self, in_channels: int, hidden: int = 128, layers: int = 15, first_kernel: int = 7,
                 kernel: int = 3, out_hidden: int = 256, cond_channels: int = 0, head: str = "softmax"):
        super().__init__(in_channels, dict(hidden=hidden, layers=layers, first_kernel=first_kernel, kernel=kernel,
                                           out_hidden=out_hidden, cond_channels=cond_channels, head=head))
        if hidden < in_channels or layers < 1 or out_hidden < in_channels or cond_channels < 0:
            raise ValueError("need hidden >= channels, layers >= 1, out_hidden >= channels, cond_channels >= 0")
        if first_kernel % 2 != 1 or kernel % 2 != 1:
            raise ValueError("kernel sizes must be odd")
        groups = channel_groups(hidden, in_channels)
        self.cond_channels = cond_channels
        self.layers = nn.ModuleList(
            GatedLayer(in_channels if i == 0 else hidden, torch.arange(in_channels) if i == 0 else groups,
                       groups, first_kernel if i == 0 else kernel, i == 0, cond_channels)
            for i in range(layers))
        self.head = LogitsHead(groups, out_hidden, in_channels, head)
        # the vertical stack grows k//2 rows a layer; the shift into h adds one.
        self.context_rows = first_kernel // 2 + (layers - 1) * (kernel // 2) + 1

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, num=FLOAT,
                nats: bool = False) -> torch.Tensor:
        """``num`` picks the arithmetic: float for training, exact for coding (numerics.py);
        nats=True gives -ln p(x) per subpixel (B, C, H, W) instead of logits (heads.py)."""
        v = h = num.input(check_image(x))                      # (B, C, H, W)
        if cond is not None:
            if self.cond_channels == 0:
                raise ValueError("this model was built without conditioning (cond_channels=0)")
            cond = cond_map(num, cond)                          # (B, D, 1|H, 1|W)
        for layer in self.layers:
            v, h = layer(v, h, cond, num)                      # (B, p, H, W) each
        return self.head(h, num, x, nats)   # (B, 256, C, H, W) logits or (B, C, H, W) nats

    def incremental(self, num, batch: int, height: int, width: int, cond=None) -> "GatedState":
        return GatedState(self, num, batch, height, width, cond)


class GatedState:
    """Cached wavefront decoding.

    The horizontal stack at (i, j) reads its own row to the left and the vertical
    pre-activations of row i-1 at column j. The vertical stack reads k//2 columns to
    the right in its own row, so layer l runs lag_l = k0//2 + l * (k//2) columns behind
    the newest pixel of a row (and catches up when the row ends). With skew
    s = lag_last + 1 every vertical value of row i-1 that (i, j) needs was computed at
    an earlier wavefront step."""

    def __init__(self, model: GatedPixelCNN, num, batch: int, height: int, width: int, cond):
        self.model, self.num, self.width = model, num, width
        layers = model.layers
        # exact values (2^-12 grid, |v| <= 256) fit float32 canvases losslessly
        canvas = lambda ch, *convs: Canvas(batch, ch, height, width, max(1, margin_for(*convs)))  # noqa: E731
        # the image feeds layer 0 of both stacks; later inputs are the previous layer's outputs
        self.image = canvas(model.in_channels, layers[0].v_conv, layers[0].h_conv)
        self.v_in = [self.image] + [canvas(l.v_conv.in_channels, l.v_conv) for l in layers[1:]]
        self.h_in = [self.image] + [canvas(l.h_conv.conv.in_channels, l.h_conv) for l in layers[1:]]
        self.v_pre = [canvas(l.v_to_h.in_channels, l.v_to_h) for l in layers]    # margin 1: row -1 is zero
        self.lags, lag = [], 0
        for layer in layers:
            lag += layer.v_conv.kernel_size[1] // 2
            self.lags.append(lag)
        self.skew = self.lags[-1] + 1
        self.bias = None
        if cond is not None:   # the condition is known in full: its biases are computed once
            cond = cond_map(num, cond)
            self.bias = [num.conv(l.cond, cond).chunk(2, dim=1) for l in layers]    # (B, 2p, H|1, W|1) x2

    def _bias(self, layer: int, part: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return pixel_rows(self.bias[layer][part], rows, cols)                         # (B*P, 2p)

    def begin_step(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """The row-above link, the condition and the prediction: the same for every pass."""
        num, model = self.num, self.model
        self.predicted = model.head.predictions(num, image, rows, cols)
        self.links = [num.dense(layer.v_to_h, self.v_pre[k].at(rows - 1, cols)) for k, layer in enumerate(model.layers)]
        self.h_bias = self.bias and [self._bias(k, 1, rows, cols) for k in range(len(model.layers))]

    def logits(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, c: int,
               head: bool = True) -> torch.Tensor | None:
        num, model = self.num, self.model
        x = pixel_inputs(num, image, rows, cols)
        self.image.write(rows, cols, x)                                     # later channels: masked out
        h = None
        for k, layer in enumerate(model.layers):
            # the same additions in the same order as forward(): clamping makes order matter
            h_pre = num.add(num.dense(layer.h_conv, self.h_in[k].windows(layer.h_conv, rows, cols)), self.links[k])
            if self.h_bias:
                h_pre = num.add(h_pre, self.h_bias[k])
            h_new = num.dense(layer.h_out, num.gate(h_pre))                                    # (N, p)
            h = num.add(h, h_new) if layer.residual else h_new
            if k + 1 < len(model.layers):
                self.h_in[k + 1].write(rows, cols, h)
        if not head:
            return None
        return model.head.at_pixel(h, c, num, None if self.predicted is None else (self.predicted, x))  # (N, 256)

    def pixels_done(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        num = self.num
        self.image.write(rows, cols, pixel_inputs(num, image, rows, cols))
        ends = cols == self.width - 1
        for k, layer in enumerate(self.model.layers):
            # column cols - lag is now computable; a finished row also computes its last lag columns
            vr, vc = rows, cols - self.lags[k]
            if bool(ends.any()):
                tail = torch.arange(self.width - self.lags[k], self.width)
                vr = torch.cat([vr, rows[ends].repeat_interleave(len(tail))])
                vc = torch.cat([vc, tail.repeat(int(ends.sum()))])
            keep = vc >= 0
            vr, vc = vr[keep], vc[keep]
            if len(vr) == 0:
                continue
            v_pre = num.dense(layer.v_conv, self.v_in[k].windows(layer.v_conv, vr, vc))       # (N, 2p)
            self.v_pre[k].write(vr, vc, v_pre)                                                 # the link: unbiased
            if k + 1 < len(self.model.layers):
                if self.bias is not None:
                    v_pre = num.add(v_pre, self._bias(k, 0, vr, vc))
                self.v_in[k + 1].write(vr, vc, num.gate(v_pre))
