"""What the encoder fits to each image, and the file carries: stored tiles, value sets, sharpness.

The model is fixed; an image is not like the average training crop. The encoder's first pass
codes every tile with the model's plain distributions and measures, per tile, what three
cheap adaptations would save; ``Measure.decide`` keeps those that pay for their header bytes
and for a second pass. The decoder just reads them from the header (FORMAT.md, version 4).

- **Stored tiles**: a tile the model would spend 8 bits a subpixel or more on goes raw.
- **Value sets**: a channel using few of the 256 values (scanned or posterized images) is
  coded among those values, the distribution renormalised over them: never more bits per symbol.
- **Palette**: an RGB image of few colours (palette-quantized) is coded as a joint value set: R
  among the palette's reds, G among the greens that occur with the pixel's red, B among the
  blues that occur with its red and green (often one: not coded). It renormalises over subsets
  of the value sets, so it never costs more bits per symbol than they do; the file lists the
  colours, 3 bytes each.
- **Sharpness**: per tile and channel, every logit scaled by k/16 (a temperature), k chosen
  from ``CANDIDATES`` by the first pass on every ``MEASURE_EVERY``-th wavefront step (every
  step of an image of at most ``MEASURE_ALL`` subpixels, where a sample is too small). A photo
  model trained on one kind of photo is too sure on noisy tiles and too unsure on clean ones:
  on Set14 the best k per tile saves about 5 % of the bits.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from .numerics import SHARPNESS_ONE

VALUE_SET_BYTES = 32           # a channel's value set in the header: one bit per value
MAX_COLORS = 4096              # palettes the encoder tries (photos have far more colours)
GAIN = 0.01                    # what an adaptation must save to be worth a second pass
# k: logits times k/16, from a quarter to 16 times as sharp (flat synthetic areas want the top)
CANDIDATES = torch.tensor([4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 23, 26, 30, 36, 44, 54, 64, 80, 96, 128, 160, 200, 255])
PLAIN = int((CANDIDATES == SHARPNESS_ONE).nonzero())
MEASURE_EVERY = 8              # wavefront steps: sharpness costs are measured on one in eight
# A sample of a small image chooses sharpness badly (a 16x24 picture grew 13 %); all of it is cheap.
MEASURE_ALL = 3 * 128 * 128
CODER_BITS = 24                # constriction's Categorical precision (coder.py)


class Options(NamedTuple):
    """What one engine step's channel ch may take: each row's coded symbols are indices into its
    options. Both sides build it from the same decoded pixels, so it is exact."""
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
            return weights.mv(torch.zeros(256, dtype=weights.dtype).index_fill_(0, self.values, 1.0))
        return self.weights(weights).sum(1)

    def index(self, symbols: torch.Tensor) -> torch.Tensor:
        if self.index_of.dim() == 1:
            return self.index_of[symbols]
        return self.index_of.gather(1, symbols[:, None])[:, 0]

    def value(self, indices: torch.Tensor) -> torch.Tensor:
        if self.values.dim() == 1:
            return self.values[indices].to(torch.uint8)
        return self.values.gather(1, indices[:, None].long())[:, 0].to(torch.uint8)


class ValueSets:
    """Per channel, the values an image uses, as the coder needs them."""

    def __init__(self, values: tuple[tuple[int, ...], ...]):
        self.values = values
        self.options = []
        for v in values:
            col = torch.tensor(v, dtype=torch.long)
            index_of = torch.zeros(256, dtype=torch.long).index_copy_(0, col, torch.arange(len(col)))
            self.options.append(Options(col, None, index_of))

    @classmethod
    def of(cls, image: torch.Tensor) -> "ValueSets":
        return cls(tuple(tuple(torch.unique(ch).tolist()) for ch in image))

    def known(self, ch: int) -> bool:
        return len(self.values[ch]) == 1

    def at(self, ch: int, earlier: list[torch.Tensor]) -> Options:
        return self.options[ch]


class Palette:
    """An RGB image's colours, sorted, as a joint value set (see the module's docstring).

    Channel ch's options depend on the pixel's channels before it: its context key is 0 for R,
    R for G and 256 R + G for B. Per channel, ``slot`` maps a key to a row of ``options``
    (padded to the widest row), ``valid`` marks real options and ``index_of`` maps values back."""

    def __init__(self, colors: tuple[tuple[int, int, int], ...]):
        self.colors = colors
        c = torch.tensor(colors, dtype=torch.long).view(-1, 3)
        keys = [torch.zeros(len(c), dtype=torch.long), c[:, 0], c[:, 0] * 256 + c[:, 1]]
        self.slot, self.options, self.valid, self.index_of, self.widths = [], [], [], [], []
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
            self.slot.append(slot), self.options.append(options), self.valid.append(valid)
            self.index_of.append(index_of), self.widths.append(width)

    @classmethod
    def of(cls, image: torch.Tensor) -> "Palette | None":
        """The palette of a (3, H, W) image with at most MAX_COLORS colours, else None."""
        if image.shape[0] != 3:
            return None
        key = (image[0].long() << 16 | image[1].long() << 8 | image[2].long()).flatten().unique()
        if len(key) > MAX_COLORS:
            return None
        return cls(tuple((k >> 16, k >> 8 & 255, k & 255) for k in key.tolist()))

    def known(self, ch: int) -> bool:
        return self.widths[ch] == 1

    def at(self, ch: int, earlier: list[torch.Tensor]) -> Options:
        """earlier: the step's symbols (N,) long of channels 0..ch-1. A corrupt stream may decode
        a padding option, whose key has no row: slot -1 reads the last row, and the pixel
        checksum refuses the image."""
        key = earlier[0] * 256 + earlier[1] if ch == 2 else earlier[0] if ch == 1 else None
        if key is None:
            return Options(self.options[0][0], None, self.index_of[0][0])
        rows = self.slot[ch][key]
        return Options(self.options[ch][rows], self.valid[ch][rows], self.index_of[ch][rows])


class Choices(NamedTuple):
    """What a file is coded with beyond the model; empty for a plain file."""
    stored: frozenset = frozenset()
    values: ValueSets | None = None
    sharpness: torch.Tensor | None = None         # (tiles, channels) long k, raster order
    palette: Palette | None = None                # never with value sets
    tuned: torch.Tensor | None = None             # int8 last-layer deltas (tune.py)

    @property
    def sets(self) -> "ValueSets | Palette | None":
        """What restricts the coded values, if anything."""
        return self.palette if self.palette is not None else self.values

    def sharpness_bytes(self) -> bytes:
        return b"" if self.sharpness is None else bytes(self.sharpness.flatten().tolist())

    @classmethod
    def of_header(cls, header) -> "Choices":
        sharpness = (torch.tensor(list(header.sharpness), dtype=torch.long).view(-1, header.coded_channels)
                     if header.sharpness else None)
        tuned = torch.from_numpy(np.frombuffer(header.tuned, np.int8).copy()) if header.tuned else None
        return cls(header.stored, ValueSets(header.values) if header.values else None, sharpness,
                   Palette(header.palette) if header.palette else None, tuned)

    @property
    def second_pass(self) -> bool:
        return bool(self.stored) or self.sets is not None or self.sharpness is not None


class Measure:
    """The first pass's bookkeeping, per tile in raster order."""

    def __init__(self, image: torch.Tensor, tiles: int, value_sets: bool, sharpness: bool, palette: bool):
        channels = image.shape[0]
        self.sets = ValueSets.of(image) if value_sets else None
        self.partial = [len(v) < 256 for v in self.sets.values] if self.sets else []   # a full set saves nothing
        self.palette = Palette.of(image) if palette else None
        self.set_saving = torch.zeros(tiles, dtype=torch.float64)
        self.palette_saving = torch.zeros(tiles, dtype=torch.float64)
        self.costs = torch.zeros(tiles, channels, len(CANDIDATES), dtype=torch.float64) if sharpness else None
        self.taus = CANDIDATES.float() / SHARPNESS_ONE
        self.every = 1 if image.numel() <= MEASURE_ALL else MEASURE_EVERY

    def add(self, index: torch.Tensor, ch: int, step: int, logits: torch.Tensor, weights: torch.Tensor,
            symbols: torch.Tensor, earlier: list[torch.Tensor]) -> None:
        """One engine step's channel ch: logits and exact weights (N, 256), symbols (N,), N = tiles x P;
        earlier: the step's symbols of channels 0..ch-1."""
        total = weights.sum(1)

        def count(saving, sets):     # bits that renormalising over sets' options saves, per tile (batch-major rows)
            kept = sets.at(ch, earlier).mass(weights)
            saving.index_add_(0, index, torch.log2(total / kept).view(len(index), -1).sum(1))
        if self.sets is not None and self.partial[ch]:
            count(self.set_saving, self.sets)
        if self.palette is not None:
            count(self.palette_saving, self.palette)
        if self.costs is not None and step % self.every == 0:
            d = (logits - logits.amax(1, keepdim=True)).float()                     # (N, 256), each row's max 0
            picked = d.gather(1, symbols.view(-1, 1)).view(1, -1) * self.taus[:, None]              # (T, N)
            # a row's max is 0, so log-sum-exp needs no shift; chunks of rows keep the (T, rows, 256)
            # scaled logits in cache, where the whole (T, N, 256) at once took twice as long
            z = torch.cat([torch.exp(d[k:k + 64][None] * self.taus[:, None, None]).sum(2) for k in range(0, len(d), 64)], 1)
            # the coder gives every symbol at least 2^-24: a confidently wrong guess costs no more
            bits = ((z.log() - picked).double() / math.log(2)).clamp_(max=CODER_BITS)              # (T, N)
            self.costs[index, ch] += bits.view(len(self.taus), len(index), -1).sum(2).t()

    def decide(self, tile_bits: dict, subpixels: dict, fallback: bool) -> Choices:
        """tile_bits, subpixels: per tile index, the model's exact bits and the tile's subpixels.

        A tile goes raw when the model would spend 8 bits a subpixel on it even with the value
        sets or palette that pay (their savings are exact; sharpness's, sampled, are not used):
        a palette takes a dithered tile far below 8 bits. Which pay depends on which tiles are
        coded, so the choice is made twice, from the plain costs and again."""
        def raw(saved):
            return frozenset(k for k, bits in tile_bits.items() if fallback and bits - saved[k] >= 8 * subpixels[k])
        stored = raw(torch.zeros(len(self.set_saving), dtype=torch.float64))
        values, palette, sharpness, saved = self._adapt(tile_bits, stored)
        values, palette, sharpness, saved = self._adapt(tile_bits, raw(saved))
        stored = raw(saved)
        if sharpness is not None:
            sharpness[list(stored)] = SHARPNESS_ONE
        return Choices(stored, values, sharpness, palette)

    def _adapt(self, tile_bits: dict, stored: frozenset):
        """(value sets, palette, sharpness, per-tile bits the sets save) that pay on the coded tiles."""
        coded = torch.tensor([k for k in tile_bits if k not in stored], dtype=torch.long)
        saved = torch.zeros(len(self.set_saving), dtype=torch.float64)
        budget = GAIN * sum(bits for k, bits in tile_bits.items() if k not in stored)
        values, palette, best = None, None, 0.0          # the one that saves the most, net of its bytes
        if self.sets is not None:
            saving, cost = float(self.set_saving[coded].sum()), 8 * VALUE_SET_BYTES * len(self.sets.values)
            if saving > max(cost, budget):
                values, best, saved = self.sets, saving - cost, self.set_saving
        if self.palette is not None:
            saving, cost = float(self.palette_saving[coded].sum()), 8 * (2 + 3 * len(self.palette.colors))
            if saving > max(cost, budget) and saving - cost > best:
                values, palette, saved = None, self.palette, self.palette_saving
        sharpness = None
        if self.costs is not None and len(coded):
            per_tile = self.every * (self.costs[:, :, PLAIN] - self.costs.amin(2)).sum(1)       # (tiles,)
            if float(per_tile[coded].sum()) > max(8 * self.costs.shape[0] * self.costs.shape[1], budget):
                sharpness = CANDIDATES[self.costs.argmin(2)]
        return values, palette, sharpness, saved
