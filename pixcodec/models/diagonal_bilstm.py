"""Diagonal BiLSTM (van den Oord, Kalchbrenner, Kavukcuoglu, "Pixel Recurrent Neural Networks", 2016, 3.2).

Skewing the map so that row i starts i columns to the right turns the image's
diagonals into columns; a 2x1 convolution down a column of the skewed map then
reads, for pixel (i, j), the states of (i-1, j) and (i, j-1)::

    image          skewed (row i shifted right by i)
    a b c          a b c . .
    d e f          . d e f .        column k of the skewed map = the diagonal i + j = k
    g h i          . . g h i        e reads b (above) and d (left): both on column k-1

One layer, for the stream s (B, 2h, H, W)::

    left-to-right:  gates = 1x1 mask B (s) [i, j] + K_ss * (h(i-1, j), h(i, j-1))
                    c = sigmoid(f) c(i, j-1) + sigmoid(i) tanh(g);  h = sigmoid(o) tanh(c)
    right-to-left:  the same on the mirrored row: reads (i-1, j) and (i, j+1), cell from (i, j+1)
    output:         h_lr(i, j) + h_rl(i-1, j)          the right-to-left map shifted down a row
    s = s + 1x1 mask B (output)

The left-to-right states cover every pixel above and to the left; the right-to-left
ones of row i-1 cover every pixel of the rows above at or right of j. Shifted down a
row they never see row i itself, which is why its input-to-state needs no mask. So a
pixel's field is the whole past, with no blind spot: the far right of the row above
and the far left of its own row all reach it. (One subpixel escapes, as in the paper:
the last channel of the row above's last pixel, beyond the 7x7 input's reach; masks
keep it out of that pixel's own features and no later pixel of its row exists.)

Decoding is raster order (skew = width): at the start of row i each layer's
right-to-left states of row i-1 are computed once, right to left; each pixel then
costs one left-to-right cell per layer.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..exact.numerics import FLOAT
from .lstm import RecurrentPixelModel, RecurrentState, lstm_step, lstm_update
from .masked import row_conv
from .registry import register


def neighbours(behind: torch.Tensor, beside: torch.Tensor) -> torch.Tensor:
    """Two (N, h) states as the 2x1 state-to-state conv's window (N, h*2), in unfold order."""
    return torch.stack([behind, beside], -1).flatten(1)


