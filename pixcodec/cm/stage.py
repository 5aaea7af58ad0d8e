"""The stage as the codec drives it: the encoder and the decoder hand it the same subpixels in
the same order, a step at a time, each with the network's 256 integer weights."""
from __future__ import annotations

import numpy as np

from ..errors import PixcodecError
from . import coder
from .model import State, code


def lockstep_order(shape: tuple[int, int, int], tile: int):
    """The codec's decoding order as steps of (ys, xs, cs): each position of a tile in raster
    order, each channel, every tile at that position at once."""
    height, width, channels = shape
    for ly in range(min(tile, height)):
        for lx in range(min(tile, width)):
            ys, xs = np.meshgrid(np.arange(ly, height, tile), np.arange(lx, width, tile), indexing="ij")
            ys, xs = ys.ravel(), xs.ravel()
            for c in range(channels):
                yield ys, xs, np.full(len(ys), c)


class Stage:
    """One image's stage. ``pixels`` (H, W, C) uint8 to encode; None to decode ``data`` into a
    new image of ``shape``. ``tile``: contexts read only samples of the same tile."""

    def __init__(self, shape: tuple[int, int, int], tile: int, pixels: np.ndarray | None = None,
                 data: bytes | None = None, trace: int = 0):
        height, width, channels = shape
        self.tile, self.decoding = tile, pixels is None
        self.state = State(channels, height * width * channels)
        self.trace = np.zeros(trace, np.int32)
        self.decisions = 0
        if self.decoding:
            self.image = np.zeros(shape, np.uint8)
            self.buf = np.frombuffer(data, np.uint8).copy()      # one signature for both directions
            coder.start_decoding(self.state.coder, self.buf)
        else:
            self.image = np.ascontiguousarray(pixels, dtype=np.uint8)
            # 8 decisions a subpixel, none over 12 bits: 12 bytes, and the coder's 4 at the end
            self.buf = np.zeros(12 * height * width * channels + 16, np.uint8)

    def step(self, ys: np.ndarray, xs: np.ndarray, cs: np.ndarray, weights: np.ndarray) -> None:
        """Code (or decode into ``image``) these subpixels, in this order."""
        ys, xs, cs = (np.ascontiguousarray(a, np.int64) for a in (ys, xs, cs))
        weights = np.ascontiguousarray(weights, np.int64)
        if not self.decoding and not (weights[np.arange(len(ys)), self.image[ys, xs, cs]] > 0).all():
            raise PixcodecError("the network gave a coded value no weight")
        trace = self.trace[self.decisions:]
        self.decisions += code(self.image, ys, xs, cs, weights, self.tile, self.decoding, *self.state.arrays(),
                               self.state.coder, self.buf, trace)

    def finish(self) -> bytes:
        """The coded bytes (encoder)."""
        return self.buf[:coder.finish(self.state.coder, self.buf)].tobytes()
