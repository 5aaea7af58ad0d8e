"""Row LSTM (van den Oord, Kalchbrenner, Kavukcuoglu, "Pixel Recurrent Neural Networks", 2016, 3.1).

The image is processed row by row; a whole row is computed at once::

    x (B, C, H, W) uint8, scaled to [-1, 1]
    7x7 conv, mask A, C -> 2h                                 the stream s
    layers x:
        gates_i = K_is * s[row i]  +  K_ss * h[row i-1]       (B, 4h, 1, W): i, f, o, g
        c_i = sigmoid(f) c_{i-1} + sigmoid(i) tanh(g)         the cell of the same column, row above
        h_i = sigmoid(o) tanh(c_i)                            (B, h, 1, W)
        s = s + 1x1 mask B (h)                                 the paper's residual, h -> 2h
    ReLU, 1x1, ReLU, 1x1 -> logits (B, 256, C, H, W)          (heads.py)

K_is is the masked 1x3 input-to-state conv over the current row (its right tap is
masked away, so it is a 1x2 over the left pixel and this one, mask B, channel-masked).
K_ss is the unmasked 1x3 state-to-state conv over the row above: every value there is
already known. So the receptive field is a triangle widening by one column per row
upwards, plus the row's left context through the stream::

    . . 1 1 1 1 1 1 1 . .        row i-2 (1x3 of 1x3, plus the 7x7 input's reach)
    . . . 1 1 1 1 1 . . .        row i-1
    1 1 1 1 1 x                  row i: everything to the left (through the stream)

(schematic: the exact widths depend on the depth and the 7x7 input). A pixel far to
the right in the row above lies outside it; ``diagonal_bilstm`` sees it.

Decoding keeps each layer's h and c of the row above: a new pixel costs one cell per
layer. The 7x7 input reads 3 columns right in the row above, so the wavefront skew is 4.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..exact.convs import PaddedConv2d
from ..exact.numerics import FLOAT
from .lstm import RecurrentPixelModel, RecurrentState, lstm_step, lstm_update
from .masked import row_conv
from .registry import register


class RowLSTMLayer(nn.Module):
    def __init__(self, groups: torch.Tensor, state_groups: torch.Tensor):
        super().__init__()
        h = len(state_groups)
        self.input_to_state = row_conv(groups, state_groups.repeat(4), 3, "B")     # (i, j-1), (i, j)
        self.state_to_state = PaddedConv2d(h, 4 * h, (1, 3), (1, 1, 0, 0))        # (i-1, j-1..j+1)
        self.out = row_conv(state_groups, groups, 1, "B")                        # h -> 2h

    def forward(self, s: torch.Tensor, bias: torch.Tensor | None, num=FLOAT) -> torch.Tensor:
        b, _, height, width = s.shape
        gates_in = num.conv(self.input_to_state, s)                             # (B, 4h, H, W)
        h = c = torch.zeros(b, gates_in.shape[1] // 4, 1, width, dtype=gates_in.dtype)   # row -1
        rows = []
        for i in range(height):
            # the same additions in the same order as the decoder's: clamping makes order matter
            gates = num.add(gates_in[:, :, i:i + 1], num.conv(self.state_to_state, h))    # (B, 4h, 1, W)
            if bias is not None:
                r = min(i, bias.shape[2] - 1)
                gates = num.add(gates, bias[:, :, r:r + 1])
            h, c = lstm_update(num, gates, c)                                   # (B, h, 1, W) each
            rows.append(h)
        return num.add(s, num.conv(self.out, torch.cat(rows, 2)))               # (B, 2h, H, W)


class RowLSTMState(RecurrentState):
    """Each layer's stream, h and c kept as canvases; a step runs one cell per layer per pixel."""

    def __init__(self, model: RowLSTM, num, batch: int, height: int, width: int, cond):
        super().__init__(model, num, batch, height, width)
        self.skew = model.input.conv.kernel_size[1] // 2 + 1
        h = len(model.state_groups)
        self.stream = [self.canvas(len(model.groups), 1) for _ in model.layers]
        self.h = [self.canvas(h, 1) for _ in model.layers]
        self.c = [self.canvas(h, 1) for _ in model.layers]
        self.bias = model.biases(num, cond)

    def logits(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, c: int,
               head: bool = True) -> torch.Tensor | None:
        num, model = self.num, self.model
        x, s = self.begin(image, rows, cols)                                # (N, C), (N, 2h)
        up = rows - 1
        for k, layer in enumerate(model.layers):
            self.stream[k].write(rows, cols, s)
            gates = num.add(num.dense(layer.input_to_state, self.stream[k].windows(layer.input_to_state, rows, cols)),
                            num.dense(layer.state_to_state, self.h[k].windows(layer.state_to_state, up, cols)))
            # h and c are rewritten by every channel pass; final after the last
            h = lstm_step(num, gates, self.bias[k], self.c[k].at(up, cols), self.h[k], self.c[k], rows, cols)
            s = num.add(s, num.dense(layer.out, h))
        return self.head(s, c, x) if head else None                             # (N, 256)


@register("row_lstm")
class RowLSTM(RecurrentPixelModel):
    State, Layer, gate_blocks = RowLSTMState, RowLSTMLayer, 1
