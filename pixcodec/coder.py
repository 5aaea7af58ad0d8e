"""The entropy coder: constriction's range coder, fed one engine step (B symbols) at a time.

Probabilities arrive as exact unnormalised weights (numerics.ExactNumerics.probabilities),
identical on both sides, and constriction's ``Categorical(perfect=False)`` quantizes them
identically too; it also gives every symbol a nonzero probability, so any value can be coded.

A range decoder reads zeros past the end of its stream without complaint, so a forged file with
empty streams would decode for as long as its header claims. Once the decoder has read every
word, the information still in its state is bounded (two 32-bit words); ``SymbolDecoder`` adds
up what it decodes after that point and stops when that is far beyond what a real stream holds.
"""
from __future__ import annotations

import constriction
import numpy as np
import torch

from .errors import PixcodecError

_MODEL = constriction.stream.model.Categorical(perfect=False)
# Bits a decoder may decode after reading its last word: its state holds at most 64, and the
# float estimate below can differ a little from the coder's quantized probabilities.
AFTER_END_BITS = 256
MIN_PROBABILITY = 2.0 ** -24        # the coder gives every symbol at least this (24-bit precision)


class SymbolEncoder:
    def __init__(self):
        self._coder = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: torch.Tensor, weights: torch.Tensor) -> None:
        """symbols (N,) in 0..255, weights (N, 256) float64."""
        self._coder.encode(symbols.to(torch.int32).numpy(), _MODEL, weights.numpy())

    def finish(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    def __init__(self, payload: bytes):
        if len(payload) % 4:
            raise PixcodecError("corrupt payload: its length is not a whole number of 32-bit words")
        self._coder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
        self.after_end = 0.0            # bits decoded since the last word was read

    def decode(self, weights: torch.Tensor) -> torch.Tensor:
        """weights (N, K) float64 -> symbols (N,) uint8 (indices into the K weights)."""
        ended = self._coder.maybe_exhausted()          # before this call: its symbols are all past the end
        try:
            symbols = self._coder.decode(_MODEL, weights.numpy())
        except Exception as e:  # constriction reports exhausted or invalid data this way
            raise PixcodecError(f"corrupt payload: the range decoder failed ({e})") from None
        if ended:
            decoded = torch.from_numpy(symbols.astype(np.int64))
            p = weights.gather(1, decoded[:, None])[:, 0] / weights.sum(1)
            self.after_end -= float(torch.log2(p.clamp(min=MIN_PROBABILITY)).sum())
            if self.after_end > AFTER_END_BITS:
                raise PixcodecError("corrupt payload: a stream ended long before its symbols did "
                                    "(truncated or forged file)")
        return torch.from_numpy(symbols.astype(np.uint8))
