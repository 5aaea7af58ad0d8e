"""The stage as the codec drives it: the encoder and the decoder hand it the same subpixels in
the same order, a call at a time, each with the network's 256 integer weights (float64).

One ``Stage`` serves a whole file: what it learns carries across the file's streams, and each
stream has its own binary coder (``start`` ... ``finish``)."""
from __future__ import annotations

import numpy as np

from ..errors import PixcodecError
from . import coder
from .model import State, code, fresh_zeros

# The coder writes at most 4 bytes a decision (a collapsed interval flushes all of low), and a
# subpixel is at most 8 decisions
BYTES_PER_SUBPIXEL = 32


def lockstep_order(shape: tuple[int, int, int], tile: int):
    """A lockstep decoding order as steps of (ys, xs, cs): each position of a tile in raster
    order, each channel, every tile at that position at once (the codec's engine walks a
    tile's positions in wavefront steps instead; the stage takes either)."""
    height, width, channels = shape
    for ly in range(min(tile, height)):
        for lx in range(min(tile, width)):
            ys, xs = np.meshgrid(np.arange(ly, height, tile), np.arange(lx, width, tile), indexing="ij")
            ys, xs = ys.ravel(), xs.ravel()
            for c in range(channels):
                yield ys, xs, np.full(len(ys), c)


class Stage:
    """One image's stage, for an image of ``shape`` (H, W, C) in tiles of ``tile``: contexts
    read only samples of the same tile. ``image`` holds the samples coded so far, on both sides.
    revision: which rules (a number of model.REVISIONS, or a ``Revision``); trace: room for that many decisions' probabilities (tests)."""

    def __init__(self, shape: tuple[int, int, int], tile: int, revision=1, trace: int = 0):
        height, width, channels = shape
        self.tile = tile
        self.state = State(channels, height * width * channels, revision)
        self.image = fresh_zeros(shape, np.uint8)        # pages commit as samples land
        self.trace = np.zeros(trace, np.int32)
        self.decisions = 0
        self.decoding, self.buf = None, None

    def start(self, data: bytes | None = None) -> "Stage":
        """Begin a stream: decoding ``data``, or encoding when it is None."""
        self.state.coder = coder.new_state()
        self.decoding = data is not None
        if self.decoding:
            self.buf = np.frombuffer(data, np.uint8).copy()
            coder.start_decoding(self.state.coder, self.buf)
        else:
            self.buf = np.zeros(1 << 12, np.uint8)
        return self

    def _code(self, ys, xs, cs, weights, values, costs) -> np.ndarray:
        ys, xs, cs = (np.ascontiguousarray(a, np.int64) for a in (ys, xs, cs))
        # integers held as float64, as the codec's weights are: exact below 2^53, and read as int64
        weights = np.ascontiguousarray(weights, np.float64)
        if len(weights) != len(ys) or weights.shape[1:] != (256,):
            raise ValueError("one row of 256 weights a subpixel")
        trace = self.trace[self.decisions:]
        self.decisions += code(self.image, ys, xs, cs, weights, values, costs, self.tile, self.decoding,
                               *self.state.arrays(), self.state.coder, self.buf, trace)
        return values

    def encode(self, ys, xs, cs, weights, values) -> np.ndarray:
        """Code ``values`` (N,) as the subpixels (ys, xs, cs) in this order, under ``weights``
        (N, 256); what each cost, in bits (N,) float64."""
        values = np.array(values, np.int64)
        if not (np.take_along_axis(np.asarray(weights), values[:, None], 1) > 0).all():
            raise PixcodecError("the network gave a coded value no weight")
        needed = int(self.state.coder[3]) + BYTES_PER_SUBPIXEL * len(values) + 8
        if needed > len(self.buf):
            self.buf = np.concatenate([self.buf, np.zeros(max(needed, 2 * len(self.buf)) - len(self.buf), np.uint8)])
        costs = np.zeros(len(values), np.int64)
        self._code(ys, xs, cs, weights, values, costs)
        return costs / 65536

    def decode(self, ys, xs, cs, weights) -> np.ndarray:
        """The values (N,) uint8 that ``encode`` coded at these subpixels with these weights.

        A real stream is never read past its end (the decoder reads the byte the encoder wrote
        at each shift, 4 ahead, and the encoder's last 4 bytes end it), so reading past it is
        corruption. Each decision costs at least 2^-12 of a byte, so a stream of n bytes stops
        a forged file within about 3,000·(n + 4) decisions, whatever its header claims."""
        values = self._code(ys, xs, cs, weights, np.zeros(len(ys), np.int64), np.zeros(len(ys), np.int64))
        if self.state.coder[3] > len(self.buf):
            raise PixcodecError("corrupt payload: a stream ended before its symbols did (truncated or forged file)")
        return values.astype(np.uint8)

    def end(self) -> None:
        """After a stream's last symbol (decoder): every byte was read, or the stream is corrupt."""
        if self.state.coder[3] != len(self.buf):
            raise PixcodecError("corrupt payload: a stream holds bytes after its last symbol")

    def finish(self) -> bytes:
        """The stream's bytes (encoder)."""
        return self.buf[:coder.finish(self.state.coder, self.buf)].tobytes()