def skew(x: torch.Tensor) -> torch.Tensor:
    """(B, F, H, W) -> (B, F, H, W + H - 1), row i shifted right by i (zeros elsewhere)."""
    b, f, h, w = x.shape
    flat = F.pad(x, (0, h)).flatten(2)                     # rows of W + H: the pads slide row i by i
    return flat[:, :, :h * (w + h - 1)].view(b, f, h, w + h - 1)


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of ``skew``: (B, F, H, W + H - 1) -> (B, F, H, W)."""
    b, f, h, _ = x.shape
    return F.pad(x.flatten(2), (0, h)).view(b, f, h, width + h)[..., :width]


def diagonal_scan(num, gates_in: torch.Tensor, state_to_state: nn.Module,
                  bias: torch.Tensor | None) -> torch.Tensor:
    """The left-to-right LSTM over a whole map, one column of the skewed map (a diagonal) at a time.

    gates_in (B, 4h, H, W) -> h (B, h, H, W); states outside the image are zero.
    """
    b, g, height, width = gates_in.shape
    # columns as contiguous blocks, split by unbind: indexing one at a time would make the
    # backward pass add a whole-map gradient per column
    by_column = lambda x: skew(x).permute(3, 0, 2, 1).contiguous().unbind(0)      # noqa: E731 K x (B, H, F)
    gates_skewed = by_column(gates_in)
    bias_skewed = None if bias is None else by_column(bias.expand(b, -1, height, width))
    inside = skew(torch.ones(1, 1, height, width, dtype=torch.bool))[0, 0]         # (H, K)
    h = c = torch.zeros(b * height, g // 4, dtype=gates_in.dtype)                  # the previous column
    columns = []
    for k in range(len(gates_skewed)):
        above = F.pad(h.view(b, height, -1), (0, 0, 1, 0))[:, :height].reshape(b * height, -1)   # row i-1
        gates = num.add(gates_skewed[k].view(b * height, -1), num.dense(state_to_state, neighbours(above, h)))
        if bias_skewed is not None:
            gates = num.add(gates, bias_skewed[k].view(b * height, -1))
        h, c = lstm_update(num, gates, c)                                          # (B*H, h) each
        keep = inside[:, k].repeat(b)[:, None]             # positions off the image stay zero states
        h, c = torch.where(keep, h, 0.0), torch.where(keep, c, 0.0)
        columns.append(h.view(b, height, -1))
    return unskew(torch.stack(columns, 3).permute(0, 2, 1, 3), width)              # (B, h, H, W)


class DiagonalLayer(nn.Module):
    def __init__(self, groups: torch.Tensor, state_groups: torch.Tensor):
        super().__init__()
        h = len(state_groups)
        self.input_to_state = row_conv(groups, state_groups.repeat(4), 1, "B")
        self.state_to_state = nn.Conv2d(h, 4 * h, (2, 1))            # taps: above, left
        self.rl_input_to_state = nn.Conv2d(len(groups), 4 * h, 1)     # reads row i-1 only: no mask
        self.rl_state_to_state = nn.Conv2d(h, 4 * h, (2, 1))         # taps: above, right
        self.out = row_conv(state_groups, groups, 1, "B")

    def forward(self, s: torch.Tensor, bias: torch.Tensor | None, num=FLOAT) -> torch.Tensor:
        lr_bias, rl_bias = (None, None) if bias is None else bias.chunk(2, dim=1)
        lr = diagonal_scan(num, num.conv(self.input_to_state, s), self.state_to_state, lr_bias)
        rl = diagonal_scan(num, num.conv(self.rl_input_to_state, s).flip(3), self.rl_state_to_state,
                           None if rl_bias is None else rl_bias.flip(3)).flip(3)
        rl = F.pad(rl, (0, 0, 1, 0))[:, :, :-1]                            # row i gets row i-1
        return num.add(s, num.conv(self.out, num.add(lr, rl)))            # (B, 2h, H, W)


class DiagonalState(RecurrentState):
    """Raster decoding: right-to-left states once per row, one left-to-right cell per layer per pixel."""

    def __init__(self, model: DiagonalBiLSTM, num, batch: int, height: int, width: int, cond):
        super().__init__(model, num, batch, height, width)
        self.skew = width                 # row i waits for the whole of row i-1
        h = len(model.state_groups)
        self.stream = [self.canvas(len(model.groups), 0) for _ in model.layers]
        self.lr_h, self.lr_c, self.rl_h, self.rl_c = ([self.canvas(h, 1) for _ in model.layers] for _ in range(4))
        biases = model.biases(num, cond)
        self.lr_bias = [None if b is None else b.chunk(2, dim=1)[0] for b in biases]
        self.rl_bias = [None if b is None else b.chunk(2, dim=1)[1] for b in biases]

    def right_to_left(self, row: int) -> None:
        num = self.num
        rows = torch.tensor([row])
        for k, layer in enumerate(self.model.layers):
            for j in reversed(range(self.width)):
                cols = torch.tensor([j])
                gates = num.add(num.dense(layer.rl_input_to_state, self.stream[k].at(rows, cols)),
                                num.dense(layer.rl_state_to_state,
                                          neighbours(self.rl_h[k].at(rows - 1, cols), self.rl_h[k].at(rows, cols + 1))))
                lstm_step(num, gates, self.rl_bias[k], self.rl_c[k].at(rows, cols + 1), self.rl_h[k], self.rl_c[k], rows, cols)

    def begin_step(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        super().begin_step(image, rows, cols)
        if int(cols[0]) == 0 and int(rows[0]) > 0:      # a row starts: the one above is complete
            self.right_to_left(int(rows[0]) - 1)

    def logits(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, c: int,
               head: bool = True) -> torch.Tensor | None:
        num, model = self.num, self.model
        x, s = self.begin(image, rows, cols)                                # (N, C), (N, 2h)
        for k, layer in enumerate(model.layers):
            self.stream[k].write(rows, cols, s)
            gates = num.add(num.dense(layer.input_to_state, s),
                            num.dense(layer.state_to_state,
                                      neighbours(self.lr_h[k].at(rows - 1, cols), self.lr_h[k].at(rows, cols - 1))))
            h = lstm_step(num, gates, self.lr_bias[k], self.lr_c[k].at(rows, cols - 1), self.lr_h[k], self.lr_c[k],
                          rows, cols)                                                   # (N, h)
            s = num.add(s, num.dense(layer.out, num.add(h, self.rl_h[k].at(rows - 1, cols))))
        return self.head(s, c, x) if head else None                             # (N, 256)


@register("diagonal_bilstm")
class DiagonalBiLSTM(RecurrentPixelModel):
    State, Layer, gate_blocks = DiagonalState, DiagonalLayer, 2
