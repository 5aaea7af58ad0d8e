"""What the encoder fits to each image, and the file carries: stored tiles, value sets, sharpness.

The model is fixed; an image is not like the average training crop. The encoder's first pass
codes every tile with the model's plain distributions and measures, per tile, what three
cheap adaptations would save; ``Measure.decide`` keeps those that pay for their header bytes
and for a second pass. The decoder just reads them from the header (FORMAT.md, version 4).

- **Stored tiles**: a tile the model would spend 8 bits a subpixel or more on goes raw.
- **Value sets**: a channel using few of the 256 values (palette-quantized, scanned or
  posterized images) is coded among those values, the distribution renormalised over them:
  never more bits per symbol.
- **Sharpness**: per tile and channel, every logit scaled by k/16 (a temperature), k chosen
  from ``CANDIDATES`` by the first pass on every ``MEASURE_EVERY``-th wavefront step. A photo
  model trained on one kind of photo is too sure on noisy tiles and too unsure on clean ones:
  on Set14 the best k per tile saves about 5 % of the bits.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .numerics import SHARPNESS_ONE

VALUE_SET_BYTES = 32           # a channel's value set in the header: one bit per value
GAIN = 0.01                    # what an adaptation must save to be worth a second pass
# k: logits times k/16, from a quarter to 16 times as sharp (flat synthetic areas want the top)
CANDIDATES = torch.tensor([4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 23, 26, 30, 36, 44, 54, 64, 80, 96, 128, 160, 200, 255])
PLAIN = int((CANDIDATES == SHARPNESS_ONE).nonzero())
MEASURE_EVERY = 8              # wavefront steps: sharpness costs are measured on one in eight


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


class Choices(NamedTuple):
    """What a file is coded with beyond the model; empty for a plain file."""
    stored: frozenset = frozenset()
    values: ValueSets | None = None
    sharpness: torch.Tensor | None = None         # (tiles, channels) long k, raster order

    def sharpness_bytes(self) -> bytes:
        return b"" if self.sharpness is None else bytes(self.sharpness.flatten().tolist())

    @classmethod
    def of_header(cls, header) -> "Choices":
        sharpness = (torch.tensor(list(header.sharpness), dtype=torch.long).view(-1, header.coded_channels)
                     if header.sharpness else None)
        return cls(header.stored, ValueSets(header.values) if header.values else None, sharpness)

    @property
    def second_pass(self) -> bool:
        return bool(self.stored) or self.values is not None or self.sharpness is not None


class Measure:
    """The first pass's bookkeeping, per tile in raster order."""

    def __init__(self, image: torch.Tensor, tiles: int, value_sets: bool, sharpness: bool):
        channels = image.shape[0]
        self.sets = ValueSets.of(image) if value_sets else None
        self.partial = [len(v) < 256 for v in self.sets.values] if self.sets else []   # a full set saves nothing
        self.set_saving = torch.zeros(tiles, dtype=torch.float64)
        self.costs = torch.zeros(tiles, channels, len(CANDIDATES), dtype=torch.float64) if sharpness else None
        self.taus = CANDIDATES.float() / SHARPNESS_ONE

    def add(self, index: torch.Tensor, ch: int, step: int, logits: torch.Tensor, weights: torch.Tensor,
            symbols: torch.Tensor) -> None:
        """One engine step's channel ch: logits and exact weights (N, 256), symbols (N,), N = tiles x P."""
        per_tile = lambda v: v.view(len(index), -1).sum(1)                       # noqa: E731 (batch-major rows)
        if self.sets is not None and self.partial[ch]:
            self.set_saving.index_add_(0, index, per_tile(torch.log2(weights.sum(1) / (weights @ self.sets.mask[ch]))))
        if self.costs is not None and step % MEASURE_EVERY == 0:
            s = (logits - logits.amax(1, keepdim=True)).float()[None] * self.taus[:, None, None]   # (T, N, 256)
            picked = s.gather(2, symbols.view(1, -1, 1).expand(len(self.taus), -1, 1))[..., 0]
            bits = (torch.logsumexp(s, 2) - picked).double() / math.log(2)                        # (T, N)
            self.costs[index, ch] += bits.view(len(self.taus), len(index), -1).sum(2).t()

    def decide(self, tile_bits: dict, subpixels: dict, fallback: bool) -> Choices:
        """tile_bits, subpixels: per tile index, the model's exact bits and the tile's subpixels."""
        stored = frozenset(k for k, bits in tile_bits.items() if fallback and bits >= 8 * subpixels[k])
        coded = torch.tensor([k for k in tile_bits if k not in stored], dtype=torch.long)
        channels = 1 if self.costs is None else self.costs.shape[1]
        budget = GAIN * sum(bits for k, bits in tile_bits.items() if k not in stored)
        values = None
        if self.sets is not None:
            saving = float(self.set_saving[coded].sum())
            if saving > max(8 * VALUE_SET_BYTES * len(self.sets.values), budget):
                values = self.sets
        sharpness = None
        if self.costs is not None and len(coded):
            best = self.costs.argmin(2)                                                        # (tiles, C)
            gain = MEASURE_EVERY * float((self.costs[:, :, PLAIN] - self.costs.amin(2))[coded].sum())
            if gain > max(8 * self.costs.shape[0] * channels, budget):
                sharpness = CANDIDATES[best]
                sharpness[list(stored)] = SHARPNESS_ONE
        return Choices(stored, values, sharpness)
