"""What the two PixelRNN models share: the LSTM cell update and their layer plumbing.

Both keep the paper's residual layout (section 3.4): a stream of ``hidden`` (2h)
features; each layer's input-to-state component turns it into the 4h gate
pre-activations i, f, o, g; the recurrence adds its state-to-state part; the h
state features go back up to 2h through a 1x1 mask B convolution and are added
to the stream. Gates and states are split into R, G and B groups like every
feature map here (``masked.py``), and the cell update is elementwise, so group c
of a state never reads a later group of the current pixel.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..exact.engine import Canvas, pixel_inputs, pixel_rows
from ..exact.numerics import FLOAT
from .gated_pixelcnn import cond_map
from .heads import LogitsHead, check_image
from .masked import channel_groups, raster_conv
from .registry import PixelModel


def lstm_update(num, gates: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """gates (N, 4h, ...) ordered i, f, o, g and the previous cell (N, h, ...) -> (h, c)."""
    i, f, o, g = gates.chunk(4, dim=1)
    c = num.add(num.mul(num.sigmoid(f), c_prev), num.mul(num.sigmoid(i), num.tanh(g)))
    return num.mul(num.sigmoid(o), num.tanh(c)), c


def lstm_step(num, gates: torch.Tensor, bias, c_prev: torch.Tensor, h_canvas, c_canvas, rows, cols) -> torch.Tensor:
    """The decoder's LSTM update at pixels (rows, cols): the gates plus the condition's bias
    there (``bias``: a map, or None), the new state and cell written to their canvases -> h (N, h)."""
    if bias is not None:
        gates = num.add(gates, pixel_rows(bias, rows, cols))
    h, c = lstm_update(num, gates, c_prev)
    h_canvas.write(rows, cols, h)
    c_canvas.write(rows, cols, c)
    return h


class RecurrentState:
    """What both PixelRNN decoding states do around their layers: the input canvas and 7x7
    mask-A conv, the head's median prediction once per pixel, the head, the finished pixels."""

    def __init__(self, model: "RecurrentPixelModel", num, batch: int, height: int, width: int):
        self.model, self.num, self.width = model, num, width
        self.batch, self.height = batch, height
        self.image = self.canvas(model.in_channels, model.input.conv.kernel_size[0] // 2)

    def canvas(self, channels: int, margin: int) -> Canvas:
        return Canvas(self.batch, channels, self.height, self.width, margin)   # exact values fit float32

    def begin_step(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """The head's prediction reads finished pixels only: the same for every channel pass."""
        self.predicted = self.model.head.predictions(self.num, image, rows, cols)

    def begin(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor):
        """This channel pass's pixel inputs x (N, C) and the stream entering layer 0 (N, 2h)."""
        num, model = self.num, self.model
        x = pixel_inputs(num, image, rows, cols)
        self.image.write(rows, cols, x)                                        # later channels: masked out
        return x, num.dense(model.input, self.image.windows(model.input, rows, cols))

    def head(self, s: torch.Tensor, c: int, x: torch.Tensor) -> torch.Tensor:
        return self.model.head.at_pixel(s, c, self.num, None if self.predicted is None else (self.predicted, x))

    def pixels_done(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        self.image.write(rows, cols, pixel_inputs(self.num, image, rows, cols))


class RecurrentPixelModel(PixelModel):
    """The shell both PixelRNN models share: 7x7 mask A in, layers, the logits head out.

    A model names ``Layer``, built as ``Layer(groups, state_groups)`` and called as
    ``layer(stream, bias, num) -> stream``; ``gate_blocks``, how many 4h gate sets a layer's
    conditioning bias feeds (one per direction); and ``State``, its decoding state's class.
    """
    Layer: type
    gate_blocks: int

    def __init__(self, in_channels: int, hidden: int = 256, layers: int = 12, out_hidden: int = 256,
                 cond_channels: int = 0, head: str = "softmax"):
        super().__init__(in_channels, dict(hidden=hidden, layers=layers, out_hidden=out_hidden,
                                           cond_channels=cond_channels, head=head))
        if hidden < 2 * in_channels or layers < 1 or out_hidden < in_channels or cond_channels < 0:
            raise ValueError("need hidden >= 2*channels, layers >= 1, out_hidden >= channels and cond_channels >= 0")
        self.groups = channel_groups(hidden, in_channels)                # the 2h stream
        self.state_groups = channel_groups(hidden // 2, in_channels)     # the h state
        self.cond_channels = cond_channels
        self.input = raster_conv(torch.arange(in_channels), self.groups, 7, "A")
        self.head = LogitsHead(self.groups, out_hidden, in_channels, head)
        self.layers = nn.ModuleList(self.Layer(self.groups, self.state_groups) for _ in range(layers))
        self.cond = self.cond_convs(layers, self.gate_blocks)
        self.context_rows = None     # both see every row above: no band bound

    def cond_convs(self, count: int, gate_blocks: int) -> nn.ModuleList | None:
        """One bias-free 1x1 conv per layer from the condition to its gates (the paper's V h):
        a class or embedding vector gives a bias the same everywhere, a spatial map one per pixel."""
        if not self.cond_channels:
            return None
        h = len(self.state_groups)
        return nn.ModuleList(nn.Conv2d(self.cond_channels, gate_blocks * 4 * h, 1, bias=False) for _ in range(count))

    def biases(self, num, cond: torch.Tensor | None) -> list[torch.Tensor | None]:
        """Each layer's conditioning bias map (B, gates, H|1, W|1), or None per layer."""
        if cond is None:
            return [None] * len(self.layers)
        if self.cond is None:
            raise ValueError("this model was built without conditioning (cond_channels=0)")
        cond = cond_map(num, cond)
        return [num.conv(conv, cond) for conv in self.cond]

    def incremental(self, num, batch: int, height: int, width: int, cond=None):
        return self.State(self, num, batch, height, width, cond)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, num=FLOAT,
                nats: bool = False) -> torch.Tensor:
        """``num`` picks the arithmetic: float for training, exact for coding (numerics.py);
        nats=True gives -ln p(x) per subpixel (B, C, H, W) instead of logits (heads.py)."""
        s = num.conv(self.input, num.input(check_image(x)))    # (B, 2h, H, W)
        for layer, bias in zip(self.layers, self.biases(num, cond)):
            s = layer(s, bias, num)                             # (B, 2h, H, W)
        return self.head(s, num, x, nats)   # (B, 256, C, H, W) logits or (B, C, H, W) nats
