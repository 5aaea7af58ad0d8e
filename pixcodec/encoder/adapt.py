"""What the encoder decides for each image: which tiles to store, value sets, palette, sharpness.

The model is fixed; an image is not like the average training crop. The encoder's first pass
codes every tile with the model's plain distributions and measures, per tile, what three
cheap adaptations would save; ``Measure.decide`` keeps those that pay for their header bytes
and for a second pass. What they mean, and how both sides code with them, is the format's
(``pxc/``); this module only decides.

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
import torch

from ..exact.numerics import SHARPNESS_ONE
from ..pxc import Palette, Sharpness, SideInfo, StoredTiles, ValueSets
from ..pxc.value_sets import VALUE_SET_BYTES
MAX_COLORS = 4096              # palettes the encoder tries (photos have far more colours)
GAIN = 0.01                    # what an adaptation must save to be worth a second pass
# k: logits times k/16, from a quarter to 16 times as sharp (flat synthetic areas want the top)
CANDIDATES = torch.tensor([4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 23, 26, 30, 36, 44, 54, 64, 80, 96, 128, 160, 200, 255])
PLAIN = int((CANDIDATES == SHARPNESS_ONE).nonzero())
MEASURE_EVERY = 8              # wavefront steps: sharpness costs are measured on one in eight
# A sample of a small image chooses sharpness badly (a 16x24 picture grew 13 %); all of it is cheap.
MEASURE_ALL = 3 * 128 * 128
EXP_FLOOR = -87.0              # exp's slow path starts below (see Measure.add)
CODER_BITS = 24                # constriction's Categorical precision (coder.py)


class Measure:
    """The first pass's bookkeeping, per tile in raster order."""

    def __init__(self, image: torch.Tensor, tiles: int, value_sets: bool, sharpness: bool, palette: bool):
        channels = image.shape[0]
        self.sets = ValueSets.of(image) if value_sets else None
        self.partial = [len(v) < 256 for v in self.sets.per_channel] if self.sets else []   # a full set saves nothing
        self.palette = Palette.of(image, MAX_COLORS) if palette else None
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
            # scaled logits in cache, where the whole (T, N, 256) at once took twice as long. Below
            # -87, float32's exp takes a slow path (40 times slower) to a result under 2^-126: at
            # -87 every term is still a normal float, and sums that include the term for 0 (1)
            # stay as they were
            z = torch.cat([(d[k:k + 64][None] * self.taus[:, None, None]).clamp_(min=EXP_FLOOR).exp_().sum(2)
                           for k in range(0, len(d), 64)], 1)
            # the coder gives every symbol at least 2^-24: a confidently wrong guess costs no more
            bits = ((z.log() - picked).double() / math.log(2)).clamp_(max=CODER_BITS)              # (T, N)
            self.costs[index, ch] += bits.view(len(self.taus), len(index), -1).sum(2).t()

    def decide(self, tile_bits: dict, subpixels: dict, fallback: bool) -> SideInfo:
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
        return SideInfo(stored=StoredTiles.of(len(self.set_saving), stored), values=values,
                        sharpness=None if sharpness is None else Sharpness(sharpness), palette=palette)

    def _adapt(self, tile_bits: dict, stored: frozenset):
        """(value sets, palette, sharpness, per-tile bits the sets save) that pay on the coded tiles."""
        coded = torch.tensor([k for k in tile_bits if k not in stored], dtype=torch.long)
        saved = torch.zeros(len(self.set_saving), dtype=torch.float64)
        budget = GAIN * sum(bits for k, bits in tile_bits.items() if k not in stored)
        values, palette, best = None, None, 0.0          # the one that saves the most, net of its bytes
        if self.sets is not None:
            saving, cost = float(self.set_saving[coded].sum()), 8 * VALUE_SET_BYTES * len(self.sets.per_channel)
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
