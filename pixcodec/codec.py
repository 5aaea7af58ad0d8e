"""Lossless image coding with any registered model: ``Codec(model).compress`` / ``.decompress``.

The encoder runs the decoder's own incremental computation (engine.run), teacher-forced,
in exact arithmetic, so both sides see the same probabilities bit for bit whatever the
batching, thread count or machine. Tiles of one shape are coded in lockstep as one batch.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass

import torch
import torch.nn as nn

from . import engine
from .coder import SymbolDecoder, SymbolEncoder
from .container import MAX_PIXELS, MAX_SIDE, Header, parse, tiling_plan
from .errors import PixcodecError
from .numerics import ACT_BITS, EXP_BITS, ExactNumerics, exact_tables

DEFAULT_TILE = 64
DEFAULT_GROUP = 256


# Hyperparameters added after files existed, with the value that builds the earlier architecture.
# At that value they are left out of the id, so every earlier file keeps its model's id.
ADDED_LATER = {"head": "softmax"}


def model_id(model: nn.Module, exact: ExactNumerics) -> bytes:
    """16 bytes naming everything that decides the probabilities: architecture, weights, arithmetic."""
    hparams = {k: v for k, v in model.hparams.items() if k not in ADDED_LATER or v != ADDED_LATER[k]}
    h = hashlib.sha256()
    h.update(json.dumps({"model": model.registry_name, "channels": model.in_channels, "hparams": hparams,
                         "act_bits": ACT_BITS, "exp_bits": EXP_BITS}, sort_keys=True).encode())
    for w, b, pad in exact.quantized():
        h.update(w.numpy().tobytes() + b.numpy().tobytes() + bytes(pad))
    for name in sorted(exact_tables()):
        h.update(exact_tables()[name].numpy().tobytes())
    return h.digest()[:16]


def pixel_crc(image: torch.Tensor) -> int:
    return zlib.crc32(image.contiguous().numpy().tobytes())


@dataclass
class Compressed:
    data: bytes
    nll_bits: float          # what the exact model says the pixels cost
    subpixels: int

    @property
    def bits_per_subpixel(self) -> float:
        return 8 * len(self.data) / self.subpixels


class Codec:
    def __init__(self, model: nn.Module, tile: int = DEFAULT_TILE, group: int = DEFAULT_GROUP):
        if not 1 <= tile < 1 << 16 or not 1 <= group < 1 << 16:
            raise PixcodecError("tile and group sizes must be between 1 and 65535")
        self.model = model.eval()
        self.exact = ExactNumerics(model)
        self.id = model_id(model, self.exact)
        self.tile, self.group = tile, group

    def _gray_as_rgb(self, channels: int) -> bool:
        """An RGB model codes a gray image as R = G = B, coding only R: one model serves both."""
        return channels == 1 and self.model.in_channels == 3

    def rows(self, height: int, width: int) -> int:
        """Engine rows a compress or decompress of this size runs (for progress bars)."""
        return sum(tiles[0].height for tiles in tiling_plan(height, width, self.tile, self.group))

    def compress(self, image: torch.Tensor, mode: str | None = None, on_row=None) -> Compressed:
        """image: uint8 (C, H, W) with C = the model's channels; mode 'L', 'RGB' or '1'."""
        c, height, width = image.shape
        mode = mode or ("RGB" if c == 3 else "L")
        if c != self.model.in_channels and not self._gray_as_rgb(c):
            raise PixcodecError(f"the model codes {self.model.in_channels}-channel images, this one has {c}")
        if max(height, width) > MAX_SIDE or height * width > MAX_PIXELS:
            raise PixcodecError(f"a {width}x{height} image is beyond the format's limits "
                                f"({MAX_SIDE} a side, {MAX_PIXELS} pixels)")
        streams, nll = [], 0.0
        for tiles in tiling_plan(height, width, self.tile, self.group):
            x = torch.stack([image[:, t.top:t.top + t.height, t.left:t.left + t.width] for t in tiles])
            encoder = SymbolEncoder()

            def choose(logits, ch, rows, cols):
                nonlocal nll
                weights, symbols = self.exact.probabilities(logits), x[:, ch, rows, cols].reshape(-1)
                encoder.encode(symbols, weights)
                nll -= float(torch.log2(weights.gather(1, symbols.long()[:, None])[:, 0] / weights.sum(1)).sum())
                return symbols

            engine.run(self.model, self.exact, len(tiles), tiles[0].height, tiles[0].width, choose,
                       on_row=on_row, coded=c)        # gray through an RGB model: G = B = R, not coded
            streams.append(encoder.finish())
        header = Header(mode, self.id, height, width, self.tile, self.group, pixel_crc(image),
                        [len(s) for s in streams])
        return Compressed(header.pack() + b"".join(streams), nll, image.numel())

    def decompress(self, data: bytes, on_row=None) -> tuple[torch.Tensor, str]:
        """The exact pixels (uint8 (C, H, W)) and mode of a .pxc file made with this model."""
        header, streams = parse(data)
        if header.model_id != self.id:
            raise PixcodecError(f"this file was coded with another model (id {header.model_id.hex()}, "
                                f"this model is {self.id.hex()})")
        if header.channels != self.model.in_channels and not self._gray_as_rgb(header.channels):
            raise PixcodecError(f"corrupt header: mode {header.mode} does not fit a "
                                f"{self.model.in_channels}-channel model")
        image = torch.zeros(header.channels, header.height, header.width, dtype=torch.uint8)
        for tiles, stream in zip(tiling_plan(header.height, header.width, header.tile, header.group), streams):
            decoder = SymbolDecoder(stream)
            out = engine.run(self.model, self.exact, len(tiles), tiles[0].height, tiles[0].width,
                             lambda logits, ch, rows, cols: decoder.decode(self.exact.probabilities(logits)),
                             on_row=on_row, coded=header.channels)[:, :header.channels]
            for t, pixels in zip(tiles, out):
                image[:, t.top:t.top + t.height, t.left:t.left + t.width] = pixels
        if pixel_crc(image) != header.pixel_crc:
            raise PixcodecError("corrupt .pxc file: the decoded pixels fail their checksum")
        return image, header.mode

