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
from .container import MAX_PIXELS, MAX_SIDE, MAX_TILES, Header, parse, stored_tiles, tile_count, tiling_plan
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
    stored_tiles: int = 0    # tiles kept raw because the model would spend more than 8 bits a subpixel
    latent_bits: float | None = None    # two-part files: the bits(z) share of nll_bits

    @property
    def bits_per_subpixel(self) -> float:
        return 8 * len(self.data) / self.subpixels


class Codec:
    """fallback: store a tile raw when the model would spend more than 8 bits a subpixel on it, so
    no image grows past its raw size (plus the header); off, every tile goes through the model.
    value_sets: code each channel among the values that occur in it, when that pays (off: the
    full 256 always, for streams whose header has no room for sets, like a two-part file's latent)."""

    def __init__(self, model: nn.Module, tile: int = DEFAULT_TILE, group: int = DEFAULT_GROUP,
                 fallback: bool = True, exact: ExactNumerics | None = None, value_sets: bool = True):
        """exact: arithmetic built over a module holding ``model`` and what computes its condition
        (the auto-encoder's decoder), so the model id covers both."""
        if not 1 <= tile < 1 << 16 or not 1 <= group < 1 << 16:
            raise PixcodecError("tile and group sizes must be between 1 and 65535")
        self.model = model.eval()
        self.exact = exact or ExactNumerics(model)
        self.id = model_id(model, self.exact)
        self.tile, self.group, self.fallback, self.value_sets = tile, group, fallback, value_sets

    def _gray_as_rgb(self, channels: int) -> bool:
        """An RGB model codes a gray image as R = G = B, coding only R: one model serves both."""
        return channels == 1 and self.model.in_channels == 3

    def _fits(self, channels: int) -> bool:
        return channels == self.model.in_channels or self._gray_as_rgb(channels)

    def rows(self, height: int, width: int) -> int:
        """Engine rows a compress or decompress of this size runs (for progress bars)."""
        return sum(tiles[0].height for tiles in tiling_plan(height, width, self.tile, self.group))

    def compress(self, image: torch.Tensor, mode: str | None = None, on_row=None) -> Compressed:
        """image: uint8 (C, H, W) with C = the model's channels; mode 'L', 'RGB' or '1'."""
        c, height, width = image.shape
        mode = mode or ("RGB" if c == 3 else "L")
        gray = mode == "RGB" and bool((image == image[:1]).all())     # R = G = B: code one channel
        if not self._fits(1 if gray else c):
            raise PixcodecError(f"the model codes {self.model.in_channels}-channel images, this one has {c}")
        if max(height, width) > MAX_SIDE or height * width > MAX_PIXELS:
            raise PixcodecError(f"a {width}x{height} image is beyond the format's limits "
                                f"({MAX_SIDE} a side, {MAX_PIXELS} pixels)")
        coded = image[:1] if gray else image
        streams, stored, values, nll = self.encode_pixels(coded, on_row)
        header = Header(mode, self.id, height, width, self.tile, self.group, pixel_crc(image),
                        [len(s) for s in streams], stored, values=values, gray=gray)
        return Compressed(header.pack() + b"".join(streams) + stored_bytes(coded, header), nll, image.numel(),
                          len(stored))

    def encode_pixels(self, image: torch.Tensor, on_row=None, cond: torch.Tensor | None = None):
        """(streams, stored tile indices, value sets, the model's NLL in bits) for image
        (C, H, W); cond is a (1, F, H, W) condition map over the whole image, cut per tile like the pixels.

        One pass codes every tile with the model's full distributions and measures what each tile
        costs and what value sets would save. A second pass, only when it pays, stores the tiles
        the model would spend 8 bits a subpixel or more on, and codes each channel's symbols
        among the values that occur in it (the distribution renormalised over them: never worse,
        much better on images with few levels), when that saves more than the sets' header bytes
        and at least ``VALUE_SET_GAIN`` of the bits: the second pass doubles the encoding time.
        With value sets the NLL is that of the renormalised distributions the streams code."""
        c, height, width = image.shape
        if tile_count(height, width, self.tile) > MAX_TILES:
            raise PixcodecError(f"{self.tile}x{self.tile} tiles cut a {width}x{height} image into more than "
                                f"{MAX_TILES} tiles: use larger tiles")
        sets = ValueSets.of(image) if self.value_sets else None
        streams, nll, tile_bits = self._encode(image, frozenset(), None, on_row, cond, measure=sets)
        stored = frozenset()
        if self.fallback:
            stored = frozenset(t.index for t, bits, _ in tile_bits if bits >= 8 * t.height * t.width * c)
        saving = sum(s for t, _, s in tile_bits if t.index not in stored)
        coded_bits = sum(bits for t, bits, _ in tile_bits if t.index not in stored)
        pays = saving > max(8 * VALUE_SET_BYTES * c, VALUE_SET_GAIN * coded_bits)
        values = sets if sets is not None and pays else None
        if stored or values:   # the streams change; stored tiles still count at the model's cost
            streams, coded_nll, _ = self._encode(image, stored, values, None, cond)
            if values:
                nll = coded_nll + sum(bits for t, bits, _ in tile_bits if t.index in stored)
        return streams, stored, values.values if values else (), nll

    def _encode(self, image: torch.Tensor, stored: frozenset, values: "ValueSets | None", on_row, cond,
                measure: "ValueSets | None" = None):
        """Streams of the tiles not stored, their total NLL in bits and (tile, bits, value-set
        saving in bits) per tile; ``values``: code among those values; ``measure``: what they would save."""
        c, height, width = image.shape
        streams, nll, tile_bits = [], 0.0, []
        for tiles in tiling_plan(height, width, self.tile, self.group, stored):
            x = torch.stack([image[:, t.rows, t.cols] for t in tiles])
            encoder = SymbolEncoder()
            bits = torch.zeros(len(tiles), dtype=torch.float64)
            saving = torch.zeros(len(tiles), dtype=torch.float64)

            def choose(logits, ch, rows, cols):
                weights, symbols = self.exact.probabilities(logits), x[:, ch, rows, cols].reshape(-1)
                coded = symbols.long()
                if values is not None:
                    if values.known(ch):       # one value: nothing to code
                        return symbols
                    weights, coded = values.restrict(weights, ch), values.index[ch][coded]
                encoder.encode(coded, weights)
                total = weights.sum(1)
                p = weights.gather(1, coded[:, None])[:, 0] / total
                bits.sub_(torch.log2(p).view(len(tiles), -1).sum(1))       # rows are batch-major
                if measure is not None:
                    saving.add_(torch.log2(total / (weights @ measure.mask[ch])).view(len(tiles), -1).sum(1))
                return symbols

            engine.run(self.model, self.exact, len(tiles), tiles[0].height, tiles[0].width, choose,
                       cond=cut(cond, tiles), on_row=on_row, coded=c)   # gray via an RGB model: G = B = R, not coded
            streams.append(encoder.finish())
            nll += float(bits.sum())
            tile_bits += zip(tiles, bits.tolist(), saving.tolist())
        return streams, nll, tile_bits

    def decompress(self, data: bytes, on_row=None) -> tuple[torch.Tensor, str]:
        """The exact pixels (uint8 (C, H, W)) and mode of a .pxc file made with this model."""
        header, streams, raw = parse(data)
        if header.latent:
            raise PixcodecError("this is a two-part file: decompress it with its auto-encoder checkpoint (-m)")
        if header.model_id != self.id:
            raise PixcodecError(f"this file was coded with another model (id {header.model_id.hex()}, "
                                f"this model is {self.id.hex()})")
        if not self._fits(header.coded_channels):
            raise PixcodecError(f"corrupt header: mode {header.mode} does not fit a "
                                f"{self.model.in_channels}-channel model")
        image = self.decode_pixels(header, streams, raw, on_row)
        if header.gray:
            image = image.expand(3, -1, -1).contiguous()
        if pixel_crc(image) != header.pixel_crc:
            raise PixcodecError("corrupt .pxc file: the decoded pixels fail their checksum")
        return image, header.mode

    def decode_pixels(self, header: Header, streams: list[bytes], raw: bytes, on_row=None,
                      cond: torch.Tensor | None = None) -> torch.Tensor:
        """The pixels of a parsed file's streams and stored tiles (``encode_pixels`` reversed)."""
        channels = header.coded_channels
        image = torch.zeros(channels, header.height, header.width, dtype=torch.uint8)
        plan = tiling_plan(header.height, header.width, header.tile, header.group, header.stored)
        values = ValueSets(header.values) if header.values else None
        for tiles, stream in zip(plan, streams):
            decoder = SymbolDecoder(stream)

            def choose(logits, ch, rows, cols):
                weights = self.exact.probabilities(logits)
                if values is None:
                    return decoder.decode(weights)
                if values.known(ch):
                    return values.table[ch].expand(len(weights))
                return values.table[ch][decoder.decode(values.restrict(weights, ch)).long()]

            out = engine.run(self.model, self.exact, len(tiles), tiles[0].height, tiles[0].width, choose,
                             cond=cut(cond, tiles), on_row=on_row, coded=channels)[:, :channels]
            for t, pixels in zip(tiles, out):
                image[:, t.rows, t.cols] = pixels
        offset = 0
        for t in stored_tiles(header):
            size = channels * t.height * t.width
            pixels = torch.frombuffer(bytearray(raw[offset:offset + size]), dtype=torch.uint8)
            image[:, t.rows, t.cols] = pixels.view(-1, t.height, t.width)
            offset += size
        return image


