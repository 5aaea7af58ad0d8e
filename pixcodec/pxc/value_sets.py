"""The sections that restrict which values a subpixel may take: value sets and palettes.

- **Value sets**: per coded channel, the values that occur in the image (32 bytes a channel,
  one bit a value). A symbol is coded among its channel's values only: the model's weights
  for them, renormalised, never more bits per symbol.
- **Palette**: an RGB image's colours, ascending, as a joint value set: R among the palette's
  reds, G among the greens that occur with the pixel's red, B among the blues that occur with
  its red and green (often one: not coded).

Both give each channel pass its ``Options``; both sides build them from the same decoded
pixels, so the restriction is exact.
"""
from __future__ import annotations

import functools
import struct
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..errors import PixcodecError
from .sections import FLAG_GRAY, FLAG_PALETTE, FLAG_VALUES, Section

if TYPE_CHECKING:
    import torch

VALUE_SET_BYTES = 32           # a channel's value set in the header: one bit per value


class Options(NamedTuple):
    """What one engine step's channel may take: each row's coded symbols are indices into its
    options."""
    values: torch.Tensor         # (K,) for every row alike, or (N, K) per row (padded)
    valid: torch.Tensor | None   # (N, K) 1.0 for a real option, 0.0 for padding; None: all real
    index_of: torch.Tensor       # (256,) or (N, 256): value -> option index

    def weights(self, weights: torch.Tensor) -> torch.Tensor:
        """(N, 256) exact weights -> (N, K): only selections and products by 0 or 1."""
        if self.valid is None:
            return weights.index_select(1, self.values)
        return weights.gather(1, self.values) * self.valid

    def mass(self, weights: torch.Tensor) -> torch.Tensor:
        """(N, 256) exact weights -> (N,) their sums over the options. Sums of at most 256 integer
        weights below 2^40 are exact in float64 in any order, so a product with a 0/1 mask gives
        the same sums as ``weights(...).sum(1)``, several times faster than a column gather."""
        if self.valid is None:
            import torch
            return weights.mv(torch.zeros(256, dtype=weights.dtype).index_fill_(0, self.values, 1.0))
        return self.weights(weights).sum(1)

    def masked(self, weights: torch.Tensor) -> torch.Tensor:
        """(N, 256) exact weights -> (N, 256), zero outside each row's options (padding adds 0)."""
        import torch
        if self.valid is None:
            return weights * torch.zeros(256, dtype=weights.dtype).index_fill_(0, self.values, 1.0)
        return torch.zeros_like(weights).scatter_add_(1, self.values, self.weights(weights))

    def index(self, symbols: torch.Tensor) -> torch.Tensor:
        if self.index_of.dim() == 1:
            return self.index_of[symbols]
        return self.index_of.gather(1, symbols[:, None])[:, 0]

    def value(self, indices: torch.Tensor) -> torch.Tensor:
        import torch
        if self.values.dim() == 1:
            return self.values[indices].to(torch.uint8)
        return self.values.gather(1, indices[:, None].long())[:, 0].to(torch.uint8)


class PaletteTables(NamedTuple):
    slot: list          # per channel: (65536,) context key -> row, -1 for none
    options: list       # (rows, width) values, padded
    valid: list         # (rows, width) 1.0 for a real option
    index_of: list      # (rows, 256) value -> option index
    width: list         # the widest row


class ValueSets(Section):
    flag, key, title = FLAG_VALUES, "values", "value sets"

    def __init__(self, per_channel: tuple[tuple[int, ...], ...]):
        self.per_channel = per_channel

    @functools.cached_property
    def options(self) -> list[Options]:
        import torch
        options = []
        for v in self.per_channel:
            col = torch.tensor(v, dtype=torch.long)
            index_of = torch.zeros(256, dtype=torch.long).index_copy_(0, col, torch.arange(len(col)))
            options.append(Options(col, None, index_of))
        return options

    @classmethod
    def of(cls, image: torch.Tensor) -> "ValueSets":
        """The values each channel of a (C, H, W) image uses."""
        return cls(tuple(tuple(ch.unique().tolist()) for ch in image))

    @classmethod
    def read(cls, reader, frame):
        bits = np.unpackbits(np.frombuffer(reader.take(VALUE_SET_BYTES * frame.coded_channels), np.uint8),
                             bitorder="little")
        return cls(tuple(tuple(np.flatnonzero(row).tolist()) for row in bits.reshape(frame.coded_channels, 256)))

    def write(self, frame):
        if len(self.per_channel) != frame.coded_channels:
            raise ValueError("a value set per coded channel")
        bits = np.zeros((len(self.per_channel), 256), dtype=bool)
        for c, values in enumerate(self.per_channel):
            bits[c, list(values)] = True
        return np.packbits(bits, axis=1, bitorder="little").tobytes()

    def size(self, frame):
        return VALUE_SET_BYTES * len(self.per_channel)

    def check(self, frame):
        if not all(self.per_channel):
            raise PixcodecError("corrupt .pxc header: a channel with no values")

    def known(self, ch: int) -> bool:
        return len(self.per_channel[ch]) == 1

    def at(self, ch: int, earlier: list[torch.Tensor]) -> Options:
        return self.options[ch]

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"value_set_sizes": None if section is None else [len(v) for v in section.per_channel]}


