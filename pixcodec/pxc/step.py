"""The one coding rule: a channel pass's logits -> the distribution the range coder uses.

The encoder and the decoder both call ``CodingStep.distribution``, so they cannot disagree on
what a symbol's distribution is; ``encode`` and ``decode`` are each other's inverse around it.
Per lockstep group of tiles, the rule applies the file's side information in order:

1. the exact weights of the model's logits (numerics.ExactNumerics.probabilities), each
   tile's channel scaled by its sharpness byte when the file has them;
2. with online mixing, those weights mixed with what the file's coding has learned so far
   (online.MixState, shared by every part of every group, in coding order);
3. a value set or palette, if any, narrows them to that pixel's options (renormalised by the
   coder); a channel with one option in every context is not coded at all.

Then the range coder codes each symbol with its distribution; or, with context mixing, the
file's ``cm.Stage`` codes it as binary decisions, the distribution's integer weights (zero
outside the options) its strongest input, in the order the engine hands the symbols over.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .header import SideInfo
from .sections import Sharpness
from .value_sets import Options


class Distribution(NamedTuple):
    plain: torch.Tensor              # (N, 256) weights over every value (float64, the same on every machine)
    options: Options | None          # the values the pixels may take, None: any
    known: bool                      # one option: the symbol is not coded

    @property
    def weights(self) -> torch.Tensor:
        """What the coder codes with: (N, 256), or (N, K) over the options."""
        return self.plain if self.options is None else self.options.weights(self.plain)

    @property
    def masked(self) -> "np.ndarray":
        """The context-mixing stage's input: (N, 256) float64 integers, zero outside the options."""
        return (self.plain if self.options is None else self.options.masked(self.plain)).numpy()

    def index(self, symbols: torch.Tensor) -> torch.Tensor:
        """Values (N,) long -> the coder's symbols."""
        return symbols if self.options is None else self.options.index(symbols)

    def value(self, indices: torch.Tensor) -> torch.Tensor:
        """The coder's symbols -> values (N,) uint8."""
        return indices.to(torch.uint8) if self.options is None else self.options.value(indices)


class CodingStep:
    """The rule for one lockstep part of ``tiles``; online: the file's MixState or None; leads:
    the group's first part (its channel 0 starts a step). With context mixing (``side.mixing``) the
    coder handed to encode and decode is the file's ``cm.Stage``."""

    def __init__(self, side: SideInfo, exact, tiles: list, online=None, leads: bool = False):
        self.exact = exact
        self.online, self.leads, self.context = online, leads, None
        self.mixing = side.mixing is not None
        self.restriction = side.restriction
        self.index = torch.tensor([t.index for t in tiles])       # (tiles,) raster indices
        self.tile_k = None if side.sharpness is None else side.sharpness.of_tiles(self.index)    # (tiles, C), once
        self.origins = np.array([(t.top, t.left) for t in tiles], np.int64).reshape(-1, 2)
        self.earlier: list[torch.Tensor] = []      # this step's values (N,) long per channel so far

    def positions(self, ch: int, rows: torch.Tensor, cols: torch.Tensor):
        """(ys, xs, cs) in the image of a channel pass's symbols: tile-major, as the engine's rows."""
        ys = (self.origins[:, :1] + rows.numpy()[None]).ravel()
        xs = (self.origins[:, 1:] + cols.numpy()[None]).ravel()
        return ys, xs, np.full(len(ys), ch, np.int64)

    def distribution(self, logits: torch.Tensor, ch: int, pixels: int) -> Distribution:
        """logits (N, 256) of channel ch at an engine step of ``pixels`` positions per tile."""
        k = None if self.tile_k is None else Sharpness.rows(self.tile_k, ch, pixels)
        plain = self.exact.probabilities(logits, k)
        if self.online is not None:
            if self.leads and ch == 0:       # a new wavefront step: the last one's symbols are known
                self.online.flush()
            plain, self.context = self.online.mix(plain, ch)
        if self.restriction is None:
            return Distribution(plain, None, False)
        return Distribution(plain, self.restriction.at(ch, self.earlier[:ch]), self.restriction.known(ch))

    def done(self, ch: int, values: torch.Tensor) -> None:
        """Channel ch's values (N,) of this step: the contexts of later channels' options."""
        self.earlier[ch:] = [values.long()]
        if self.online is not None:
            self.online.observe(self.context, self.earlier[ch])

    def encode(self, encoder, logits: torch.Tensor, ch: int, rows: torch.Tensor, cols: torch.Tensor,
               values: torch.Tensor) -> tuple[Distribution, torch.Tensor | None]:
        """Code channel ch's values (N,) at the engine step's positions (rows, cols); the
        distribution, and what each value cost in bits (N,) float64, or None when the channel is
        not coded."""
        dist = self.distribution(logits, ch, len(rows))
        self.done(ch, values)                  # the encoder's measure reads them too (adapt.Measure)
        if self.mixing:                        # a known channel still goes in: later contexts read it
            costs = encoder.encode(*self.positions(ch, rows, cols), dist.masked, values.numpy())
            return dist, None if dist.known else torch.from_numpy(costs)
        if dist.known:
            return dist, None
        coded, weights = dist.index(values.long()), dist.weights
        encoder.encode(coded, weights)
        return dist, -torch.log2(weights.gather(1, coded[:, None])[:, 0] / weights.sum(1))

    def decode(self, decoder, logits: torch.Tensor, ch: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """The values (N,) uint8 that ``encode`` coded."""
        dist = self.distribution(logits, ch, len(rows))
        if self.mixing:
            values = torch.from_numpy(decoder.decode(*self.positions(ch, rows, cols), dist.masked))
            if self.restriction is not None:
                self.done(ch, values)
            return values
        if self.restriction is None:
            values = decoder.decode(dist.plain)
            if self.online is not None:      # otherwise no later channel needs this one's values
                self.done(ch, values)
            return values
        if dist.known:
            values = dist.value(torch.zeros(len(dist.plain), dtype=torch.long))
        else:
            values = dist.value(decoder.decode(dist.weights).long())
        self.done(ch, values)
        return values