def cut(cond: torch.Tensor | None, tiles) -> torch.Tensor | None:
    """A whole image's (1, F, H, W) condition map as the batch of its tiles' windows."""
    if cond is None:
        return None
    return torch.cat([cond[:, :, t.rows, t.cols] for t in tiles])


VALUE_SET_BYTES = 32           # a channel's value set in the header: one bit per value
VALUE_SET_GAIN = 0.01          # photos using 230 of 256 values gain ~0.2 %: not worth a second pass


class ValueSets:
    """Per channel, the values an image uses, as the coder needs them."""

    def __init__(self, values: tuple[tuple[int, ...], ...]):
        self.values = values
        self.table = [torch.tensor(v, dtype=torch.uint8) for v in values]           # symbol index -> value
        self.columns = [torch.tensor(v, dtype=torch.long) for v in values]
        self.index = [torch.zeros(256, dtype=torch.long).index_copy_(0, col, torch.arange(len(col)))
                      for col in self.columns]                                      # value -> symbol index
        self.mask = [torch.zeros(256, dtype=torch.float64).index_fill_(0, col, 1.0) for col in self.columns]

    @classmethod
    def of(cls, image: torch.Tensor) -> "ValueSets":
        return cls(tuple(tuple(torch.unique(ch).tolist()) for ch in image))

    def known(self, ch: int) -> bool:
        return len(self.values[ch]) == 1

    def restrict(self, weights: torch.Tensor, ch: int) -> torch.Tensor:
        """(N, 256) weights -> (N, K) over channel ch's K values: exact, the same on both sides."""
        return weights.index_select(1, self.columns[ch])


def stored_bytes(image: torch.Tensor, header: Header) -> bytes:
    return b"".join(image[:, t.rows, t.cols].contiguous().numpy().tobytes()
                    for t in stored_tiles(header))