class Palette(Section):
    """Channel ch's options depend on the pixel's channels before it: its context key is 0 for
    R, R for G and 256 R + G for B. Per channel, ``slot`` maps a key to a row of ``options``
    (padded to the widest row), ``valid`` marks real options and ``index_of`` maps values back."""
    flag, key, title = FLAG_PALETTE, "palette", "palette"

    def __init__(self, colors: tuple[tuple[int, int, int], ...]):
        self.colors = colors

    @functools.cached_property
    def tables(self) -> "PaletteTables":
        """Per channel: slot, options, valid, index_of, width (the class docstring)."""
        import torch
        c = torch.tensor(self.colors, dtype=torch.long).view(-1, 3)
        keys = [torch.zeros(len(c), dtype=torch.long), c[:, 0], c[:, 0] * 256 + c[:, 1]]
        slots, all_options, valids, index_ofs, widths = [], [], [], [], []
        for ch in range(3):
            pairs = torch.unique(torch.stack([keys[ch], c[:, ch]], 1), dim=0)       # (m, 2) sorted (key, value)
            contexts, counts = torch.unique_consecutive(pairs[:, 0], return_counts=True)
            slot = torch.full((1 << 16,), -1, dtype=torch.long)
            slot[contexts] = torch.arange(len(contexts))
            row = slot[pairs[:, 0]]
            rank = torch.arange(len(pairs)) - (counts.cumsum(0) - counts).repeat_interleave(counts)
            width = int(counts.max())
            options = torch.zeros(len(contexts), width, dtype=torch.long)
            options[row, rank] = pairs[:, 1]
            valid = torch.zeros(len(contexts), width, dtype=torch.float64)
            valid[row, rank] = 1.0
            index_of = torch.zeros(len(contexts), 256, dtype=torch.long)
            index_of[row, pairs[:, 1]] = rank
            slots.append(slot), all_options.append(options), valids.append(valid)
            index_ofs.append(index_of), widths.append(width)
        return PaletteTables(slots, all_options, valids, index_ofs, widths)

    @classmethod
    def of(cls, image: torch.Tensor, limit: int) -> "Palette | None":
        """The palette of a (3, H, W) image with at most ``limit`` colours, else None."""
        if image.shape[0] != 3:
            return None
        key = (image[0].long() << 16 | image[1].long() << 8 | image[2].long()).flatten().unique()
        if len(key) > limit:
            return None
        return cls(tuple((k >> 16, k >> 8 & 255, k & 255) for k in key.tolist()))

    @staticmethod
    def valid_colors(colors) -> bool:
        return 0 < len(colors) < 1 << 16 and all(a < b for a, b in zip(colors, colors[1:]))

    @classmethod
    def allowed(cls, mode, flags):
        return mode == "RGB" and not flags & (FLAG_GRAY | FLAG_VALUES)

    @classmethod
    def read(cls, reader, frame):
        count = reader.u16()
        raw = reader.take(3 * count)
        colors = tuple(tuple(raw[k:k + 3]) for k in range(0, len(raw), 3))
        if not cls.valid_colors(colors):
            raise PixcodecError("corrupt .pxc header: a palette that is empty, unsorted or repeats a colour")
        return cls(colors)

    def write(self, frame):
        if not self.valid_colors(self.colors):
            raise ValueError("a palette: 1 to 65535 distinct RGB colours, ascending")
        return struct.pack("<H", len(self.colors)) + bytes(v for color in self.colors for v in color)

    def size(self, frame):
        return 2 + 3 * len(self.colors)

    def known(self, ch: int) -> bool:
        return self.tables.width[ch] == 1

    def at(self, ch: int, earlier: list[torch.Tensor]) -> Options:
        """earlier: the step's symbols (N,) long of channels 0..ch-1. A corrupt stream may decode
        a padding option, whose key has no row: slot -1 reads the last row, and the pixel
        checksum refuses the image."""
        slot, options, valid, index_of, _ = self.tables
        key = earlier[0] * 256 + earlier[1] if ch == 2 else earlier[0] if ch == 1 else None
        if key is None:
            return Options(options[0][0], None, index_of[0][0])
        rows = slot[ch][key]
        return Options(options[ch][rows], valid[ch][rows], index_of[ch][rows])

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"palette_colors": None if section is None else len(section.colors)}
